package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/bench/synth"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// smallRun is a short, light configuration for tests.
func smallRun(cfg Config) Config {
	cfg.Readers = 3
	cfg.Rate = 20
	cfg.Hold = 2500 * time.Millisecond
	cfg.Timeout = 5 * time.Second
	cfg.Interval = 500 * time.Millisecond
	cfg.Video = synth.VideoConfig{Width: 160, Height: 128, FPS: 15, GOP: 8, Bitrate: 150_000}
	return cfg
}

// checkReport asserts what every successful run must show.
func checkReport(t *testing.T, rep *Report, readers int) {
	t.Helper()
	var text bytes.Buffer
	rep.WriteText(&text)
	t.Logf("report:\n%s", text.String())
	if rep.PublishersOK != rep.Publishers || rep.Publishers == 0 {
		t.Fatalf("publishers %d/%d", rep.PublishersOK, rep.Publishers)
	}
	if rep.ReadersStarted != readers || rep.ReadersPlaying != readers || rep.ReadersFailed != 0 || rep.ReadersSurvived != readers {
		t.Fatalf("readers started %d playing %d failed %d survived %d, want %d; errors %v",
			rep.ReadersStarted, rep.ReadersPlaying, rep.ReadersFailed, rep.ReadersSurvived, readers, rep.Errors)
	}
	if rep.FirstFrame.Count != readers || rep.FirstFrame.P50 <= 0 || rep.PlayConnect.Count != readers {
		t.Fatalf("first frame %+v, play connect %+v", rep.FirstFrame, rep.PlayConnect)
	}
	if rep.Latency.Count == 0 || rep.Latency.P50 <= 0 || rep.Latency.P99 < rep.Latency.P50 {
		t.Fatalf("latency %+v", rep.Latency)
	}
	// Audio latency is measured by RTMP and HTTP-FLV readers (the runs
	// here have audio), not by WHEP readers.
	audioTimed := slices.ContainsFunc(rep.Readers, func(r ReaderResult) bool { return r.Proto != ProtoWHEP })
	if audioTimed != (rep.AudioLatency.Count > 0) || rep.AudioLatency.P99 < rep.AudioLatency.P50 {
		t.Fatalf("audio latency %+v, want some unless all readers are WHEP", rep.AudioLatency)
	}
	if audioTimed && !strings.Contains(text.String(), "audio end-to-end latency") {
		t.Fatal("summary lacks the audio end-to-end latency")
	}
	if rep.ReaderKbps.Count != readers || rep.ReaderKbps.Min <= 0 || rep.PublishedKbps <= 0 {
		t.Fatalf("reader kbit/s %+v, published %v", rep.ReaderKbps, rep.PublishedKbps)
	}
	for _, r := range rep.Readers {
		if r.VideoFrames == 0 || r.AudioFrames == 0 {
			t.Fatalf("reader %+v got no video or no audio", r)
		}
		if r.Proto == ProtoWHEP && (r.AudioLatencyP50MS != 0 || r.AudioLatencyP99MS != 0) {
			t.Fatalf("WHEP reader %+v has an audio latency: its RTP clocks give none", r)
		}
	}
	if rep.Drops.FramesExpected == 0 || rep.Drops.Unstamped != 0 {
		t.Fatalf("drops %+v", rep.Drops)
	}
	if len(rep.Timeline) == 0 {
		t.Fatal("no timeline")
	}
	for _, want := range []string{"first frame", "end-to-end latency", "delivered bitrate", "frame drops"} {
		if !strings.Contains(text.String(), want) {
			t.Fatalf("summary lacks %q", want)
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil || back["first_frame"] == nil || back["e2e_latency"] == nil || back["audio_latency"] == nil {
		t.Fatalf("JSON report: %v %s", err, b)
	}
}

func TestMediaOnlyRTMP(t *testing.T) {
	r := newRelay(t)
	cfg := smallRun(Config{RTMPURL: r.rtmpURL("/live/cam1?token=abc")})
	var progress bytes.Buffer
	rep, err := Run(context.Background(), cfg, testLogger(t), &progress)
	if err != nil {
		t.Fatalf("%v: %v", err, rep.Errors)
	}
	checkReport(t, rep, 3)
	if rep.Target != r.rtmpURL("/live/cam1?…") {
		t.Fatalf("target %q: the token must not be printed", rep.Target)
	}
	if rep.Mode != ModeMediaOnly || rep.Proto != ProtoRTMP {
		t.Fatalf("mode %s proto %s", rep.Mode, rep.Proto)
	}
	if !strings.Contains(progress.String(), "\r") || !strings.Contains(progress.String(), "playing") {
		t.Fatalf("progress line %q", progress.String())
	}
}

func TestMediaOnlyFLV(t *testing.T) {
	r := newRelay(t)
	cfg := smallRun(Config{RTMPURL: r.rtmpURL("/live/cam1"), FLVURL: r.flvURL("/live/cam1.flv")})
	rep, err := Run(context.Background(), cfg, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, 3)
	if rep.Proto != ProtoFLV {
		t.Fatalf("proto %s", rep.Proto)
	}
}

// TestReaderFailures: readers that cannot play are reported with their
// error, and the run still completes.
func TestReaderFailures(t *testing.T) {
	r := newRelay(t)
	cfg := smallRun(Config{RTMPURL: r.rtmpURL("/live/cam1"), FLVURL: "http://127.0.0.1:1/nothing.flv"})
	cfg.Hold = 500 * time.Millisecond
	rep, err := Run(context.Background(), cfg, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ReadersFailed != 3 || rep.ReadersPlaying != 0 || len(rep.Errors) == 0 {
		t.Fatalf("failed %d playing %d errors %v", rep.ReadersFailed, rep.ReadersPlaying, rep.Errors)
	}
	for k := range rep.Errors {
		if !strings.HasPrefix(k, "flv-play: ") {
			t.Fatalf("error key %q", k)
		}
	}
}

// TestNoPublisher: a publish URL nobody listens on ends the run with an
// error and a report that says why.
func TestNoPublisher(t *testing.T) {
	cfg := smallRun(Config{RTMPURL: "rtmp://127.0.0.1:1/live/x"})
	rep, err := Run(context.Background(), cfg, testLogger(t), nil)
	if err == nil || rep == nil || rep.PublishersOK != 0 || len(rep.Errors) != 1 {
		t.Fatalf("err %v report %+v", err, rep)
	}
}

func TestInterrupt(t *testing.T) {
	r := newRelay(t)
	cfg := smallRun(Config{RTMPURL: r.rtmpURL("/live/cam1")})
	cfg.Hold = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	rep, err := Run(ctx, cfg, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || rep.ReadersFailed != 0 {
		t.Fatalf("interrupted %v failed %d errors %v", rep.Interrupted, rep.ReadersFailed, rep.Errors)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"nothing", Config{}, "give a server URL"},
		{"both", Config{Server: "http://x", RTMPURL: "rtmp://x/a/b"}, "not both"},
		{"server scheme", Config{Server: "ftp://x", AppID: strings.Repeat("a", 32)}, "want http"},
		{"app id", Config{Server: "http://x", AppID: "short"}, "app id"},
		{"cert", Config{Server: "http://x", AppID: strings.Repeat("a", 32), AppCert: "x"}, "certificate"},
		{"urls in signalling", Config{Server: "http://x", AppID: strings.Repeat("a", 32), FLVURL: "http://y"}, "media-only"},
		{"rtmp path", Config{RTMPURL: "rtmp://x/onlyapp"}, "app/stream"},
		{"rtmp scheme", Config{RTMPURL: "http://x/a/b"}, "scheme"},
		{"flv scheme", Config{RTMPURL: "rtmp://x/a/b", FLVURL: "rtmp://x/a/b"}, "FLV URL"},
		{"proto", Config{Server: "http://x", AppID: strings.Repeat("a", 32), Proto: "srt"}, "proto"},
		{"flv and whep", Config{RTMPURL: "rtmp://x/a/b", FLVURL: "http://y", WHEPURL: "http://z"}, "not both"},
		{"rate", Config{RTMPURL: "rtmp://x/a/b", Rate: -1}, "rate"},
		{"video", Config{RTMPURL: "rtmp://x/a/b", Video: synth.VideoConfig{Width: 10, Height: 10}}, "multiples of 16"},
		{"token ttl negative", Config{RTMPURL: "rtmp://x/a/b", TokenTTL: -time.Hour}, "token TTL"},
		{"token ttl over 32 bits", Config{RTMPURL: "rtmp://x/a/b", TokenTTL: (math.MaxUint32 + 1) * time.Second}, "token TTL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if err := (Config{RTMPURL: "rtmp://x/a/b"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRTMPClientURL(t *testing.T) {
	cases := []struct{ in, path, frag string }{
		{"rtmp://h:1935/live/s1", "/live", "s1"},
		{"rtmp://h/live/app_Y2g_1?expire=9&sign=a-b", "/live", "app_Y2g_1?expire=9&sign=a-b"},
		{"rtmp://h/app/a/b", "/app", "a/b"},
		{"rtmp://h/app#key", "/app", "key"},
	}
	for _, tc := range cases {
		u, err := rtmpClientURL(tc.in)
		if err != nil || u.Path != tc.path || u.Fragment != tc.frag {
			t.Errorf("%s: %v %v", tc.in, u, err)
		}
	}
}

func timeNow() time.Time { return time.Now() }

func TestErrorGrouping(t *testing.T) {
	in := "rtmp play: read tcp 127.0.0.1:56168->127.0.0.1:1935: connection reset; [::1]:80"
	if got := addrRE.ReplaceAllString(in, "ADDR"); got != "rtmp play: read tcp ADDR->ADDR: connection reset; ADDR" {
		t.Fatal(got)
	}
}

// TestReaderThatNeverPlaysFails: an HTTP-FLV server that answers with an FLV
// header and then sends nothing leaves its readers without a picture; when
// the bench stops them they count as failed (before: neither playing nor
// failed, and the run looked clean).
func TestReaderThatNeverPlaysFails(t *testing.T) {
	r := newRelay(t)
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stalled.flv", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "video/x-flv")
		w.Write([]byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0})
		w.(http.Flusher).Flush()
		select {
		case <-req.Context().Done():
		case <-stall:
		}
	})
	hs := startHTTP(t, &http.Server{Handler: mux})
	cfg := smallRun(Config{RTMPURL: r.rtmpURL("/live/cam1"), FLVURL: hs + "/stalled.flv"})
	cfg.Hold = 500 * time.Millisecond
	rep, err := Run(context.Background(), cfg, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ReadersPlaying != 0 || rep.ReadersFailed != 3 {
		t.Fatalf("playing %d failed %d errors %v", rep.ReadersPlaying, rep.ReadersFailed, rep.Errors)
	}
	for k := range rep.Errors {
		if !strings.HasPrefix(k, "flv-play: never played") {
			t.Fatalf("error %q", k)
		}
	}
	if err := rep.Failure(); err == nil || !strings.Contains(err.Error(), "3 of 3 readers failed") {
		t.Fatalf("Failure() = %v", err)
	}
}
