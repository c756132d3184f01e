package rtmp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
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
	"github.com/minirtc/minirtc/internal/token"
)

// allowAll authorizes every stream name as app/room/uid 1 (benchmarks only).
type allowAll struct{}

func (allowAll) Authorize(_ context.Context, _ token.Action, _ string, _ url.Values) (token.MediaGrant, error) {
	return token.MediaGrant{AppID: "bench", Channel: "room", UID: "1"}, nil
}

// The benchmark tracks (real clients can parse their sequence headers).
var (
	benchVideo = mediatest.Video
	benchAudio = mediatest.Audio
)

// BenchmarkRTMPFanout is the play load benchmark: one publisher and N RTMP
// readers on loopback. The readers run in a child process (this test binary,
// TestBenchReaders), so the CPU and memory figures are the server's alone.
// Metrics: %core/100readers is the server process's CPU (publisher included)
// over N/100; -marginal subtracts the same process without readers.
// ms-p50/p99-keyframe is measured by the viewer from dialing to its first
// keyframe (TCP connect, RTMP handshake and commands included); the -server
// variant from the play command to the end of the first write, the -accept
// variant from accepting the connection (handshake and commands included).
// Run it once per N:
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

func runFanout(b *testing.B, n int) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	srv, err := NewServer(Config{BatchInterval: benchInterval()}, hub, allowAll{}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
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
	wg.Add(2)
	go func() { defer wg.Done(); _ = srv.Serve(ctx, ln) }()
	defer func() { cancel(); wg.Wait() }()

	pub, err := hub.Publish(media.Key{AppID: "bench", Channel: "room", UID: "1"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	go func() { defer wg.Done(); mediatest.PublishSynthetic(ctx, pub) }()
	time.Sleep(500 * time.Millisecond)
	memBefore := mediatest.LiveBytes()
	// Baseline: the publisher and the runtime with no reader.
	b0, bt0 := mediatest.CPUTime(), time.Now()
	time.Sleep(3 * time.Second)
	base := float64(mediatest.CPUTime()-b0) / float64(time.Since(bt0)) * 100

	child := exec.Command(os.Args[0], "-test.run=^TestBenchReaders$", "-test.v=false")
	child.Env = append(os.Environ(), "MINIRTC_BENCH_ADDR="+ln.Addr().String(), "MINIRTC_BENCH_READERS="+strconv.Itoa(n))
	out, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	// The child prints "ready" when all readers play, then latencies at the end.
	if !lines.Scan() || lines.Text() != "ready" {
		b.Fatalf("reader process: %q %v", lines.Text(), lines.Err())
	}
	time.Sleep(time.Second)
	memAfter := mediatest.LiveBytes()
	const window = 6 * time.Second
	c0, t0, d0 := mediatest.CPUTime(), time.Now(), hub.Stats().Drops
	time.Sleep(window)
	c1, t1, d1 := mediatest.CPUTime(), time.Now(), hub.Stats().Drops
	hub.EndStream(media.Key{AppID: "bench", Channel: "room", UID: "1"}, nil)

	var lat []time.Duration
	for lines.Scan() {
		var res []time.Duration
		if err := json.Unmarshal(lines.Bytes(), &res); err == nil {
			lat = res
		}
	}
	_ = child.Wait()
	if len(lat) != n {
		b.Fatalf("%d latencies from %d readers", len(lat), n)
	}
	slices.Sort(lat)
	cpu := float64(c1-c0) / float64(t1.Sub(t0)) * 100 // % of one core
	b.ReportMetric(cpu/float64(n)*100, "%core/100readers")
	b.ReportMetric((cpu-base)/float64(n)*100, "%core/100readers-marginal")
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "ms-p50-keyframe")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "ms-p99-keyframe")
	srvMu.Lock()
	slices.Sort(srvLat)
	if len(srvLat) > 0 {
		b.ReportMetric(float64(srvLat[len(srvLat)/2])/1e6, "ms-p50-keyframe-server")
		b.ReportMetric(float64(srvLat[len(srvLat)*99/100])/1e6, "ms-p99-keyframe-server")
		slices.Sort(acceptLat)
		b.ReportMetric(float64(acceptLat[len(acceptLat)/2])/1e6, "ms-p50-keyframe-accept")
		b.ReportMetric(float64(acceptLat[len(acceptLat)*99/100])/1e6, "ms-p99-keyframe-accept")
	}
	srvMu.Unlock()
	b.ReportMetric(float64(int64(memAfter)-int64(memBefore))/float64(n)/1024, "KB/reader")
	b.ReportMetric(float64(d1-d0), "drops")
}

// TestBenchReaders is the reader side of BenchmarkRTMPFanout, run in a child
// process; without its environment it has nothing to do.
func TestBenchReaders(t *testing.T) {
	addr, nStr := os.Getenv("MINIRTC_BENCH_ADDR"), os.Getenv("MINIRTC_BENCH_READERS")
	if addr == "" {
		return // only meaningful as the benchmark's child process
	}
	n, _ := strconv.Atoi(nStr)
	u, _ := url.Parse("rtmp://" + addr + "/live/bench")
	lat := make([]time.Duration, n)
	var ready, done sync.WaitGroup
	ready.Add(n)
	done.Add(n)
	sem := make(chan struct{}, 4) // a few connects at a time, as viewers arrive
	for i := range n {
		go func() {
			defer done.Done()
			sem <- struct{}{}
			start := time.Now()
			c := &gortmplib.Client{URL: u}
			err := c.Initialize(context.Background())
			if err != nil {
				<-sem
				ready.Done()
				t.Errorf("reader %d: %v", i, err)
				return
			}
			defer c.Close()
			for {
				msg, err := c.Read()
				if err != nil {
					<-sem
					ready.Done()
					return
				}
				if v, ok := msg.(*message.Video); ok && v.Type == message.VideoTypeAU && v.IsKeyFrame {
					lat[i] = time.Since(start)
					break
				}
			}
			<-sem
			ready.Done()
			// From now on only drain the socket, as cheaply as possible, so
			// that this process takes little CPU from the server's.
			buf := make([]byte, 64<<10)
			nc := c.NetConn()
			for {
				if _, err := nc.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	ready.Wait()
	fmt.Println("ready")
	done.Wait()
	b, _ := json.Marshal(lat)
	fmt.Println(string(b))
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
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	srv, err := NewServer(Config{BatchInterval: benchInterval()}, hub, allowAll{}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
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
