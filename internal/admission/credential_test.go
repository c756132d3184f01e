package admission

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// TestAdmit is the credential rule every media door applies: a token
// without publish privileges never publishes, whatever the app settings;
// the deadline is the earlier of the join and publish privileges' ends.
func TestAdmit(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	join, pub := now.Add(time.Hour), now.Add(10*time.Minute)
	publisher := token.Grant{Publish: true, Expires: join, PublishExpires: pub}
	subscriber := token.Grant{Expires: join}
	lax, strict := store.AppSettings{}, store.AppSettings{EnforcePublisherToken: true}
	cases := []struct {
		name     string
		settings store.AppSettings
		cred     Credential
		action   token.Action
		until    time.Time
		code     int
	}{
		{"publisher-play", lax, Credential{Grant: publisher}, token.ActionPlay, join, 0},
		{"publisher-publish", lax, Credential{Grant: publisher}, token.ActionPublish, pub, 0},
		{"subscriber-play", lax, Credential{Grant: subscriber}, token.ActionPlay, join, 0},
		{"subscriber-publish-lax-app", lax, Credential{Grant: subscriber}, token.ActionPublish, time.Time{}, 433},
		{"subscriber-publish-strict-app", strict, Credential{Grant: subscriber}, token.ActionPublish, time.Time{}, 433},
		{"publish-privilege-over", lax, Credential{Grant: token.Grant{Publish: true, Expires: join, PublishExpires: now}}, token.ActionPublish, time.Time{}, 433},
		{"expired", lax, Credential{Grant: token.Grant{Publish: true, Expires: now}}, token.ActionPlay, time.Time{}, 401},
		{"no-expiry", lax, Credential{Grant: token.Grant{Publish: true}}, token.ActionPublish, time.Time{}, 0},
		{"appid-publish", lax, Credential{NoToken: true}, token.ActionPublish, time.Time{}, 0},
		{"appid-publish-strict", strict, Credential{NoToken: true}, token.ActionPublish, time.Time{}, 433},
		{"appid-play-strict", strict, Credential{NoToken: true}, token.ActionPlay, time.Time{}, 0},
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
	signer := token.NewURLSigner([]byte("secret"))
	a := &MediaAuthorizer{Signer: signer, Apps: st, Now: func() time.Time { return now }}
	stream := token.StreamName(app.ID, "room", "42")
	tok := func(uid string, role token.Role) string {
		s, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: "room", UID: uid, Role: role, IssuedAt: now, Lifetime: 600})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	cases := []struct {
		name   string
		action token.Action
		query  url.Values
		signed bool
		until  time.Time
		viewer string
	}{
		{"signed-play", token.ActionPlay, q(signer.ViewerQuery(token.ActionPlay, stream, "7", now.Add(time.Hour))), true, now.Add(time.Hour), "7"},
		{"signed-publish", token.ActionPublish, q(signer.Query(token.ActionPublish, stream, now.Add(2*time.Hour))), true, now.Add(2 * time.Hour), ""},
		{"token-play", token.ActionPlay, url.Values{"token": {tok("7", token.RoleSubscriber)}}, false, now.Add(600 * time.Second), "7"},
		{"any-uid-token-play", token.ActionPlay, url.Values{"token": {tok("0", token.RoleSubscriber)}, "uid": {"9"}}, false, now.Add(600 * time.Second), "9"},
		{"any-uid-token-no-uid", token.ActionPlay, url.Values{"token": {tok("0", token.RoleSubscriber)}}, false, now.Add(600 * time.Second), ""},
		{"token-publish", token.ActionPublish, url.Values{"token": {tok("42", token.RolePublisher)}}, false, now.Add(600 * time.Second), ""},
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

func TestMediaAuthorizer(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	st := store.NewMemory()
	app, _ := store.NewApp("t", now)
	st.PutApp(ctx, app)
	disabled, _ := store.NewApp("off", now)
	st.PutApp(ctx, disabled)
	disabled.Enabled = false
	st.PutApp(ctx, disabled)
	signer := token.NewURLSigner([]byte("secret"))
	a := &MediaAuthorizer{Signer: signer, Apps: st, Now: func() time.Time { return now }}
	stream := token.StreamName(app.ID, "room", "42")
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	tok := func(uid string, role token.Role) string {
		s, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: "room", UID: uid, Role: role, IssuedAt: now, Lifetime: 600})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tok006 := func(uid string) string {
		s, err := token.BuildRTC006(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: "room", UID: uid, Role: token.RolePublisher, IssuedAt: now, Lifetime: 600})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name   string
		action token.Action
		stream string
		query  url.Values
		code   int // 0 = allowed
		viewer string
		// wildcard: the grant says the credential names no uid
		wildcard bool
	}{
		{"signed-publish", token.ActionPublish, stream, q(signer.Query(token.ActionPublish, stream, now.Add(time.Hour))), 0, "", false},
		{"signed-play", token.ActionPlay, stream, q(signer.Query(token.ActionPlay, stream, now.Add(time.Hour))), 0, "", false},
		{"play-sig-for-publish", token.ActionPublish, stream, q(signer.Query(token.ActionPlay, stream, now.Add(time.Hour))), 401, "", false},
		{"expired", token.ActionPlay, stream, q(signer.Query(token.ActionPlay, stream, now.Add(-time.Second))), 401, "", false},
		{"unsigned", token.ActionPlay, stream, url.Values{}, 401, "", false},
		{"other-stream", token.ActionPlay, token.StreamName(app.ID, "room", "43"), q(signer.Query(token.ActionPlay, stream, now.Add(time.Hour))), 401, "", false},
		{"tampered", token.ActionPlay, stream, q(strings.Replace(signer.Query(token.ActionPlay, stream, now.Add(time.Hour)), "sign=", "sign=A", 1)), 401, "", false},
		{"signed-play-viewer", token.ActionPlay, stream, q(signer.ViewerQuery(token.ActionPlay, stream, "7", now.Add(time.Hour))), 0, "7", false},
		{"signed-play-viewer-changed", token.ActionPlay, stream, q(strings.Replace(signer.ViewerQuery(token.ActionPlay, stream, "7", now.Add(time.Hour)), "viewer=7", "viewer=8", 1)), 401, "", false},
		{"signed-play-viewer-removed", token.ActionPlay, stream, q(strings.Replace(signer.ViewerQuery(token.ActionPlay, stream, "7", now.Add(time.Hour)), "viewer=7&", "", 1)), 401, "", false},
		{"signed-play-viewer-added", token.ActionPlay, stream, q(signer.Query(token.ActionPlay, stream, now.Add(time.Hour)) + "&viewer=7"), 401, "", false},
		{"signed-play-viewer-expired", token.ActionPlay, stream, q(signer.ViewerQuery(token.ActionPlay, stream, "7", now.Add(-time.Second))), 401, "", false},
		{"signed-play-viewer-for-publish", token.ActionPublish, stream, q(signer.ViewerQuery(token.ActionPlay, stream, "7", now.Add(time.Hour))), 401, "", false},
		{"token-publish", token.ActionPublish, stream, url.Values{"token": {tok("42", token.RolePublisher)}}, 0, "", false},
		{"token-publish-other-uid", token.ActionPublish, stream, url.Values{"token": {tok("41", token.RolePublisher)}}, 401, "", false},
		{"token-publish-uid0", token.ActionPublish, stream, url.Values{"token": {tok("0", token.RolePublisher)}}, 0, "", true},
		{"token-publish-uid0-006", token.ActionPublish, stream, url.Values{"token": {tok006("0")}}, 0, "", true},
		{"token-publish-006", token.ActionPublish, stream, url.Values{"token": {tok006("42")}}, 0, "", false},
		{"token-publish-subscriber", token.ActionPublish, stream, url.Values{"token": {tok("42", token.RoleSubscriber)}}, 433, "", false},
		{"token-play-viewer", token.ActionPlay, stream, url.Values{"token": {tok("99", token.RoleSubscriber)}}, 0, "99", false},
		{"token-garbage", token.ActionPlay, stream, url.Values{"token": {"007abc"}}, 401, "", false},
		{"bad-stream", token.ActionPlay, "nope", url.Values{}, 432, "", false},
		{"disabled-app", token.ActionPlay, token.StreamName(disabled.ID, "room", "1"), url.Values{}, 401, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := a.Authorize(ctx, c.action, c.stream, c.query)
			if c.code == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if g.UID != "42" || g.Channel != "room" || g.Viewer != c.viewer || g.Wildcard != c.wildcard {
					t.Fatalf("grant %+v", g)
				}
				return
			}
			e, ok := errcode.As(err)
			if !ok || e.Code != c.code {
				t.Fatalf("got %v, want code %d", err, c.code)
			}
		})
	}
}

// TestMediaAuthorizerNoTokenApp: an app that lets clients join with the
// appId as key lets them push and play with it too (WHIP/WHEP bearer,
// ?token=), unless it enforces publisher tokens; other apps refuse it.
func TestMediaAuthorizerNoTokenApp(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	st := store.NewMemory()
	newApp := func(s store.AppSettings) store.App {
		a, err := store.NewApp("dev", now)
		if err != nil {
			t.Fatal(err)
		}
		a.Settings = s
		if err := st.PutApp(ctx, a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	dev := newApp(store.AppSettings{AllowNoToken: true})
	strict := newApp(store.AppSettings{AllowNoToken: true, EnforcePublisherToken: true})
	prod := newApp(store.AppSettings{})
	a := &MediaAuthorizer{Signer: token.NewURLSigner([]byte("secret")), Apps: st, Now: func() time.Time { return now }}
	cases := []struct {
		name   string
		app    store.App
		action token.Action
		query  url.Values
		code   int
		viewer string
	}{
		{"dev-publish", dev, token.ActionPublish, url.Values{"token": {dev.ID}}, 0, ""},
		{"dev-play", dev, token.ActionPlay, url.Values{"token": {dev.ID}, "uid": {"9"}}, 0, "9"},
		{"dev-other-app-id", dev, token.ActionPublish, url.Values{"token": {prod.ID}}, 401, ""},
		{"strict-publish", strict, token.ActionPublish, url.Values{"token": {strict.ID}}, 433, ""},
		{"strict-play", strict, token.ActionPlay, url.Values{"token": {strict.ID}}, 0, ""},
		{"prod-publish", prod, token.ActionPublish, url.Values{"token": {prod.ID}}, 401, ""},
		{"prod-play", prod, token.ActionPlay, url.Values{"token": {prod.ID}}, 401, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := a.Authorize(ctx, c.action, token.StreamName(c.app.ID, "room", "42"), c.query)
			if c.code == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if g.AppID != c.app.ID || g.UID != "42" || g.Viewer != c.viewer || g.Wildcard != (c.action == token.ActionPublish) {
					t.Fatalf("grant %+v", g)
				}
				return
			}
			if e, ok := errcode.As(err); !ok || e.Code != c.code {
				t.Fatalf("got %v, want code %d", err, c.code)
			}
		})
	}
}
