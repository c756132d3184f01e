package webrtc

import (
	"net/http"
	"strings"
	"testing"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/pion/sdp/v3"
)

// fragRemote is a bundled browser-like offer: media-level credentials, a
// candidate in the first section.
const fragRemote = offerHead +
	"a=group:BUNDLE 0 1\r\na=ice-options:trickle\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:oldU\r\na=ice-pwd:oldpasswordoldpassword\r\n" +
	"a=setup:actpass\r\na=sendonly\r\na=rtpmap:102 H264/90000\r\n" +
	"a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=ice-ufrag:oldU\r\na=ice-pwd:oldpasswordoldpassword\r\n" +
	"a=setup:actpass\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n"

const (
	newUfrag = "EsAw"
	newPwd   = "P2uYro0UCOQ4zxjKXaWCBui1"
	candA    = "1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw"
	candB    = "3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0"
)

// fragCases feed the parser test and the fuzz seeds. status 0: valid.
var fragCases = []struct {
	name   string
	body   string
	want   sdpFrag
	status int
	reason string
}{
	{"RFC 9725 restart request", "a=ice-options:trickle ice2\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n" +
		"a=ice-ufrag:" + newUfrag + "\r\na=ice-pwd:" + newPwd + "\r\na=candidate:" + candA + "\r\na=candidate:" + candB + "\r\na=end-of-candidates\r\n",
		sdpFrag{ufrag: newUfrag, pwd: newPwd, options: "trickle ice2", candidates: []fragCandidate{{"0", candA}, {"0", candB}}, end: true}, 0, ""},
	{"medooze restart (credentials only, LF)", "a=ice-ufrag:" + newUfrag + "\na=ice-pwd:" + newPwd + "\n",
		sdpFrag{ufrag: newUfrag, pwd: newPwd}, 0, ""},
	{"trickle, two sections", "a=ice-ufrag:oldU\r\na=ice-pwd:oldpasswordoldpassword\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:" + candA +
		"\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=candidate:" + candB + "\r\n",
		sdpFrag{ufrag: "oldU", pwd: "oldpasswordoldpassword", candidates: []fragCandidate{{"0", candA}, {"", candB}}}, 0, ""},
	{"spaces around lines", "  a=ice-ufrag:" + newUfrag + " \r\n\ta=ice-pwd:" + newPwd + "\t\r\n", sdpFrag{ufrag: newUfrag, pwd: newPwd}, 0, ""},
	{"unknown candidate type dropped", "a=candidate:1 1 udp 1 192.0.2.1 9 typ weird\r\n", sdpFrag{}, 0, ""},
	{"other attributes ignored", "a=ssrc:1 cname:x\r\nb=AS:300\r\n", sdpFrag{}, 0, ""},
	{"empty", "", sdpFrag{}, 0, ""},
	{"not SDP", "hello\r\n", sdpFrag{}, http.StatusBadRequest, "line 1 is not an SDP line"},
	{"JSON", `{"candidate":"x"}`, sdpFrag{}, http.StatusBadRequest, "not an SDP line"},
	{"bare CR inside a line", "a=ice-ufrag:abcd\ra=ice-pwd:" + newPwd + "\r\n", sdpFrag{}, http.StatusBadRequest, "control character"},
	{"NUL", "a=ice-ufrag:ab\x00cd\r\n", sdpFrag{}, http.StatusBadRequest, "control character"},
	{"short ufrag", "a=ice-ufrag:abc\r\na=ice-pwd:" + newPwd + "\r\n", sdpFrag{}, http.StatusBadRequest, "ICE ufrag of 3 characters"},
	{"short pwd", "a=ice-ufrag:abcd\r\na=ice-pwd:short\r\n", sdpFrag{}, http.StatusBadRequest, "line 2 has an ICE pwd of 5 characters"},
	{"ufrag with a space", "a=ice-ufrag:ab cd\r\n", sdpFrag{}, http.StatusBadRequest, "not an ice-char"},
	{"two ufrags", "a=ice-ufrag:abcd\r\nm=audio 9 x 0\r\na=ice-ufrag:efgh\r\n", sdpFrag{}, http.StatusBadRequest, "second, different ICE ufrag"},
	{"bad candidate", "a=candidate:nonsense\r\n", sdpFrag{}, http.StatusBadRequest, "line 1 has a bad candidate"},
	{"bad mid", "a=mid:\r\n", sdpFrag{}, http.StatusBadRequest, "a=mid"},
	{"empty ice-options", "a=ice-options:\r\n", sdpFrag{}, http.StatusBadRequest, "ice-options"},
	{"too many candidates", strings.Repeat("a=candidate:"+candB+"\r\n", maxFragCandidates+1), sdpFrag{}, http.StatusBadRequest, "a fragment may carry 64"},
	{"too large", strings.Repeat("a=x\r\n", maxFragSize/5+1), sdpFrag{}, http.StatusBadRequest, "more than 16384"},
}

func TestParseSDPFrag(t *testing.T) {
	for _, c := range fragCases {
		t.Run(c.name, func(t *testing.T) {
			f, err := parseSDPFrag(c.body)
			if c.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if f.ufrag != c.want.ufrag || f.pwd != c.want.pwd || f.options != c.want.options || f.end != c.want.end ||
					len(f.candidates) != len(c.want.candidates) {
					t.Fatalf("got %+v, want %+v", f, c.want)
				}
				for i := range f.candidates {
					if f.candidates[i] != c.want.candidates[i] {
						t.Fatalf("candidate %d: %+v, want %+v", i, f.candidates[i], c.want.candidates[i])
					}
				}
				return
			}
			e, ok := errcode.As(err)
			if !ok || e.HTTPStatus() != c.status || !strings.Contains(e.Message(), c.reason) {
				t.Fatalf("err %v, want %d with %q", err, c.status, c.reason)
			}
		})
	}
}

func TestRestartOffer(t *testing.T) {
	f, err := parseSDPFrag(fragCases[0].body)
	if err != nil {
		t.Fatal(err)
	}
	offer, err := restartOffer(fragRemote, f)
	if err != nil {
		t.Fatal(err)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		t.Fatal(err)
	}
	if o, _ := sd.Attribute("ice-options"); o != "trickle ice2" {
		t.Errorf("session ice-options %q", o)
	}
	for i, md := range sd.MediaDescriptions {
		u, _ := md.Attribute("ice-ufrag")
		p, _ := md.Attribute("ice-pwd")
		if u != newUfrag || p != newPwd {
			t.Errorf("section %d has credentials %q/%q", i, u, p)
		}
		var cands []string
		end := false
		for _, a := range md.Attributes {
			switch a.Key {
			case "candidate":
				cands = append(cands, a.Value)
			case "end-of-candidates":
				end = true
			}
		}
		want := []string(nil)
		if i == 0 {
			want = []string{candA, candB}
		}
		if strings.Join(cands, "|") != strings.Join(want, "|") || end != (i == 0) {
			t.Errorf("section %d candidates %q (end %v), want %q", i, cands, end, want)
		}
		if !hasAttr(md, "sendonly") || !hasAttr(md, "rtpmap") {
			t.Errorf("section %d lost its other attributes", i)
		}
	}
	if u, p := iceCreds(&sd); u != newUfrag || p != newPwd {
		t.Errorf("iceCreds %q %q", u, p)
	}
}

func hasAttr(md *sdp.MediaDescription, key string) bool {
	_, ok := md.Attribute(key)
	return ok
}

func TestAnswerFrag(t *testing.T) {
	local := offerHead + "a=ice-lite\r\na=group:BUNDLE 1 0\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\na=ice-ufrag:vidU\r\na=ice-pwd:" + newPwd + "\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=ice-ufrag:" + newUfrag + "\r\na=ice-pwd:" + newPwd + "\r\n" +
		"a=candidate:" + candB + "\r\na=candidate:" + strings.Replace(candB, " 1 ", " 2 ", 1) + "\r\na=end-of-candidates\r\n"
	got, err := answerFrag(local)
	if err != nil {
		t.Fatal(err)
	}
	want := "a=ice-lite\r\na=ice-ufrag:" + newUfrag + "\r\na=ice-pwd:" + newPwd + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n" +
		"a=candidate:" + candB + "\r\na=end-of-candidates\r\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	// What a server answers is a fragment its clients can parse back.
	f, err := parseSDPFrag(got)
	if err != nil || f.ufrag != newUfrag || f.pwd != newPwd || len(f.candidates) != 1 || f.candidates[0].mid != "1" || !f.end {
		t.Fatalf("parse back: %+v %v", f, err)
	}
	if _, err := answerFrag(offerHead + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"); err == nil {
		t.Fatal("an answer without credentials made a fragment")
	}
}

func TestIfMatch(t *testing.T) {
	const etag = `"abc123"`
	cases := []struct {
		name   string
		values []string
		want   bool
	}{
		{"absent", nil, false}, // patch answers 428 unless the fragment names the current ufrag
		{"any", []string{"*"}, true},
		{"current", []string{etag}, true},
		{"unquoted current", []string{"abc123"}, true},
		{"in a list", []string{`"old", "abc123"`}, true},
		{"second header", []string{`"old"`, etag}, true},
		{"other", []string{`"old"`}, false},
		{"weak", []string{`W/"abc123"`}, false},
		{"empty", []string{""}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ifMatch(c.values, etag); got != c.want {
				t.Fatalf("ifMatch(%q) = %v", c.values, got)
			}
		})
	}
}

// FuzzSDPFrag: a fragment parses or is refused with a 400; one that parses
// and carries credentials makes a restart offer that is valid SDP with
// exactly those credentials and the fragment's candidates.
func FuzzSDPFrag(f *testing.F) {
	for _, c := range fragCases {
		if len(c.body) < 4096 {
			f.Add(c.body)
		}
	}
	f.Fuzz(func(t *testing.T, body string) {
		frag, err := parseSDPFrag(body)
		if err != nil {
			if e, ok := errcode.As(err); !ok || e.HTTPStatus() != http.StatusBadRequest {
				t.Fatalf("not a 400: %v", err)
			}
			return
		}
		if len(frag.candidates) > maxFragCandidates {
			t.Fatalf("%d candidates", len(frag.candidates))
		}
		if frag.ufrag == "" || frag.pwd == "" {
			return
		}
		offer, err := restartOffer(fragRemote, frag)
		if err != nil {
			t.Fatal(err)
		}
		var sd sdp.SessionDescription
		if err := sd.UnmarshalString(offer); err != nil {
			t.Fatalf("restart offer is not SDP: %v\n%s", err, offer)
		}
		if len(sd.MediaDescriptions) != 2 {
			t.Fatalf("restart offer has %d sections", len(sd.MediaDescriptions))
		}
		if u, p := iceCreds(&sd); u != frag.ufrag || p != frag.pwd {
			t.Fatalf("restart offer credentials %q/%q, want %q/%q", u, p, frag.ufrag, frag.pwd)
		}
		n := 0
		for _, a := range sd.MediaDescriptions[0].Attributes {
			if a.Key == "candidate" {
				n++
			}
		}
		if n != len(frag.candidates) {
			t.Fatalf("restart offer has %d candidates, the fragment %d", n, len(frag.candidates))
		}
	})
}
