package e2e

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/token"
)

// TestInteropBrowser: the WHIP RFC author's reference JavaScript clients
// (npm whip-whep, medooze/whip-whep-js, pinned in test/e2e/interop) in
// headless Chromium with a fake camera and microphone, used as a developer
// would: WHIPClient.publish with the browser's default codec list (the node
// must pick H.264 from it), candidates trickled by PATCH, and
// WHEPClient.view of a mini program's stream (ffmpeg over RTMP). The page is
// served from another origin than the node, so CORS is exercised too. The
// viewer must decode video and audio; ffprobe and ffmpeg must see decodable
// H.264 and AAC of the browser's stream over RTMP. WHIPClient.restart (an
// ICE restart PATCH with If-Match: *) must leave media flowing on the new
// ICE credentials, and stop() must DELETE both sessions. Everything runs in
// a network namespace with only loopback: the test re-executes itself under
// `unshare -n`.
func TestInteropBrowser(t *testing.T) {
	version := whipWhepInstalled(t)
	inLoopbackNetns(t, "TestInteropBrowser", 4*time.Minute, "interop:", func(t *testing.T) {
		interopBrowserTest(t, version)
	})
}

func interopBrowserTest(t *testing.T, version string) {
	e := newNodeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Second)
	defer cancel()
	const pubUID, playUID = "5", "6"

	// A mini program (ffmpeg) publishes uid 6 over RTMP.
	e.joinPublisher(6)
	push := pushCmd(ctx, t, e.pushURL(playUID), 200)
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = push.Wait()
	}()
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, playUID))

	// The page and the package's modules come from another origin than the
	// node's.
	pages := httptest.NewServer(http.FileServer(http.Dir(interopDir)))
	t.Cleanup(pages.Close)
	q := url.Values{
		"whip": {"http://" + e.n.HTTPAddr() + "/whip/" + e.app.ID + "/room/" + pubUID}, "wtoken": {e.token("room", pubUID, token.RolePublisher)},
		"whep": {"http://" + e.n.HTTPAddr() + "/whep/" + e.app.ID + "/room/" + playUID}, "vtoken": {e.token("room", "1001", token.RoleSubscriber)},
	}
	cdp, _ := openChromium(ctx, t, pages.URL+"/whip-whep.html?"+q.Encode(), "/whip-whep.html")
	page := newInteropPage(ctx, t, cdp)

	// WHIP: the node picks H.264 from the browser's default offer.
	st := page.wait("WHIPClient.publish and a connected publisher", func(s interopState) bool {
		return s.WHIP.Done && s.WHIP.ConnectionState == "connected" && s.WHIP.VideoCodec != "" && s.WHIP.FramesEncoded > 0
	})
	offered, answered := sdpCodecs(t, st.WHIP.Offer, "video"), sdpCodecs(t, st.WHIP.Answer, "video")
	if !contains(offered, "VP8") || !contains(offered, "H264") {
		t.Fatalf("the browser's offer is not its default codec list: video %v", offered)
	}
	if len(answered) == 0 || !allEqual(answered, "H264") {
		t.Errorf("the node answered video %v to the default offer %v, want H264 only", answered, offered)
	}
	if !strings.EqualFold(st.WHIP.VideoCodec, "video/H264") || !strings.EqualFold(st.WHIP.AudioCodec, "audio/opus") {
		t.Errorf("the browser sends %q and %q, want video/H264 and audio/opus", st.WHIP.VideoCodec, st.WHIP.AudioCodec)
	}
	if m, ok := e.n.Channels().Member(e.app.ID, "room", 5); !ok || !m.Publishing {
		t.Fatalf("the WHIP client is not a publishing member: %+v", m)
	}

	// ffprobe and ffmpeg see the browser's stream over RTMP.
	var video, audio bool
	for _, s := range probe(t, e.playURL("rtmp", pubUID)) {
		video = video || s.CodecType == "video" && s.CodecName == "h264"
		audio = audio || s.CodecType == "audio" && s.CodecName == "aac"
	}
	if !video || !audio {
		t.Errorf("ffprobe over RTMP: video h264 %t, audio aac %t", video, audio)
	}
	frames, pcm := decodeWithFFmpeg(ctx, t, e.playURL("rtmp", pubUID), "", 3)
	if frames < 10 || energyOf(pcm) == 0 {
		t.Errorf("ffmpeg over RTMP decoded %d video frames and %d samples (energy %.1f) of the browser's stream",
			frames, len(pcm), energyOf(pcm))
	}

	// WHEP: the viewer decodes the mini program's video and audio.
	st = page.wait("WHEP frames and audio energy", func(s interopState) bool {
		return s.WHEP.Done && s.WHEP.FramesDecoded > 0 && s.WHEP.TotalAudioEnergy > 0
	})
	// Both clients trickled their candidates (PATCH) and the node took them.
	st = page.wait("the trickle PATCHes of both clients answered", func(s interopState) bool {
		patched := map[string]bool{}
		for _, x := range s.find(http.MethodPatch) {
			if x.Status == 0 && x.Error == "" {
				return false // in flight
			}
			patched[x.URL] = true
		}
		return patched[s.WHIP.Resource] && patched[s.WHEP.Resource]
	})
	for _, x := range st.find(http.MethodPatch) {
		if x.Status != http.StatusNoContent || !strings.Contains(x.Body, "a=candidate:") && !strings.Contains(x.Body, "a=end-of-candidates") {
			t.Errorf("trickle PATCH: %s", x)
		}
	}
	if v := sdpCodecs(t, st.WHEP.Answer, "video"); len(v) == 0 || !allEqual(v, "H264") {
		t.Errorf("the node answered the WHEP offer with video %v, want H264", v)
	}
	t.Logf("interop: whip-whep %s: WHIP offer video %v -> answer %v, the browser sends %s + %s; ffmpeg over RTMP decoded %d frames, %d samples",
		version, offered, answered, st.WHIP.VideoCodec, st.WHIP.AudioCodec, frames, len(pcm))
	t.Logf("interop: WHEP offer (%s) video %v -> answer (%s) %v; the viewer decoded %d frames, audio energy %.4f",
		sdpDirection(t, st.WHEP.Offer, "video"), sdpCodecs(t, st.WHEP.Offer, "video"),
		sdpDirection(t, st.WHEP.Answer, "video"), sdpCodecs(t, st.WHEP.Answer, "video"),
		st.WHEP.FramesDecoded, st.WHEP.TotalAudioEnergy)

	interopRestart(ctx, t, e, page, st)

	// stop(): both clients close their connection, then DELETE their
	// session. The node may already have ended the session on the DTLS
	// close; it remembers recently ended sessions, so the DELETE still gets
	// 200. The publisher leaves the channel, its stream ends, and the
	// viewer's feed goes.
	page.call("stopAll")
	st = page.wait("both clients to stop", func(s interopState) bool { return s.Stopped })
	dels := st.find(http.MethodDelete)
	var statuses []int
	for _, x := range dels {
		statuses = append(statuses, x.Status)
		if x.Status != http.StatusOK {
			t.Errorf("DELETE: %s", x)
		}
	}
	if len(dels) != 2 {
		t.Errorf("%d DELETEs, want 2: %v", len(dels), dels)
	}
	t.Logf("interop: stop(): DELETE answered %v", statuses)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, member := e.n.Channels().Member(e.app.ID, "room", 5)
		readers := 0
		for _, s := range e.n.Media().StreamStats() {
			if s.Key == mediaKey(e.app.ID, playUID) {
				readers = s.Readers
			}
		}
		if !member && !e.n.Media().Live(mediaKey(e.app.ID, pubUID)) && readers == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after stop(): publisher member %t, its stream live %t, %d readers of the mini program's stream",
				member, e.n.Media().Live(mediaKey(e.app.ID, pubUID)), readers)
		}
	}
}

// interopRestart: WHIPClient.restart() PATCHes new ICE credentials with
// If-Match: * and applies the node's answer fragment. The connection must
// come back on the new credentials, the browser must keep sending, and the
// node must keep receiving: video packets counted by a hub reader after the
// restart, and a fresh ffmpeg RTMP reader decodes frames.
func interopRestart(ctx context.Context, t *testing.T, e *nodeEnv, page *interopPage, before interopState) {
	t.Helper()
	key := mediaKey(e.app.ID, "5")
	counter := countVideo(t, e.n.Media(), key)
	oldLocal, oldRemote := sdpUfrag(before.WHIP.Offer), before.WHIP.RemoteUfrag
	patches := len(before.find(http.MethodPatch))

	page.call("restartWHIP")
	st := page.wait("WHIPClient.restart", func(s interopState) bool {
		if r := s.WHIP.Restart; r != nil && r.Error != "" {
			var restarts []exchange
			for _, x := range s.find(http.MethodPatch)[patches:] {
				if x.IfMatch == "*" {
					restarts = append(restarts, x)
				}
			}
			t.Fatalf("WHIPClient.restart: %s; the ICE restart PATCHes: %v", r.Error, restarts)
		}
		return s.WHIP.Restart != nil && s.WHIP.Restart.Done
	})
	r := st.WHIP.Restart
	if r.LocalUfrag == "" || r.LocalUfrag == oldLocal {
		t.Fatalf("the restart kept the local ICE ufrag %q", oldLocal)
	}
	var restart exchange
	for _, x := range st.find(http.MethodPatch)[patches:] {
		if x.IfMatch == "*" {
			restart = x
		}
	}
	if restart.Status != http.StatusOK || st.WHIP.RemoteUfrag == "" || st.WHIP.RemoteUfrag == oldRemote {
		t.Fatalf("the node's ICE ufrag after the restart is %q (before %q); the restart PATCH: %s",
			st.WHIP.RemoteUfrag, oldRemote, restart)
	}
	// Chromium keeps using the old candidate pair until a pair of the new
	// ICE generation is selected: wait for that.
	st = page.wait("the WHIP connection on a candidate pair with the new ICE credentials", func(s interopState) bool {
		return s.WHIP.PairLocalUfrag == r.LocalUfrag && s.WHIP.ConnectionState == "connected"
	})

	// Media keeps flowing on the new ICE session.
	base, baseVideo := st.WHIP, counter.n.Load()
	st = page.wait("frames encoded and sent after the restart", func(s interopState) bool {
		return s.WHIP.FramesEncoded >= base.FramesEncoded+30 && s.WHIP.BytesSent > base.BytesSent &&
			s.WHIP.AudioBytesSent > base.AudioBytesSent
	})
	for deadline := time.Now().Add(30 * time.Second); counter.n.Load() < baseVideo+30; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the node got %d video frames of the browser since the restart", counter.n.Load()-baseVideo)
		}
	}
	frames, _ := decodeWithFFmpeg(ctx, t, e.playURL("rtmp", "5"), "", 2)
	if frames < 10 {
		t.Errorf("after the restart, a fresh ffmpeg RTMP reader decoded %d frames", frames)
	}
	t.Logf("interop: WHIPClient.restart: ICE ufrag %s -> %s (node %s -> %s), the PATCH answered %d with ETag %q, %d candidate pair changes; then %d frames encoded, %d received by the node, ffmpeg decoded %d",
		oldLocal, r.LocalUfrag, oldRemote, st.WHIP.RemoteUfrag, restart.Status, restart.ETag, st.WHIP.PairChanges,
		st.WHIP.FramesEncoded-base.FramesEncoded, counter.n.Load()-baseVideo, frames)
}

func allEqual(list []string, v string) bool {
	for _, s := range list {
		if !strings.EqualFold(s, v) {
			return false
		}
	}
	return true
}

func energyOf(pcm []float32) float64 {
	var e float64
	for _, v := range pcm {
		e += math.Abs(float64(v))
	}
	return e
}
