package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/admission"
	"github.com/minirtc/minirtc/internal/flv"
	"github.com/minirtc/minirtc/internal/flvtag"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/rtmp"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// mediaEnv is a hub with its RTMP and FLV servers on loopback, authorizing
// with a real admission.MediaAuthorizer over a memory store.
type mediaEnv struct {
	t        *testing.T
	hub      *media.Hub
	signer   *token.URLSigner
	app      store.App
	rtmpAddr string
	httpURL  string
	obs      *recObserver
}

// recObserver records hub events.
type recObserver struct {
	mu     sync.Mutex
	events []string
	ch     chan string
}

func (o *recObserver) add(ev string) {
	o.mu.Lock()
	o.events = append(o.events, ev)
	o.mu.Unlock()
	select {
	case o.ch <- ev:
	default:
	}
}
func (o *recObserver) MediaStarted(k media.Key, _ media.Info) { o.add("started:" + k.UID) }
func (o *recObserver) MediaPaused(k media.Key)                { o.add("paused:" + k.UID) }
func (o *recObserver) MediaResumed(k media.Key, _ media.Info) { o.add("resumed:" + k.UID) }
func (o *recObserver) MediaStopped(k media.Key, _ error)      { o.add("stopped:" + k.UID) }

// wait blocks until event ev is reported (or was already).
func (o *recObserver) wait(t *testing.T, ev string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		o.mu.Lock()
		for _, e := range o.events {
			if e == ev {
				o.mu.Unlock()
				return
			}
		}
		o.mu.Unlock()
		select {
		case <-o.ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("event %q not reported; got %v", ev, o.snapshot())
		}
	}
}

func (o *recObserver) snapshot() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.events...)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

func newMediaEnv(t *testing.T, cfg media.Config) *mediaEnv {
	t.Helper()
	log := testLogger(t)
	st := store.NewMemory()
	app, err := store.NewApp("e2e", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	obs := &recObserver{ch: make(chan string, 64)}
	hub, err := media.NewHub(cfg, obs, log)
	if err != nil {
		t.Fatal(err)
	}
	signer := token.NewURLSigner([]byte("e2e-node-secret"))
	auth := &admission.MediaAuthorizer{Signer: signer, Apps: st}

	rs, err := rtmp.NewServer(rtmp.Config{}, hub, auth, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rs.Serve(ctx, ln) }()

	fs, err := flv.NewServer(flv.Config{}, hub, auth, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	fs.Register(mux)
	hs := httptest.NewServer(mux)

	t.Cleanup(func() {
		hub.Close()
		fs.Close()
		hs.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("rtmp serve: %v", err)
		}
	})
	return &mediaEnv{t: t, hub: hub, signer: signer, app: app, rtmpAddr: ln.Addr().String(), httpURL: hs.URL, obs: obs}
}

func (e *mediaEnv) stream(uid string) string { return token.StreamName(e.app.ID, "room", uid) }

func (e *mediaEnv) rtmpURL(action token.Action, uid string) string {
	s := e.stream(uid)
	return fmt.Sprintf("rtmp://%s/live/%s?%s", e.rtmpAddr, s, e.signer.Query(action, s, time.Now().Add(time.Hour)))
}

func (e *mediaEnv) flvURL(uid string) string {
	s := e.stream(uid)
	return fmt.Sprintf("%s/live/%s.flv?%s", e.httpURL, s, e.signer.Query(token.ActionPlay, s, time.Now().Add(time.Hour)))
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required (the test script installs it): %v", name, err)
	}
	return p
}

// publishArgs: ffmpeg as a live-pusher (H.264 without B-frames + AAC).
func publishArgs(url string, seconds float64, video, audio bool) []string {
	return publishArgsGOP(url, seconds, video, audio, 50)
}

// publishArgsGOP is publishArgs with another keyframe interval (frames).
func publishArgsGOP(url string, seconds float64, video, audio bool, gop int) []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-re"}
	if video {
		args = append(args, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25")
	}
	if audio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100")
	}
	args = append(args, "-t", fmt.Sprint(seconds))
	if video {
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", fmt.Sprint(gop), "-bf", "0", "-pix_fmt", "yuv420p")
	}
	if audio {
		args = append(args, "-c:a", "aac", "-b:a", "64k")
	}
	return append(args, "-f", "flv", url)
}

// recordCmd: ffmpeg as a player that copies the stream into an FLV file.
func recordCmd(ctx context.Context, t *testing.T, url, out string) *exec.Cmd {
	return exec.CommandContext(ctx, needTool(t, "ffmpeg"), "-hide_banner", "-loglevel", "error",
		"-rw_timeout", "20000000", "-i", url, "-c", "copy", "-f", "flv", "-y", out)
}

// flvStats summarizes a recorded FLV file with our own demuxer.
type flvStats struct {
	hasVideo, hasAudio bool
	video, audio       int // media frames (not sequence headers)
	firstVideoKey      bool
	videoTS, audioTS   []uint32
	monotonic          bool
}

func readFLV(t *testing.T, path string) flvStats {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hv, ha, rest, err := flvtag.ParseHeader(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	st := flvStats{hasVideo: hv, hasAudio: ha, monotonic: true}
	for len(rest) > 0 {
		tag, r, err := flvtag.ParseTag(rest)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rest = r
		switch tag.Type {
		case flvtag.TagVideo:
			v, err := flvtag.ParseVideoBody(tag.Body)
			if err != nil || v.PacketType != 1 {
				continue
			}
			if st.video == 0 {
				st.firstVideoKey = v.Keyframe
			}
			if n := len(st.videoTS); n > 0 && tag.Timestamp < st.videoTS[n-1] {
				st.monotonic = false
			}
			st.video++
			st.videoTS = append(st.videoTS, tag.Timestamp)
		case flvtag.TagAudio:
			a, err := flvtag.ParseAudioBody(tag.Body)
			if err != nil || a.PacketType != 1 {
				continue
			}
			if n := len(st.audioTS); n > 0 && tag.Timestamp < st.audioTS[n-1] {
				st.monotonic = false
			}
			st.audio++
			st.audioTS = append(st.audioTS, tag.Timestamp)
		}
	}
	return st
}

type probeStream struct {
	CodecType  string `json:"codec_type"`
	CodecName  string `json:"codec_name"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	SampleRate string `json:"sample_rate"`
}

func runWait(cmd *exec.Cmd) error {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, stderr.String())
		}
		return err
	}
	return nil
}

func mediaKey(app, uid string) media.Key { return media.Key{AppID: app, Channel: "room", UID: uid} }
