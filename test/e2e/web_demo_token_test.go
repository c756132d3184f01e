package e2e

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/config"
)

// TestWebDemoTokenServer: with the node's token server on, the demo page
// joins an app that requires tokens (the default app has a certificate and
// refuses the appId as key) with nothing but the appId and the channel: it
// fetches a token for its uid from /token, as the example mini program does
// through TOKEN_URL. Runs in its own network namespace (Chromium).
func TestWebDemoTokenServer(t *testing.T) {
	inLoopbackNetns(t, "TestWebDemoTokenServer", 2*time.Minute, "web demo token:", func(t *testing.T) {
		e := newNodeEnv(t, func(c *config.Config) {
			c.TokenServer.Enabled = true
			c.TokenServer.AllowedOrigins = []string{"self"}
		})
		if e.app.Settings.AllowNoToken {
			t.Fatal("the default app accepts the appId as key: the test would prove nothing")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		q := url.Values{"appId": {e.app.ID}, "channel": {"room"}, "uid": {"31"}, "autojoin": {"1"}, "video": {"320x240"}}
		page, _ := openChromium(ctx, t, "http://"+e.n.HTTPAddr()+"/demo/?"+q.Encode(), "/demo/")
		var st demoPage
		for {
			if err := page.eval(ctx, "JSON.stringify(window.demo || {})", &st); err != nil {
				t.Fatalf("reading the page state: %v", err)
			}
			if st.Error != "" {
				t.Fatalf("page error: %s (events %q)", st.Error, st.Events)
			}
			if st.Joined {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the page did not join; state %+v", st)
			case <-time.After(250 * time.Millisecond):
			}
		}
		if st.UID != 31 {
			t.Fatalf("joined as %d, want 31", st.UID)
		}
		if m, ok := e.n.Channels().Member(e.app.ID, "room", 31); !ok {
			t.Fatalf("uid 31 is not a member: %+v", m)
		}
		t.Logf("web demo token: joined as %d with a token from /token", st.UID)
	})
}
