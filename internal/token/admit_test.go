package token

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
)

// TestAdmit is the credential rule every media door applies: a token
// without publish privileges never publishes, whatever the app settings;
// the deadline is the earlier of the join and publish privileges' ends.
func TestAdmit(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	join, pub := now.Add(time.Hour), now.Add(10*time.Minute)
	publisher := Grant{Publish: true, Expires: join, PublishExpires: pub}
	subscriber := Grant{Expires: join}
	lax, strict := store.AppSettings{}, store.AppSettings{EnforcePublisherToken: true}
	cases := []struct {
		name     string
		settings store.AppSettings
		cred     Credential
		action   Action
		until    time.Time
		code     int
	}{
		{"publisher-play", lax, Credential{Grant: publisher}, ActionPlay, join, 0},
		{"publisher-publish", lax, Credential{Grant: publisher}, ActionPublish, pub, 0},
		{"subscriber-play", lax, Credential{Grant: subscriber}, ActionPlay, join, 0},
		{"subscriber-publish-lax-app", lax, Credential{Grant: subscriber}, ActionPublish, time.Time{}, 433},
		{"subscriber-publish-strict-app", strict, Credential{Grant: subscriber}, ActionPublish, time.Time{}, 433},
		{"publish-privilege-over", lax, Credential{Grant: Grant{Publish: true, Expires: join, PublishExpires: now}}, ActionPublish, time.Time{}, 433},
		{"expired", lax, Credential{Grant: Grant{Publish: true, Expires: now}}, ActionPlay, time.Time{}, 401},
		{"no-expiry", lax, Credential{Grant: Grant{Publish: true}}, ActionPublish, time.Time{}, 0},
		{"appid-publish", lax, Credential{NoToken: true}, ActionPublish, time.Time{}, 0},
		{"appid-publish-strict", strict, Credential{NoToken: true}, ActionPublish, time.Time{}, 433},
		{"appid-play-strict", strict, Credential{NoToken: true}, ActionPlay, time.Time{}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			until, err := Admit(c.settings, c.cred, c.action, now)
			if c.code != 0 {
				if e, ok := errcode.As(err); !ok || e.Code != c.code {
					t.Fatalf("got %v, want code %d", err, c.code)
				}
				return
			}
			if err != nil || !until.Equal(c.until) {
				t.Fatalf("got %v %v, want until %v", until, err, c.until)
			}
		})
	}
}

// TestMediaGrantDeadline: the grant says until when the connection may
// last (a signed URL's expire, a token's end) and who plays; a token for
// any uid plays as the uid the URL names.
func TestMediaGrantDeadline(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	st := store.NewMemory()
	app, _ := store.NewApp("t", now)
	st.PutApp(ctx, app)
	signer := NewURLSigner([]byte("secret"))
	a := &MediaAuthorizer{Signer: signer, Apps: st, Now: func() time.Time { return now }}
	stream := StreamName(app.ID, "room", "42")
	tok := func(uid string, role Role) string {
		s, err := BuildRTC007(RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: "room", UID: uid, Role: role, IssuedAt: now, Lifetime: 600})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	cases := []struct {
		name   string
		action Action
		query  url.Values
		signed bool
		until  time.Time
		viewer string
	}{
		{"signed-play", ActionPlay, q(signer.ViewerQuery(ActionPlay, stream, "7", now.Add(time.Hour))), true, now.Add(time.Hour), "7"},
		{"signed-publish", ActionPublish, q(signer.Query(ActionPublish, stream, now.Add(2*time.Hour))), true, now.Add(2 * time.Hour), ""},
		{"token-play", ActionPlay, url.Values{"token": {tok("7", RoleSubscriber)}}, false, now.Add(600 * time.Second), "7"},
		{"any-uid-token-play", ActionPlay, url.Values{"token": {tok("0", RoleSubscriber)}, "uid": {"9"}}, false, now.Add(600 * time.Second), "9"},
		{"any-uid-token-no-uid", ActionPlay, url.Values{"token": {tok("0", RoleSubscriber)}}, false, now.Add(600 * time.Second), ""},
		{"token-publish", ActionPublish, url.Values{"token": {tok("42", RolePublisher)}}, false, now.Add(600 * time.Second), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := a.Authorize(ctx, c.action, stream, c.query)
			if err != nil {
				t.Fatal(err)
			}
			if g.Signed != c.signed || !g.Until.Equal(c.until) || g.Viewer != c.viewer {
				t.Fatalf("grant %+v, want signed %v until %v viewer %q", g, c.signed, c.until, c.viewer)
			}
			if g.Register(func(error) {}) == nil {
				t.Fatal("Register without a registry returned nil")
			}
		})
	}
}
