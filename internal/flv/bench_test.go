package flv

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/media/mediatest"
	"github.com/minirtc/minirtc/internal/token"
)

// allowAll authorizes every stream name as app/room/uid 1 (benchmarks only).
type allowAll struct{}

func (allowAll) Authorize(_ context.Context, _ token.Action, _ string, _ url.Values) (token.MediaGrant, error) {
	return token.MediaGrant{AppID: "bench", Channel: "room", UID: "1"}, nil
}

// BenchmarkFLVFanout is BenchmarkRTMPFanout (internal/rtmp) for HTTP-FLV: one
// publisher (500 kbit/s H.264, 2 s GOP, 64 kbit/s AAC) and N HTTP-FLV readers
// on loopback, the readers in a child process (TestBenchFLVReaders) so that
// the CPU and memory figures are the server's alone. Metrics as there; the
// keyframe latency is measured by the viewer from dialing to its first
// video keyframe tag. MINIRTC_BENCH_INTERVAL overrides the batch interval.
// Run it once per N:
//
//	go test -run XXX -bench FLVFanout -benchtime 1x ./internal/flv
func BenchmarkFLVFanout(b *testing.B) {
	for _, n := range []int{100, 300, 600} {
		b.Run(fmt.Sprintf("readers=%d", n), func(b *testing.B) {
			for b.Loop() {
				runFLVFanout(b, n)
			}
		})
	}
}

func runFLVFanout(b *testing.B, n int) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	iv, _ := time.ParseDuration(os.Getenv("MINIRTC_BENCH_INTERVAL"))
	srv, err := NewServer(Config{BatchInterval: iv}, hub, allowAll{}, log)
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: mux}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = hs.Serve(ln) }()
	defer func() {
		cancel()
		hub.Close()
		srv.Close()
		_ = hs.Close()
		wg.Wait()
	}()

	pub, err := hub.Publish(media.Key{AppID: "bench", Channel: "room", UID: "1"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	go func() { defer wg.Done(); mediatest.PublishSynthetic(ctx, pub) }()
	time.Sleep(500 * time.Millisecond)
	memBefore := mediatest.LiveBytes()
	b0, bt0 := mediatest.CPUTime(), time.Now()
	time.Sleep(3 * time.Second)
	base := float64(mediatest.CPUTime()-b0) / float64(time.Since(bt0)) * 100

	child := exec.Command(os.Args[0], "-test.run=^TestBenchFLVReaders$", "-test.v=false")
	child.Env = append(os.Environ(), "MINIRTC_BENCH_ADDR="+ln.Addr().String(), "MINIRTC_BENCH_READERS="+strconv.Itoa(n))
	out, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	lines := bufio.NewScanner(out)
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
	b.ReportMetric(float64(int64(memAfter)-int64(memBefore))/float64(n)/1024, "KB/reader")
	b.ReportMetric(float64(d1-d0), "drops")
}

// TestBenchFLVReaders is the reader side of BenchmarkFLVFanout, run in a
// child process; without its environment it has nothing to do.
func TestBenchFLVReaders(t *testing.T) {
	addr, nStr := os.Getenv("MINIRTC_BENCH_ADDR"), os.Getenv("MINIRTC_BENCH_READERS")
	if addr == "" {
		return // only meaningful as the benchmark's child process
	}
	n, _ := strconv.Atoi(nStr)
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
			nc, err := firstKeyframe(addr)
			lat[i] = time.Since(start)
			<-sem
			ready.Done()
			if err != nil {
				t.Errorf("reader %d: %v", i, err)
				return
			}
			defer nc.Close()
			// From now on only drain the socket, as cheaply as possible.
			buf := make([]byte, 64<<10)
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

// firstKeyframe dials addr, asks for the stream over HTTP-FLV and reads
// until the first H.264 keyframe tag.
func firstKeyframe(addr string) (net.Conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(nc, "GET /live/bench.flv HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		nc.Close()
		return nil, fmt.Errorf("status %s", res.Status)
	}
	body := bufio.NewReader(res.Body)
	if _, err := body.Discard(HeaderSize + 4); err != nil {
		nc.Close()
		return nil, err
	}
	var hdr [TagHeaderSize]byte
	for {
		if _, err := io.ReadFull(body, hdr[:]); err != nil {
			nc.Close()
			return nil, err
		}
		size := int(binary.BigEndian.Uint32(hdr[0:4]) & 0xffffff)
		first, err := body.Peek(1)
		if err != nil {
			nc.Close()
			return nil, err
		}
		if hdr[0] == TagVideo && first[0]>>4 == 1 {
			first, err = body.Peek(2)
			if err == nil && first[1] == 1 { // an AVC NALU, not the sequence header
				return nc, nil
			}
		}
		if _, err := body.Discard(size + 4); err != nil {
			nc.Close()
			return nil, err
		}
	}
}
