package e2e

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
)

// TestLateFLVViewerSeesTwoStreams: an HTTP-FLV (and an RTMP) viewer that
// joins a live stream seconds after it started gets one video and one audio
// stream, as ffprobe reports them. Before the fix its first tag was onMetaData stamped
// with the stream's running time, which FFmpeg's demuxer exposes as an extra
// data ("text") stream.
func TestLateFLVViewerSeesTwoStreams(t *testing.T) {
	env := newMediaEnv(t, media.Config{Grace: 500 * time.Millisecond})
	src, _ := makeSourceGOP(t, 8, true, true, 25)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub := pushFile(ctx, t, src, env.rtmpURL(token.ActionPublish, "43"))
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = pub.Wait() }()
	env.obs.wait(t, "started:43", 10*time.Second)

	// Late: wait until the stream's clock is past 2 s (its GOP cache then
	// starts well after 0).
	rd, err := env.hub.Subscribe(mediaKey(env.app.ID, "43"), media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pkts []*media.Packet
	for late := false; !late; {
		if pkts, err = rd.Next(ctx, pkts[:0]); err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		for _, p := range pkts {
			late = late || p.DTS > 2*time.Second
		}
	}
	rd.Close()

	for _, v := range []struct{ name, url string }{
		{"http-flv", env.flvURL("43")},
		{"rtmp", env.rtmpURL(token.ActionPlay, "43")},
	} {
		out, err := exec.CommandContext(ctx, needTool(t, "ffprobe"), "-v", "error", "-rw_timeout", "20000000",
			"-show_streams", "-of", "json", v.url).Output()
		if err != nil {
			t.Fatalf("%s: ffprobe: %v", v.name, err)
		}
		var video, audio, other int
		streams := parseProbe(t, out)
		for _, s := range streams {
			switch s.CodecType {
			case "video":
				video++
			case "audio":
				audio++
			default:
				other++
			}
		}
		if video != 1 || audio != 1 || other != 0 {
			t.Errorf("%s: a late viewer sees %d video, %d audio and %d other streams, want 1, 1 and 0: %+v",
				v.name, video, audio, other, streams)
		}
	}
}
