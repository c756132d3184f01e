package rtmp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/media/mediatest"
	"github.com/minirtc/minirtc/internal/metrics"
	"github.com/minirtc/minirtc/internal/token"
)

// allowAll authorizes every stream name as app/room/uid 1 (benchmarks only).
type allowAll struct{}

func (allowAll) Authorize(_ context.Context, _ token.Action, _ string, _ url.Values) (token.MediaGrant, error) {
	return token.MediaGrant{AppID: "bench", Channel: "room", UID: "1"}, nil
}

// The benchmark video track (real clients can parse its sequence headers).
var benchVideo = mediatest.Video

// BenchmarkRTMPFanout is the play load benchmark: one publisher and N RTMP
// readers on loopback. The readers run in a child process (this test binary,
// TestBenchReaders), so the CPU and memory figures are the server's alone.
// Metrics: %core/100readers is the server process's CPU (publisher included)
// over N/100; -marginal subtracts the same process without readers.
// ms-p50/p99-keyframe is measured by the viewer from dialing to its first
// keyframe (TCP connect, RTMP handshake and commands included); the -server
// variant from the play command to the end of the first write, the -accept
// variant from accepting the connection (handshake and commands included).
// Run it once per N (MINIRTC_BENCH_METRICS=1 counts into the node's
// metrics, as minirtc serve does):
//
//	go test -run XXX -bench RTMPFanout -benchtime 1x ./internal/rtmp
func BenchmarkRTMPFanout(b *testing.B) {
	for _, n := range []int{100, 300, 600} {
		b.Run(fmt.Sprintf("readers=%d", n), func(b *testing.B) {
			for b.Loop() {
				runFanout(b, n)
			}
		})
	}
}

// newBenchServer is a hub and an RTMP server on it that lets everyone in,
// batching as benchInterval says; the caller closes the hub.
func newBenchServer(b *testing.B) (*media.Hub, *Server) {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewServer(Config{BatchInterval: benchInterval()}, hub, allowAll{}, log)
	if err != nil {
		hub.Close()
		b.Fatal(err)
	}
	if os.Getenv("MINIRTC_BENCH_METRICS") != "" {
		// The node's metrics on the media path (BENCHMARKS.md compares).
		srv.SetMeter(metrics.New(metrics.Config{PerAppLabels: true}).Protocol(metrics.RTMP))
	}
	return hub, srv
}

func runFanout(b *testing.B, n int) {
	hub, srv := newBenchServer(b)
	defer hub.Close()
	if os.Getenv("MINIRTC_BENCH_GORTMPLIB") != "" {
		srv.altPlay = gortmplibPlay
	}
	var srvMu sync.Mutex
	var srvLat, acceptLat []time.Duration
	srv.firstWrite = func(sinceAccept, sinceCommand time.Duration) {
		srvMu.Lock()
		srvLat = append(srvLat, sinceCommand)
		acceptLat = append(acceptLat, sinceAccept)
		srvMu.Unlock()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ctx, ln) }()
	defer func() { cancel(); wg.Wait() }()

	mediatest.MeasureFanout(b, hub, ln.Addr().String(), "TestBenchReaders", n)
	srvMu.Lock()
	defer srvMu.Unlock()
	slices.Sort(srvLat)
	slices.Sort(acceptLat)
	mediatest.ReportPercentiles(b, srvLat, "keyframe-server")
	mediatest.ReportPercentiles(b, acceptLat, "keyframe-accept")
}

// TestBenchReaders is the reader side of BenchmarkRTMPFanout, run in a child
// process; without its environment it has nothing to do.
func TestBenchReaders(t *testing.T) {
	mediatest.RunFanoutChild(t, func(addr string) (io.ReadCloser, error) {
		u, _ := url.Parse("rtmp://" + addr + "/live/bench")
		c := &gortmplib.Client{URL: u}
		if err := c.Initialize(context.Background()); err != nil {
			return nil, err
		}
		for {
			msg, err := c.Read()
			if err != nil {
				c.Close()
				return nil, err
			}
			if v, ok := msg.(*message.Video); ok && v.Type == message.VideoTypeAU && v.IsKeyFrame {
				return c.NetConn(), nil
			}
		}
	})
}

// benchInterval lets a benchmark run try another batch interval
// (MINIRTC_BENCH_INTERVAL=100ms); the default is the server's.
func benchInterval() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("MINIRTC_BENCH_INTERVAL"))
	return d
}

// gortmplibPlay is the play loop written with gortmplib's Writer (one message
// marshalled and written per packet per viewer), kept to compare with the
// shared-chunk loop: MINIRTC_BENCH_GORTMPLIB=1 go test -bench RTMPFanout ...
func gortmplibPlay(ctx context.Context, sc *gortmplib.ServerConn, rd *media.Reader) error {
	var (
		w      *gortmplib.Writer
		vt, at *gortmplib.Track
		batch  []*media.Packet
		err    error
		au     h264.AVCC
	)
	for {
		batch, err = rd.Next(ctx, batch[:0])
		if len(batch) == 0 {
			return err
		}
		if w == nil {
			video, audio := rd.Tracks()
			var tracks []*gortmplib.Track
			if video != nil {
				vt = &gortmplib.Track{Codec: &codecs.H264{SPS: video.SPS[0], PPS: video.PPS[0]}}
				tracks = append(tracks, vt)
			}
			if audio != nil {
				var cfg mpeg4audio.AudioSpecificConfig
				if err := cfg.Unmarshal(audio.Config); err != nil {
					return err
				}
				at = &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: &cfg}}
				tracks = append(tracks, at)
			}
			w = &gortmplib.Writer{Conn: sc, Tracks: tracks}
			if err := w.Initialize(); err != nil {
				return err
			}
		}
		for _, p := range batch {
			if p.Kind() == media.KindVideo {
				if err := au.Unmarshal(p.Payload); err != nil {
					continue
				}
				err = w.WriteH264(vt, p.PTS, p.DTS, au)
			} else {
				err = w.WriteMPEG4Audio(at, p.PTS, p.Payload)
			}
			if err != nil {
				return err
			}
		}
		clear(batch)
	}
}

// BenchmarkRTMPFirstKeyframe: one viewer at a time dials a live stream and
// reads up to its first keyframe (the play path's latency without load).
// ms-setup is dial, handshake and commands (gortmplib's Client.Initialize);
// ms-keyframe the whole, as in BenchmarkRTMPFanout.
//
//	go test -run XXX -bench RTMPFirstKeyframe -benchtime 200x ./internal/rtmp
func BenchmarkRTMPFirstKeyframe(b *testing.B) {
	hub, srv := newBenchServer(b)
	defer hub.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.Serve(ctx, ln) }()
	defer func() { cancel(); wg.Wait() }()
	pub, err := hub.Publish(media.Key{AppID: "bench", Channel: "room", UID: "1"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	go func() { defer wg.Done(); mediatest.PublishSynthetic(ctx, pub) }()
	time.Sleep(500 * time.Millisecond)
	u, _ := url.Parse("rtmp://" + ln.Addr().String() + "/live/bench")

	var setup, total []time.Duration
	for b.Loop() {
		start := time.Now()
		c := &gortmplib.Client{URL: u}
		if err := c.Initialize(context.Background()); err != nil {
			b.Fatal(err)
		}
		setup = append(setup, time.Since(start))
		for {
			msg, err := c.Read()
			if err != nil {
				b.Fatal(err)
			}
			if v, ok := msg.(*message.Video); ok && v.Type == message.VideoTypeAU && v.IsKeyFrame {
				break
			}
		}
		total = append(total, time.Since(start))
		c.Close()
	}
	slices.Sort(setup)
	slices.Sort(total)
	b.ReportMetric(float64(setup[len(setup)/2])/1e6, "ms-p50-setup")
	b.ReportMetric(float64(total[len(total)/2])/1e6, "ms-p50-keyframe")
	b.ReportMetric(float64(total[len(total)*99/100])/1e6, "ms-p99-keyframe")
}

// BenchmarkBatchMeter is what metrics add to one viewer's write batch: the
// batch's length (a typical 100 ms batch of 500 kbit/s video + AAC is about
// 30 chunk buffers) and one add to the node's byte counter.
//
//	go test -run XXX -bench BatchMeter ./internal/rtmp
func BenchmarkBatchMeter(b *testing.B) {
	bufs := make([][]byte, 30)
	for i := range bufs {
		bufs[i] = make([]byte, 128+i)
	}
	for _, c := range []struct {
		name string
		m    Meter
	}{{"none", noMeter{}}, {"metrics", metrics.New(metrics.Config{}).Protocol(metrics.RTMP)}} {
		b.Run(c.name, func(b *testing.B) {
			pl := &player{meter: c.m}
			for b.Loop() {
				pl.meter.BytesOut(batchBytes(bufs))
			}
		})
	}
}
