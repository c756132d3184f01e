package e2e

import (
	"context"
	"math"
	"net/url"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/token"
)

// netnsEnv marks the test process re-executed inside its own network
// namespace (only a loopback interface).
const netnsEnv = "MINIRTC_E2E_NETNS"

// TestBrowserWebRTC: headless Chromium with a fake camera and microphone
// opens the page minirtc serves, publishes over WHIP and plays a mini
// program's (ffmpeg's) RTMP stream over WHEP. The page must report decoded
// video frames and audio energy for the remote stream, and ffmpeg must
// decode the browser's stream over RTMP. Everything runs in a network
// namespace with only loopback: the test re-executes itself under
// `unshare -n`.
func TestBrowserWebRTC(t *testing.T) {
	inLoopbackNetns(t, "TestBrowserWebRTC", 3*time.Minute, "browser: framesDecoded", browserTest)
}

// pageState is window.minirtc on the demo page in its WHIP/WHEP mode.
type pageState struct {
	Published        bool    `json:"published"`
	Playing          bool    `json:"playing"`
	FramesDecoded    int     `json:"framesDecoded"`
	TotalAudioEnergy float64 `json:"totalAudioEnergy"`
	Error            string  `json:"error"`
}

func browserTest(t *testing.T) {
	e := newNodeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	// A mini program (ffmpeg) publishes uid 6 over RTMP.
	e.joinPublisher(6)
	push := pushCmd(ctx, t, e.pushURL("6"), 60)
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = push.Wait()
	}()
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, "6"))

	q := url.Values{
		"app": {e.app.ID}, "channel": {"room"},
		"pub": {"5"}, "ptoken": {e.token("room", "5", token.RolePublisher)},
		"play": {"6"}, "vtoken": {e.token("room", "1001", token.RoleSubscriber)},
	}
	// The demo page's WHIP/WHEP test mode (the old /webrtc/ page, merged).
	page := "http://" + e.n.HTTPAddr() + "/demo/?" + q.Encode()
	cdp, _ := openChromium(ctx, t, page, "/demo/") // closed with the test

	// Wait for the page to publish, then let ffmpeg play the browser's stream.
	var st pageState
	poll := func(cond func(pageState) bool, what string) {
		t.Helper()
		for {
			st = evalState(ctx, t, cdp)
			if st.Error != "" {
				t.Fatalf("page error: %s", st.Error)
			}
			if cond(st) {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s; page state %+v", what, st)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	poll(func(s pageState) bool { return s.Published }, "the WHIP publish")
	if m, ok := e.n.Channels().Member(e.app.ID, "room", 5); !ok || !m.Publishing {
		t.Fatalf("the browser is not a publishing member: %+v", m)
	}
	frames, pcm := decodeWithFFmpeg(ctx, t, e.playURL("rtmp", "5"), "", 3)
	if frames < 10 {
		t.Errorf("ffmpeg decoded %d video frames of the browser's stream over RTMP", frames)
	}
	var energy float64
	for _, v := range pcm {
		energy += math.Abs(float64(v))
	}
	if len(pcm) == 0 || energy == 0 {
		t.Errorf("the browser's audio over RTMP is silent (%d samples)", len(pcm))
	}
	poll(func(s pageState) bool { return s.FramesDecoded > 0 && s.TotalAudioEnergy > 0 }, "remote frames and audio energy")
	t.Logf("browser: framesDecoded=%d totalAudioEnergy=%.4f; ffmpeg over RTMP: %d frames, %d samples",
		st.FramesDecoded, st.TotalAudioEnergy, frames, len(pcm))
}

// evalState reads window.minirtc on the test page.
func evalState(ctx context.Context, t *testing.T, d *devtools) pageState {
	t.Helper()
	var st pageState
	if err := d.eval(ctx, "JSON.stringify(window.minirtc || {})", &st); err != nil {
		t.Fatal(err)
	}
	return st
}
