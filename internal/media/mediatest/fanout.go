package mediatest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
)

// Key is the stream the fan-out benchmarks publish.
var Key = media.Key{AppID: "bench", Channel: "room", UID: "1"}

// Child process protocol of MeasureFanout: the environment names the server
// address and the reader count; the child prints "ready" once every reader
// plays, then, when the stream ends, one JSON array of each reader's time to
// its first keyframe.
const (
	EnvAddr    = "MINIRTC_BENCH_ADDR"
	EnvReaders = "MINIRTC_BENCH_READERS"
)

// ChildArgs returns the server address and reader count a fan-out child was
// started with; ok is false in an ordinary test run.
func ChildArgs() (addr string, n int, ok bool) {
	addr = os.Getenv(EnvAddr)
	n, err := strconv.Atoi(os.Getenv(EnvReaders))
	return addr, n, addr != "" && err == nil
}

// Fanout is what MeasureFanout measured.
type Fanout struct {
	CPU, BaseCPU float64         // % of one core with the readers, and with none
	Latencies    []time.Duration // each reader's first keyframe, sorted
}

// MeasureFanout publishes the synthetic stream as Key into hub (whose
// adapter serves addr), measures this process without readers, starts
// childTest of this test binary with n readers, measures a window with all
// of them playing, ends the stream and reports the shared metrics:
// %core/100readers (-marginal without the no-reader baseline),
// ms-p50/p99-keyframe, KB/reader and drops.
func MeasureFanout(b *testing.B, hub *media.Hub, addr, childTest string, n int) Fanout {
	b.Helper()
	pub, err := hub.Publish(Key, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); PublishSynthetic(ctx, pub) }()
	defer func() { cancel(); wg.Wait() }()

	time.Sleep(500 * time.Millisecond)
	memBefore := LiveBytes()
	b0, bt0 := CPUTime(), time.Now()
	time.Sleep(3 * time.Second)
	base := float64(CPUTime()-b0) / float64(time.Since(bt0)) * 100

	child := exec.Command(os.Args[0], "-test.run=^"+childTest+"$", "-test.v=false") //nolint:gosec // G204,G702: re-runs this test binary with a test name of the caller's code
	child.Env = append(os.Environ(), EnvAddr+"="+addr, EnvReaders+"="+strconv.Itoa(n))
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
	memAfter := LiveBytes()
	const window = 6 * time.Second
	c0, t0, d0 := CPUTime(), time.Now(), hub.Stats().Drops
	time.Sleep(window)
	c1, t1, d1 := CPUTime(), time.Now(), hub.Stats().Drops
	hub.EndStream(Key, nil)

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
	cpu := float64(c1-c0) / float64(t1.Sub(t0)) * 100
	b.ReportMetric(cpu/float64(n)*100, "%core/100readers")
	b.ReportMetric((cpu-base)/float64(n)*100, "%core/100readers-marginal")
	ReportPercentiles(b, lat, "keyframe")
	b.ReportMetric(float64(int64(memAfter)-int64(memBefore))/float64(n)/1024, "KB/reader") //nolint:gosec // G115: live heap bytes, far below 2^63
	b.ReportMetric(float64(d1-d0), "drops")
	return Fanout{CPU: cpu, BaseCPU: base, Latencies: lat}
}

// ReportPercentiles reports the p50 and p99 of sorted latencies as
// ms-p50-<name> and ms-p99-<name>; nothing when there are none.
func ReportPercentiles(b *testing.B, sorted []time.Duration, name string) {
	if len(sorted) == 0 {
		return
	}
	b.ReportMetric(float64(sorted[len(sorted)/2])/1e6, "ms-p50-"+name)
	b.ReportMetric(float64(sorted[len(sorted)*99/100])/1e6, "ms-p99-"+name)
}

// RunFanoutChild is the reader side of MeasureFanout, for the child test to
// call: it does nothing in an ordinary test run. Otherwise it starts the
// readers, four connecting at a time as viewers arrive; connect dials addr
// and returns once the reader's first keyframe arrived, timed from the dial.
// Each reader then only drains its connection, as cheaply as possible so
// that the child takes little CPU from the server, until the server ends the
// stream.
func RunFanoutChild(t *testing.T, connect func(addr string) (io.ReadCloser, error)) {
	addr, n, ok := ChildArgs()
	if !ok {
		return
	}
	lat := make([]time.Duration, n)
	var ready, done sync.WaitGroup
	ready.Add(n)
	done.Add(n)
	sem := make(chan struct{}, 4)
	for i := range n {
		go func() {
			defer done.Done()
			sem <- struct{}{}
			start := time.Now()
			conn, err := connect(addr)
			lat[i] = time.Since(start)
			<-sem
			ready.Done()
			if err != nil {
				t.Errorf("reader %d: %v", i, err)
				return
			}
			defer func() { _ = conn.Close() }() // read side of a benchmark reader
			buf := make([]byte, 64<<10)
			for {
				if _, err := conn.Read(buf); err != nil {
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
