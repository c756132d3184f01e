package token

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
)

// Official vector inputs (tokens.md).
const (
	vAppID   = "970CA35de60c44645bbae8a215061b33"
	vAppCert = "5CFd2fd1755d40ecb72977518be15d3b"
	vChannel = "7d72365eb983485397e3e3f9d460bdda"
	vUID     = "2882341273"
	vTs      = 1111111
)

var vectorTime = time.Unix(vTs+10, 0)

func TestBuild006Vectors(t *testing.T) {
	cases := []struct {
		name, uid, want string
	}{
		{"uid", vUID, "006970CA35de60c44645bbae8a215061b33IACV0fZUBw+72cVoL9eyGGh3Q6Poi8bgjwVLnyKSJyOXR7dIfRBXoFHlEAABAAAAR/QQAAEAAQCvKDdW"},
		{"uid0", "", "006970CA35de60c44645bbae8a215061b33IACw1o7htY6ISdNRtku3p9tjTPi0jCKf9t49UHJhzCmL6bdIfRAAAAAAEAABAAAAR/QQAAEAAQCvKDdW"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := &Token{AppID: vAppID, Salt: 1, Expire: vTs,
				Services: []Service{{Type: ServiceRTC, Privileges: []Privilege{{ID: 1, Expire: 1446455471}}}}}
			got, err := tok.Encode006(vAppCert, vChannel, c.uid)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("006 build:\n got %s\nwant %s", got, c.want)
			}
			p, err := Parse(c.want)
			if err != nil {
				t.Fatal(err)
			}
			// The vector's own expiry ("ts") is in 1970, before its join privilege.
			g, err := p.Verify(Claims{AppID: vAppID, AppCert: vAppCert, Channel: vChannel, UID: vUID}, time.Unix(vTs-10, 0))
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if g.Expires.Unix() != vTs {
				t.Fatalf("expires %v, want %d", g.Expires.Unix(), vTs)
			}
		})
	}
}

const vPayloadHex = "200016a0b84c5a5e82cbf74fb813d09f59c54bdac9c06120580539ac97578e958b1a2000393730434133356465363063343436343562626165386132313530363162333347f410005802000001000000010001000100010058020000200037643732333635656239383334383533393765336533663964343630626464610a0032383832333431323733"

func TestBuild007Payload(t *testing.T) {
	tok := &Token{AppID: vAppID, IssueTs: vTs, Expire: 600, Salt: 1,
		Services: []Service{{Type: ServiceRTC, Privileges: []Privilege{{ID: 1, Expire: 600}}, Channel: vChannel, UID: vUID}}}
	content, err := tok.Content007(vAppCert)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(content); got != vPayloadHex {
		t.Fatalf("payload:\n got %s\nwant %s", got, vPayloadHex)
	}
	if len(content) != 138 {
		t.Fatalf("payload %d bytes, want 138", len(content))
	}
	s, err := tok.Encode007(vAppCert)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	rtc, _ := p.RTC()
	if p.AppID != vAppID || p.IssueTs != vTs || p.Expire != 600 || p.Salt != 1 || rtc.Channel != vChannel || rtc.UID != vUID {
		t.Fatalf("round trip fields: %+v %+v", p, rtc)
	}
}

func TestOfficial007Vectors(t *testing.T) {
	cases := []struct {
		name, tok, uid string
		rtc            bool
	}{
		{"rtc-uid-a", "007eJxTYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxgDCaiTj", vUID, true},
		{"rtc-uid-go", "007eJxSYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxoAAAAD//8JqJOM=", vUID, true},
		{"rtc-uid0-a", "007eJxTYLhzZP08Lxa1Pg57+TcXb/3cZ3wi4V6kbpbOog0G2dOYk20UGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiQwMADacImo=", "", true},
		{"rtc-uid0-go", "007eJxSYLhzZP08Lxa1Pg57+TcXb/3cZ3wi4V6kbpbOog0G2dOYk20UGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiQwMgAAAAP//Npwiag==", "", true},
		{"rtm", "007eJxSYOCdJftjyTM2zxW6Xhm/5T0j5LdcUt/xYVt48fb5Mp3PX9coMFiaGzg7GpumpJoZJJuYmJmYJiUlplokGhmaGpgZJhkbu38RYIhgYmBgZABhJgZGBkYwn5OhJLW4JL60OLUIEAAA//9ZVh6A", "", false},
		{"rtc+rtm", "007eJxTYOAQsrQ5s3TfH+1tvy8zZZ46EpCc0V43JXdGd2jS8porKo4KDJbmBs6OxqYpqWYGySYmZiamSUmJqRaJRoamBmaGScbG7l8EGCKYGBgYGRgYmIAkCxCD+ExgkhlMsoBJBQbzFHMjYzPT1CRLC2MTC1NjS/NU41TjNMsUEzODpJSURC4GIwsLI2MTQyNzY5BZEJM4GUpSi0viS4tTiwAipyp4", vUID, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse(c.tok)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if p.AppID != vAppID || p.IssueTs != vTs || p.Expire != 600 || p.Salt != 1 {
				t.Fatalf("fields: %+v", p)
			}
			if !c.rtc {
				if len(p.Services) != 1 || p.Services[0].Type != ServiceRTM || p.Services[0].UID != "test_user" {
					t.Fatalf("rtm service: %+v", p.Services)
				}
				// Signature verifies even though it is not an RTC token.
				if _, err := p.Verify(Claims{AppID: vAppID, AppCert: vAppCert, Channel: vChannel, UID: vUID}, vectorTime); !errors.Is(err, errcode.InvalidKey("token has no RTC service")) {
					t.Fatalf("rtm-only token: got %v", err)
				}
				return
			}
			g, err := p.Verify(Claims{AppID: vAppID, AppCert: vAppCert, Channel: vChannel, UID: vUID}, vectorTime)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if g.UID != c.uid {
				t.Fatalf("uid %q want %q", g.UID, c.uid)
			}
			if g.Expires.Unix() != vTs+600 {
				t.Fatalf("expires %d", g.Expires.Unix())
			}
		})
	}
}

func TestVerifyFailures(t *testing.T) {
	issued := time.Unix(1_800_000_000, 0)
	appID := strings.Repeat("a1", 16)
	cert := strings.Repeat("c3", 16)
	claims := Claims{AppID: appID, AppCert: cert, Channel: "room-1", UID: "42"}
	build := func(version string, o RTCOptions) string {
		o.AppID, o.AppCert, o.IssuedAt = appID, cert, issued
		if o.Channel == "" {
			o.Channel = "room-1"
		}
		if o.Lifetime == 0 {
			o.Lifetime = 3600
		}
		var s string
		var err error
		if version == Version006 {
			s, err = BuildRTC006(o)
		} else {
			s, err = BuildRTC007(o)
		}
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, v := range []string{Version006, Version007} {
		good := build(v, RTCOptions{UID: "42", Role: RolePublisher})
		cases := []struct {
			name   string
			tok    string
			claims Claims
			now    time.Time
			want   *errcode.Error // nil = success
		}{
			{"ok", good, claims, issued.Add(time.Minute), nil},
			{"uid0-wildcard", build(v, RTCOptions{UID: "0"}), claims, issued, nil},
			{"account", build(v, RTCOptions{UID: "alice"}), Claims{AppID: appID, AppCert: cert, Channel: "room-1", UID: "alice"}, issued, nil},
			{"expired", good, claims, issued.Add(2 * time.Hour), errcode.KeyExpired(issued.Add(time.Hour))},
			{"wrong-cert", good, Claims{AppID: appID, AppCert: strings.Repeat("d4", 16), Channel: "room-1", UID: "42"}, issued, errcode.SignatureMismatch()},
			{"wrong-app", good, Claims{AppID: strings.Repeat("b2", 16), AppCert: cert, Channel: "room-1", UID: "42"}, issued, errcode.TokenAppMismatch()},
			{"wrong-channel", good, Claims{AppID: appID, AppCert: cert, Channel: "room-2", UID: "42"}, issued, errcode.TokenWrongChannel()},
			{"wrong-uid", good, Claims{AppID: appID, AppCert: cert, Channel: "room-1", UID: "43"}, issued, errcode.TokenWrongUID()},
			{"account-vs-uid", build(v, RTCOptions{UID: "alice"}), claims, issued, errcode.TokenWrongUID()},
			{"truncated", good[:len(good)/2], claims, issued, errcode.MalformedToken()},
			{"garbage", "hello", claims, issued, errcode.MalformedToken()},
			{"empty", "", claims, issued, errcode.MalformedToken()},
		}
		for _, c := range cases {
			t.Run(v+"/"+c.name, func(t *testing.T) {
				g, err := Check(c.tok, c.claims, c.now)
				if c.want == nil {
					if err != nil {
						t.Fatalf("unexpected error %v", err)
					}
					return
				}
				e, ok := errcode.As(err)
				if !ok {
					t.Fatalf("got %v (%+v), want %v", err, g, c.want)
				}
				if e.Code != c.want.Code || e.Message() != c.want.Message() {
					t.Fatalf("got %d %q, want %d %q", e.Code, e.Message(), c.want.Code, c.want.Message())
				}
			})
		}
	}
}

func TestPublishPrivilege(t *testing.T) {
	issued := time.Unix(1_800_000_000, 0)
	for _, v := range []string{Version006, Version007} {
		for _, role := range []Role{RolePublisher, RoleSubscriber} {
			o := RTCOptions{AppID: strings.Repeat("a1", 16), AppCert: strings.Repeat("c3", 16), Channel: "c", UID: "7", Role: role, IssuedAt: issued, Lifetime: 60}
			var s string
			var err error
			if v == Version006 {
				s, err = BuildRTC006(o)
			} else {
				s, err = BuildRTC007(o)
			}
			if err != nil {
				t.Fatal(err)
			}
			g, err := Check(s, Claims{AppID: o.AppID, AppCert: o.AppCert, Channel: "c", UID: "7"}, issued)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := g.CanPublish(issued), role == RolePublisher; got != want {
				t.Errorf("%s role %d: CanPublish=%v want %v", v, role, got, want)
			}
			if g.CanPublish(issued.Add(61 * time.Second)) {
				t.Errorf("%s role %d: can publish after expiry", v, role)
			}
		}
	}
}

// BenchmarkCheck007 is the token work of one join: parse and verify an
// official 007 vector.
func BenchmarkCheck007(b *testing.B) {
	const tok = "007eJxTYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxgDCaiTj"
	c := Claims{AppID: vAppID, AppCert: vAppCert, Channel: vChannel, UID: vUID}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Check(tok, c, vectorTime); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBuildRefusesWhatTheFormatCannotSay: a string longer than its 16-bit
// length prefix, an issue time outside 32-bit unix seconds, or a 006 expiry
// past 2106 is an error, not a token with a wrapped field (before: the
// length wrapped, so the token did not parse back; the times wrapped into
// the past).
func TestBuildRefusesWhatTheFormatCannotSay(t *testing.T) {
	base := RTCOptions{AppID: vAppID, AppCert: vAppCert, Channel: vChannel, UID: vUID, IssuedAt: vectorTime, Lifetime: 600}
	cases := []struct {
		name  string
		build func(RTCOptions) (string, error)
		edit  func(*RTCOptions)
		want  string
	}{
		{"007 channel over 65535 bytes", BuildRTC007, func(o *RTCOptions) { o.Channel = strings.Repeat("c", 70000) }, "65535"},
		{"007 account over 65535 bytes", BuildRTC007, func(o *RTCOptions) { o.UID = strings.Repeat("u", 1<<16) }, "65535"},
		{"007 zero issue time", BuildRTC007, func(o *RTCOptions) { o.IssuedAt = time.Time{} }, "issue time"},
		{"007 issue time after 2106", BuildRTC007, func(o *RTCOptions) { o.IssuedAt = time.Unix(1<<32, 0) }, "issue time"},
		{"006 issue time before 1970", BuildRTC006, func(o *RTCOptions) { o.IssuedAt = time.Unix(-1, 0) }, "issue time"},
		{"006 expiry after 2106", BuildRTC006, func(o *RTCOptions) { o.IssuedAt = time.Unix(1<<32-100, 0) }, "expiry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			tok, err := tc.build(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got token of %d chars, err %v; want an error naming %q", len(tok), err, tc.want)
			}
		})
	}
	for _, build := range []func(RTCOptions) (string, error){BuildRTC007, BuildRTC006} {
		tok, err := build(base)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(tok); err != nil {
			t.Fatalf("a token within the limits does not parse: %v", err)
		}
	}
}
