package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/token"
)

// GStreamer pipelines for whip-client: a live 440 Hz sine as Opus and a live
// 320x240 test pattern as constrained-baseline H.264 without B-frames (what a
// mini program can decode).
const (
	gstAudioPipeline = "audiotestsrc is-live=true wave=sine freq=440 volume=0.5 ! audioconvert ! audioresample ! " +
		"opusenc ! rtpopuspay pt=111 ! queue ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111"
	gstVideoPipeline = "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 ! videoconvert ! " +
		"x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! video/x-h264,profile=constrained-baseline ! " +
		"rtph264pay pt=96 config-interval=-1 aggregate-mode=zero-latency ! queue ! " +
		"application/x-rtp,media=video,encoding-name=H264,payload=96"
)

// TestInteropGStreamerWHIP: Meetecho's GStreamer WHIP client (a third-party
// native publisher) publishes H.264 + Opus to a real node, with trickled
// candidates (its default) and with candidates in the offer (-n). A member of
// the channel sees stream-added; ffmpeg plays the stream over RTMP and
// HTTP-FLV and decodes 320x240 H.264 and AAC carrying the 440 Hz tone. On
// SIGINT the client DELETEs its session and the member sees stream-removed.
// The offer is the client's own, unchanged: x264's constrained baseline
// (profile-level-id 42c0xx), Opus in a bundle-only section. HTTP, RTMP and
// FLV stay on 127.0.0.1; the node's WebRTC listens on a non-loopback
// address, the only kind libnice can reach (libniceHostIP): the test runs in
// its own network namespace whose only other interface is a veth pair with
// a private address, so no packet can leave the machine.
func TestInteropGStreamerWHIP(t *testing.T) {
	if os.Getenv(netnsEnv) != "1" {
		whipClientPath(t)
		needTool(t, "gcc")
		needTool(t, "ffmpeg")
	}
	const vethSetup = "ip link set lo up && ip link add mrtc0 type veth peer name mrtc1 && " +
		"ip addr add 10.99.0.1/24 dev mrtc0 && ip link set mrtc0 up && ip link set mrtc1 up"
	if os.Getenv(netnsEnv) != "1" {
		// A kernel without veth (some containers): the host's own
		// non-loopback address keeps the traffic inside the machine too.
		if out, err := exec.Command("unshare", "-n", "sh", "-c", vethSetup).CombinedOutput(); err != nil {
			t.Logf("no veth pair in a network namespace (%v: %s); WebRTC uses this host's own address", err, strings.TrimSpace(string(out)))
			gstreamerWHIPTest(t)
			return
		}
	}
	inNetns(t, "TestInteropGStreamerWHIP", 4*time.Minute, "interop gst:", vethSetup, gstreamerWHIPTest)
}

func gstreamerWHIPTest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		uid     uint32
		trickle bool
	}{
		{"trickle", 41, true},
		{"no-trickle", 42, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostIP := libniceHostIP(t)
			e := newNodeEnv(t, func(c *config.Config) { c.WebRTC.UDPAddr = net.JoinHostPort(hostIP, "0") })
			needTool(t, "ffprobe")
			rec := newWHIPRecorder(t, e.n.HTTPAddr())
			mp := &recEndpoint{}
			if _, err := e.n.Channels().Join(channel.JoinRequest{App: e.app.ID, Channel: "room", UID: 900, Endpoint: mp}); err != nil {
				t.Fatal(err)
			}
			uid := fmt.Sprint(tc.uid)
			args := []string{"-u", rec.url + "/whip/" + e.app.ID + "/room/" + uid, "-t", e.token("room", uid, token.RolePublisher),
				"-A", gstAudioPipeline, "-V", gstVideoPipeline, "-o", "-l", "7"}
			if !tc.trickle {
				args = append(args, "-n")
			}
			wc := startWHIPClient(t, args...)

			checkOfferExchange(t, rec, wc, tc.trickle)
			wc.waitFor(t, "stream-added for the GStreamer publisher", func() bool { return mp.saw(channel.EventStreamStarted, tc.uid) })
			wc.waitFor(t, "live stream", func() bool { return e.n.Media().Live(mediaKey(e.app.ID, uid)) })

			// What the node announces as the stream's codecs, then what ffmpeg decodes.
			probed := probe(t, e.playURL("rtmp", uid))
			var video, audio bool
			for _, s := range probed {
				switch s.CodecType {
				case "video":
					video = s.CodecName == "h264" && s.Width == 320 && s.Height == 240
				case "audio":
					audio = s.CodecName == "aac"
				}
			}
			if !video || !audio {
				t.Errorf("RTMP streams %+v, want h264 320x240 and aac", probed)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			// 15 frames/s for 4 s: 60 frames; allow for a late first keyframe.
			for _, l := range checkPlayedTone(ctx, t, e, uid, 30, 40*time.Second) {
				t.Logf("interop gst: %s %s", tc.name, l)
			}

			// SIGINT: the client DELETEs its session; the member sees stream-removed.
			if err := wc.stop(syscall.SIGINT, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			dels := rec.find(http.MethodDelete)
			if len(dels) != 1 || dels[0].status != http.StatusOK {
				t.Fatalf("whip-client's DELETE on SIGINT: %v", dels)
			}
			if posts := rec.find(http.MethodPost); len(posts) == 1 && dels[0].path != posts[0].location {
				t.Errorf("DELETE %s, but the session is %s", dels[0].path, posts[0].location)
			}
			waitCond(t, "stream-removed after the client's DELETE", nil, func() bool { return mp.saw(channel.EventStreamStopped, tc.uid) })
			for _, x := range rec.exchanges() {
				t.Logf("whip-client -> node: %v", x)
			}
		})
	}
}

// checkOfferExchange checks the POST (and, trickling, the PATCHes) the
// client made: one offer answered 201 with Location and ETag; trickled
// candidates are accepted with 204.
func checkOfferExchange(t *testing.T, rec *whipRecorder, wc *whipClient, trickle bool) {
	t.Helper()
	posts := rec.await(t, wc, http.MethodPost)
	if len(posts) != 1 || posts[0].status != http.StatusCreated || posts[0].location == "" || posts[0].etag == "" {
		t.Fatalf("whip-client's offer: %v", posts)
	}
	offer := posts[0].body
	t.Logf("whip-client offer:\n%s", offer)
	if hasCand := strings.Contains(offer, "a=candidate:"); hasCand == trickle {
		t.Errorf("offer has candidates: %v, trickling: %v", hasCand, trickle)
	}
	if !trickle {
		return
	}
	for _, p := range rec.await(t, wc, http.MethodPatch) {
		if p.status != http.StatusNoContent {
			t.Fatalf("trickle PATCH refused: %v\n%s", p, p.body)
		}
	}
}
