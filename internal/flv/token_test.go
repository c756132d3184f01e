package flv

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
)

// TestPlayTokenWithPlus: an HTTP-FLV play authorized by ?token= works with
// the token's '+' and '/' sent raw (as pasted) or percent-encoded (issue
// #13 item 7); form decoding used to turn the raw '+' into a space: 401.
func TestPlayTokenWithPlus(t *testing.T) {
	e := newFLVEnv(t, media.Config{})
	pub, err := e.hub.Publish(e.key(), nil)
	if err != nil {
		t.Fatal(err)
	}
	publishGOP(t, pub)
	var tok string
	for salt := uint32(1); tok == ""; salt++ {
		s, err := token.BuildRTC007(token.RTCOptions{AppID: e.app.ID, AppCert: e.app.Certificate, Channel: "room",
			UID: "9", Role: token.RoleSubscriber, IssuedAt: time.Now(), Lifetime: 3600, Salt: salt})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(s, "+") && strings.Contains(s, "/") {
			tok = s
		}
	}
	for _, tc := range []struct{ name, tok string }{{"raw", tok}, {"percent-encoded", url.QueryEscape(tok)}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			u := e.srv.URL + "/live/" + token.StreamName(e.app.ID, "room", "5") + ".flv?token=" + tc.tok
			req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(res.Body)
				t.Fatalf("play with a %s token: %d %s", tc.name, res.StatusCode, b)
			}
			head := make([]byte, 3)
			if _, err := io.ReadFull(res.Body, head); err != nil || string(head) != "FLV" {
				t.Fatalf("body starts %q, %v", head, err)
			}
		})
	}
}
