package token

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
)

func TestStreamName(t *testing.T) {
	app := strings.Repeat("ab", 16)
	cases := []struct{ channel, uid string }{
		{"room-1", "42"},
		{"a_b_c", "4294967295"},
		{"?>?>", "1"}, // base64url with '_' and '-'
		{strings.Repeat("x", 63), "7"},
	}
	for _, c := range cases {
		name := StreamName(app, c.channel, c.uid)
		a, ch, uid, err := ParseStreamName(name)
		if err != nil || a != app || ch != c.channel || uid != c.uid {
			t.Errorf("%q -> %q: %q %q %q %v", c.channel, name, a, ch, uid, err)
		}
	}
	bad := []string{"", "x", app, app + "_", app + "_cm9vbQ_", app + "_cm9vbQ_0", app + "_cm9vbQ_abc",
		app + "_cm9vbQ_4294967296", app + "_c*m9_1", app + "_cm9vbQ_007", strings.Repeat("a", 200)}
	for _, b := range bad {
		if _, _, _, err := ParseStreamName(b); err == nil {
			t.Errorf("accepted %q", b)
		}
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
	signer := NewURLSigner([]byte("secret"))
	a := &MediaAuthorizer{Signer: signer, Apps: st, Now: func() time.Time { return now }}
	stream := StreamName(app.ID, "room", "42")
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	tok := func(uid string, role Role) string {
		s, err := BuildRTC007(RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: "room", UID: uid, Role: role, IssuedAt: now, Lifetime: 600})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tok006 := func(uid string) string {
		s, err := BuildRTC006(RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: "room", UID: uid, Role: RolePublisher, IssuedAt: now, Lifetime: 600})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name   string
		action Action
		stream string
		query  url.Values
		code   int // 0 = allowed
		viewer string
		// wildcard: the grant says the credential names no uid
		wildcard bool
	}{
		{"signed-publish", ActionPublish, stream, q(signer.Query(ActionPublish, stream, now.Add(time.Hour))), 0, "", false},
		{"signed-play", ActionPlay, stream, q(signer.Query(ActionPlay, stream, now.Add(time.Hour))), 0, "", false},
		{"play-sig-for-publish", ActionPublish, stream, q(signer.Query(ActionPlay, stream, now.Add(time.Hour))), 401, "", false},
		{"expired", ActionPlay, stream, q(signer.Query(ActionPlay, stream, now.Add(-time.Second))), 401, "", false},
		{"unsigned", ActionPlay, stream, url.Values{}, 401, "", false},
		{"other-stream", ActionPlay, StreamName(app.ID, "room", "43"), q(signer.Query(ActionPlay, stream, now.Add(time.Hour))), 401, "", false},
		{"tampered", ActionPlay, stream, q(strings.Replace(signer.Query(ActionPlay, stream, now.Add(time.Hour)), "sign=", "sign=A", 1)), 401, "", false},
		{"signed-play-viewer", ActionPlay, stream, q(signer.ViewerQuery(ActionPlay, stream, "7", now.Add(time.Hour))), 0, "7", false},
		{"signed-play-viewer-changed", ActionPlay, stream, q(strings.Replace(signer.ViewerQuery(ActionPlay, stream, "7", now.Add(time.Hour)), "viewer=7", "viewer=8", 1)), 401, "", false},
		{"signed-play-viewer-removed", ActionPlay, stream, q(strings.Replace(signer.ViewerQuery(ActionPlay, stream, "7", now.Add(time.Hour)), "viewer=7&", "", 1)), 401, "", false},
		{"signed-play-viewer-added", ActionPlay, stream, q(signer.Query(ActionPlay, stream, now.Add(time.Hour)) + "&viewer=7"), 401, "", false},
		{"signed-play-viewer-expired", ActionPlay, stream, q(signer.ViewerQuery(ActionPlay, stream, "7", now.Add(-time.Second))), 401, "", false},
		{"signed-play-viewer-for-publish", ActionPublish, stream, q(signer.ViewerQuery(ActionPlay, stream, "7", now.Add(time.Hour))), 401, "", false},
		{"token-publish", ActionPublish, stream, url.Values{"token": {tok("42", RolePublisher)}}, 0, "", false},
		{"token-publish-other-uid", ActionPublish, stream, url.Values{"token": {tok("41", RolePublisher)}}, 401, "", false},
		{"token-publish-uid0", ActionPublish, stream, url.Values{"token": {tok("0", RolePublisher)}}, 0, "", true},
		{"token-publish-uid0-006", ActionPublish, stream, url.Values{"token": {tok006("0")}}, 0, "", true},
		{"token-publish-006", ActionPublish, stream, url.Values{"token": {tok006("42")}}, 0, "", false},
		{"token-publish-subscriber", ActionPublish, stream, url.Values{"token": {tok("42", RoleSubscriber)}}, 433, "", false},
		{"token-play-viewer", ActionPlay, stream, url.Values{"token": {tok("99", RoleSubscriber)}}, 0, "99", false},
		{"token-garbage", ActionPlay, stream, url.Values{"token": {"007abc"}}, 401, "", false},
		{"bad-stream", ActionPlay, "nope", url.Values{}, 432, "", false},
		{"disabled-app", ActionPlay, StreamName(disabled.ID, "room", "1"), url.Values{}, 401, "", false},
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
	a := &MediaAuthorizer{Signer: NewURLSigner([]byte("secret")), Apps: st, Now: func() time.Time { return now }}
	cases := []struct {
		name   string
		app    store.App
		action Action
		query  url.Values
		code   int
		viewer string
	}{
		{"dev-publish", dev, ActionPublish, url.Values{"token": {dev.ID}}, 0, ""},
		{"dev-play", dev, ActionPlay, url.Values{"token": {dev.ID}, "uid": {"9"}}, 0, "9"},
		{"dev-other-app-id", dev, ActionPublish, url.Values{"token": {prod.ID}}, 401, ""},
		{"strict-publish", strict, ActionPublish, url.Values{"token": {strict.ID}}, 433, ""},
		{"strict-play", strict, ActionPlay, url.Values{"token": {strict.ID}}, 0, ""},
		{"prod-publish", prod, ActionPublish, url.Values{"token": {prod.ID}}, 401, ""},
		{"prod-play", prod, ActionPlay, url.Values{"token": {prod.ID}}, 401, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := a.Authorize(ctx, c.action, StreamName(c.app.ID, "room", "42"), c.query)
			if c.code == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if g.AppID != c.app.ID || g.UID != "42" || g.Viewer != c.viewer || g.Wildcard != (c.action == ActionPublish) {
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
