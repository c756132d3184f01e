package e2e

import (
	"context"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
)

// TestFFmpegTokenWithPlus: ffmpeg publishes with ?token= where the token's
// '+' and '/' are as pasted (raw) or percent-encoded; both are accepted
// and the stream starts (issue #13 item 7: a raw '+' used to become a space).
func TestFFmpegTokenWithPlus(t *testing.T) {
	ff := needTool(t, "ffmpeg")
	e := newMediaEnv(t, media.Config{})
	for i, tc := range []struct {
		name   string
		encode func(string) string
	}{
		{"raw", func(s string) string { return s }},
		{"percent-encoded", url.QueryEscape},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uid := string(rune('1' + i))
			var tok string
			for salt := uint32(1); tok == ""; salt++ {
				s, err := token.BuildRTC007(token.RTCOptions{AppID: e.app.ID, AppCert: e.app.Certificate, Channel: "room",
					UID: uid, Role: token.RolePublisher, IssuedAt: time.Now(), Lifetime: 3600, Salt: salt})
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(s, "+") && strings.Contains(s, "/") {
					tok = s
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			u := "rtmp://" + e.rtmpAddr + "/live/" + e.stream(uid) + "?token=" + tc.encode(tok)
			cmd := exec.CommandContext(ctx, ff, publishArgs(u, 2, true, true)...)
			errc := make(chan error, 1)
			go func() { errc <- runWait(cmd) }()
			e.obs.wait(t, "started:"+uid, 30*time.Second)
			if err := <-errc; err != nil {
				t.Fatalf("ffmpeg: %v", err)
			}
		})
	}
}
