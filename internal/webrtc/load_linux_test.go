package webrtc

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	pion "github.com/pion/webrtc/v4"
)

// Environment of the load client process (TestWHEPLoadClients).
const (
	loadEnvURL     = "MINIRTC_WHEP_LOAD_URL"     // the WHEP endpoint to play
	loadEnvClients = "MINIRTC_WHEP_LOAD_CLIENTS" // how many clients
	// loadEnvReaders picks the reader counts of BenchmarkWHEPReaders
	// (comma-separated; default 250,500,1000).
	loadEnvReaders = "MINIRTC_WHEP_READERS"
	// loadEnvWindow is the measured window of one op (default 10s).
	loadEnvWindow = "MINIRTC_WHEP_WINDOW"
	// loadEnvProfile, if set, is a file for a CPU profile of the server
	// during the measured window only (connection setup excluded).
	loadEnvProfile = "MINIRTC_WHEP_PROFILE"
	// loadEnvHeapProfile, if set, is a file for a heap profile of the
	// server once the readers are connected.
	loadEnvHeapProfile = "MINIRTC_WHEP_HEAPPROFILE"
)

func writeHeapProfile(path string, n int) {
	f, err := os.Create(strings.ReplaceAll(path, "%d", strconv.Itoa(n)))
	if err != nil {
		return
	}
	defer f.Close()
	runtime.GC()
	_ = pprof.WriteHeapProfile(f)
}

// allowAll grants every request (the load benchmark measures media, not auth).
type allowAll struct{}

func (allowAll) Authorize(_ context.Context, _ token.Action, _ string, q url.Values) (token.MediaGrant, error) {
	return token.MediaGrant{Viewer: q.Get("uid")}, nil
}

// BenchmarkWHEPReaders measures what N real WHEP readers of one stream cost
// the server, directly: the server (HTTP, pion, hub) runs in this
// process, N pion WHEP clients run in a child process (this test binary
// running TestWHEPLoadClients) over loopback, and the server's CPU time is
// read from this process's rusage, so the clients' cost is not in it. The
// stream is ~500 kbit/s: 25 fps H.264 (IDR of 15 kB every 2 s, 2.2 kB
// P-frames) and 20 ms Opus packets of 80 bytes, ~105 RTP packets/s.
//
// One op is a measured window (10 s, or $MINIRTC_WHEP_WINDOW) of streaming
// to every reader, so the default -benchtime runs it once; connecting the
// readers is not timed. Reported: core-%/100readers (server CPU time per
// wall second, in % of one core, per 100 readers), readers/core (N / cores
// used), client-core-% (the child's CPU, for information), lost-pkts (RTP
// packets the clients did not get: sequence gaps), srv-drops (packets the
// server dropped from full session queues, frames) and heap-KB/reader,
// rss-KB/reader (growth from no reader to N readers). $MINIRTC_WHEP_PROFILE
// (a file name; %d becomes N) profiles the server during the window.
func BenchmarkWHEPReaders(b *testing.B) {
	counts := []int{250, 500, 1000}
	if v := os.Getenv(loadEnvReaders); v != "" {
		counts = counts[:0]
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("%s=%q", loadEnvReaders, v)
			}
			counts = append(counts, n)
		}
	}
	window := 10 * time.Second
	if v := os.Getenv(loadEnvWindow); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("%s=%q", loadEnvWindow, v)
		}
		window = d
	}
	for _, n := range counts {
		b.Run("readers="+strconv.Itoa(n), func(b *testing.B) { benchWHEPReaders(b, n, window) })
	}
}

// loadStats is what the client process reports since its last mark.
type loadStats struct {
	Connected int     `json:"connected"`
	Received  uint64  `json:"received"` // RTP packets
	Lost      uint64  `json:"lost"`     // sequence gaps
	CPU       float64 `json:"cpu"`      // seconds of CPU time
	Wall      float64 `json:"wall"`     // seconds
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memory returns the live Go memory (heap + stacks, after a GC) and the
// resident set size of this process, in bytes.
func memory() (goMem, rss uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	goMem = ms.HeapInuse + ms.StackInuse
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				rss = kb << 10
			}
		}
	}
	return goMem, rss
}

// serverDrops sums the packets the hub dropped for the server's WHEP
// sessions (full hub reader queues).
func serverDrops(s *Server) uint64 {
	s.mu.Lock()
	var sessions []*whepSession
	for _, ss := range s.sessions {
		if w, ok := ss.(*whepSession); ok {
			sessions = append(sessions, w)
		}
	}
	s.mu.Unlock()
	var n uint64
	for _, w := range sessions {
		if rd := w.rd.Load(); rd != nil {
			n += rd.Drops()
		}
	}
	return n
}

// publishLoad writes the ~500 kbit/s test stream in real time until ctx ends.
func publishLoad(ctx context.Context, pub *media.Publisher, vt, ot *media.Track) {
	idr := avcc(nalu(naluIDR, 15000, 1))
	p := avcc(nalu(naluNonIDR, 2200, 2))
	opus := make([]byte, 80)
	opus[0] = 0x78 // a 20 ms CELT frame TOC (content is not decoded)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for i := 0; ; i++ {
		pts := time.Duration(i) * 20 * time.Millisecond
		if i%2 == 0 {
			key := i%100 == 0
			au := p
			if key {
				au = idr
			}
			if pub.Write(&media.Packet{Track: vt, DTS: pts, PTS: pts, Keyframe: key, Payload: au}) != nil {
				return
			}
		}
		if pub.Write(&media.Packet{Track: ot, DTS: pts, PTS: pts, Keyframe: true, Payload: opus}) != nil {
			return
		}
		// Catch up after a stall instead of drifting.
		if d := time.Until(start.Add(pts + 20*time.Millisecond)); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		} else if ctx.Err() != nil {
			return
		}
	}
}

func benchWHEPReaders(b *testing.B, n int, window time.Duration) {
	log := testLogger(b)
	hub, err := media.NewHub(media.Config{Grace: -1}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	srv, err := New(Config{LoopbackOnly: true}, hub, allowAll{}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.Run(ctx)
	}()

	key := media.Key{AppID: "load", Channel: "c", UID: "1"}
	pub, vt, ot := h264Publisher(b, hub, key, true)
	defer pub.Close(nil)
	wg.Add(1)
	go func() {
		defer wg.Done()
		publishLoad(ctx, pub, vt, ot)
	}()
	mem0, rss0 := memory()

	cmd := exec.Command(os.Args[0], "-test.run=^TestWHEPLoadClients$", "-test.v")
	cmd.Env = append(os.Environ(), loadEnvURL+"="+hs.URL+"/whep/load/c/1", loadEnvClients+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = stdin.Close() // the client process exits at EOF
		_ = cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	// next returns the next line from the client process that starts with prefix.
	next := func(prefix string) string {
		for lines.Scan() {
			if l, ok := strings.CutPrefix(lines.Text(), prefix); ok {
				return l
			}
		}
		b.Fatalf("client process ended before %q: %v", prefix, lines.Err())
		return ""
	}
	stats := func() loadStats {
		if _, err := io.WriteString(stdin, "stats\n"); err != nil {
			b.Fatal(err)
		}
		var st loadStats
		if err := json.Unmarshal([]byte(next("STATS ")), &st); err != nil {
			b.Fatal(err)
		}
		return st
	}
	setupStart := time.Now()
	progress := make(chan struct{})
	wg.Add(1)
	go func() { // setup progress on stderr (connecting many clients is slow)
		defer wg.Done()
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-progress:
				return
			case <-ctx.Done(): // the benchmark failed
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				fmt.Fprintf(os.Stderr, "setup %v: %+v, heap %d MB, %d goroutines\n", time.Since(setupStart).Round(time.Second),
					srv.Stats(), ms.HeapInuse>>20, runtime.NumGoroutine())
				if path := os.Getenv(loadEnvHeapProfile); path != "" {
					writeHeapProfile(path, n)
				}
			}
		}
	}()
	got, _ := strconv.Atoi(next("READY "))
	close(progress)
	if got < n*9/10 {
		b.Fatalf("%d of %d clients connected", got, n)
	}
	asked := n
	n = got // per-reader figures are for the readers that connected
	setup := time.Since(setupStart)
	if path := os.Getenv(loadEnvHeapProfile); path != "" {
		writeHeapProfile(path, n)
	}
	time.Sleep(3 * time.Second) // every session past its first keyframe
	mem1, rss1 := memory()
	if _, err := io.WriteString(stdin, "mark\n"); err != nil {
		b.Fatal(err)
	}
	next("MARKED")
	drops0 := serverDrops(srv)
	if path := os.Getenv(loadEnvProfile); path != "" {
		f, err := os.Create(strings.ReplaceAll(path, "%d", strconv.Itoa(n)))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	cpu0, t0 := cpuTime(), time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		time.Sleep(window)
	}
	b.StopTimer()
	cpu, wall := cpuTime()-cpu0, time.Since(t0)
	pprof.StopCPUProfile()
	drops := serverDrops(srv) - drops0
	st := stats()
	if st.Connected != n {
		b.Errorf("%d of %d clients still connected", st.Connected, n)
	}
	if n != asked {
		b.Logf("%d of %d clients connected; figures are for %d readers", n, asked, n)
	}
	cores := cpu.Seconds() / wall.Seconds()
	b.ReportMetric(100*cores/(float64(n)/100), "core-%/100readers")
	b.ReportMetric(float64(n)/cores, "readers/core")
	b.ReportMetric(100*st.CPU/st.Wall, "client-core-%")
	b.ReportMetric(float64(st.Received)/st.Wall/float64(n), "pkts/s/reader")
	b.ReportMetric(float64(st.Lost), "lost-pkts")
	b.ReportMetric(float64(drops), "srv-drops")
	b.ReportMetric(float64(int64(mem1)-int64(mem0))/float64(n)/1024, "heap-KB/reader")
	b.ReportMetric(float64(int64(rss1)-int64(rss0))/float64(n)/1024, "rss-KB/reader")
	var overflows uint64
	var qMean, qMax time.Duration
	if bc, ok := srv.conn.(*batchConn); ok {
		overflows = bc.overflows.Load()
		qMean, qMax = bc.queueDelay()
	}
	b.ReportMetric(float64(qMean.Microseconds())/1000, "send-queue-ms")
	b.Logf("%d readers: setup %v; server %.1f%% of a core over %v; clients %.1f%%; received %d, lost %d; server drops %d; "+
		"full send queues %d; send queue delay mean %v max %v",
		n, setup.Round(time.Millisecond), 100*cores, wall.Round(time.Millisecond), 100*st.CPU/st.Wall, st.Received, st.Lost, drops,
		overflows, qMean, qMax)
}

// loadClient is one WHEP client of the load process.
type loadClient struct {
	pc             *pion.PeerConnection
	received, lost atomic.Uint64
}

// TestWHEPLoadClients is the client side of BenchmarkWHEPReaders, run in a
// child process; it does nothing in a normal test run. It connects the
// clients (a few at a time), prints "READY n", then answers commands on
// stdin: "mark" (reset the counters; prints "MARKED") and "stats" (prints
// "STATS {json}" since the mark). It exits at EOF.
func TestWHEPLoadClients(t *testing.T) {
	target := os.Getenv(loadEnvURL)
	if target == "" {
		t.Skip("the client process of BenchmarkWHEPReaders (run by it)")
	}
	n, err := strconv.Atoi(os.Getenv(loadEnvClients))
	if err != nil || n < 1 {
		t.Fatalf("%s: %v", loadEnvClients, err)
	}
	// Light clients, so that the machine's cores go to the server: the
	// codecs and network settings of clientAPI, and of pion's default
	// interceptors only receiver reports (one RTCP packet per track and
	// second, as a browser sends). No NACKs: a client that falls behind
	// would otherwise ask for retransmissions of what it dropped itself.
	m, _, err := newMediaEngine()
	if err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	reg.Add(rr)
	var se pion.SettingEngine
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	api := pion.NewAPI(pion.WithMediaEngine(m), pion.WithInterceptorRegistry(reg), pion.WithSettingEngine(se))
	clients := make([]*loadClient, n)
	var readers sync.WaitGroup
	defer readers.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				_ = c.pc.Close()
			}
		}
	}()
	var connected atomic.Int64
	hc := &http.Client{Timeout: time.Minute}
	attempt := func(i int) error {
		pc, err := api.NewPeerConnection(pion.Configuration{})
		if err != nil {
			return err
		}
		c := &loadClient{pc: pc}
		clients[i] = c
		for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
				return err
			}
		}
		up := make(chan struct{})
		var once sync.Once
		var counted atomic.Bool
		pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
			switch s {
			case pion.PeerConnectionStateConnected:
				once.Do(func() { close(up) })
				if counted.CompareAndSwap(false, true) {
					connected.Add(1)
				}
			case pion.PeerConnectionStateFailed, pion.PeerConnectionStateClosed, pion.PeerConnectionStateDisconnected:
				if counted.CompareAndSwap(true, false) {
					connected.Add(-1)
				}
			}
		})
		pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
			readers.Add(1)
			defer readers.Done()
			buf := make([]byte, 1500)
			var last uint16
			first := true
			for {
				k, _, err := tr.Read(buf)
				if err != nil {
					return
				}
				if k < 12 {
					continue
				}
				seq := binary.BigEndian.Uint16(buf[2:4])
				if d := seq - last; !first && d > 1 && d < 1<<15 {
					c.lost.Add(uint64(d - 1))
				}
				if first || seq-last < 1<<15 {
					last = seq
				}
				first = false
				c.received.Add(1)
			}
		})
		o, err := pc.CreateOffer(nil)
		if err != nil {
			return err
		}
		gathered := pion.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(o); err != nil {
			return err
		}
		<-gathered
		req, _ := http.NewRequest("POST", target, strings.NewReader(pc.LocalDescription().SDP))
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("Authorization", "Bearer load")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("WHEP: %d %s", resp.StatusCode, body)
		}
		if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: string(body)}); err != nil {
			return err
		}
		select {
		case <-up:
			return nil
		case <-time.After(30 * time.Second):
			return fmt.Errorf("client %d: not connected", i)
		}
	}
	// connect tries a client up to three times (a loaded machine may time
	// out a handshake); a client that never connects is left out.
	connect := func(i int) (err error) {
		for try := 0; try < 3; try++ {
			if err = attempt(i); err == nil {
				return nil
			}
			if c := clients[i]; c != nil {
				_ = c.pc.Close()
				clients[i] = nil
			}
		}
		return err
	}
	const parallel = 4
	errs := make(chan error, n)
	var done atomic.Int64
	sem := make(chan struct{}, parallel)
	var setup sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		setup.Add(1)
		go func() {
			defer setup.Done()
			defer func() { <-sem }()
			if err := connect(i); err != nil {
				errs <- err
			}
			if k := done.Add(1); k%100 == 0 {
				fmt.Fprintf(os.Stderr, "clients: %d set up, %d connected\n", k, connected.Load())
			}
		}()
	}
	setup.Wait()
	close(errs)
	for err := range errs {
		fmt.Fprintf(os.Stderr, "client left out: %v\n", err)
	}
	fmt.Printf("READY %d\n", connected.Load())

	var markCPU time.Duration
	var markAt time.Time
	var markRecv, markLost uint64
	totals := func() (r, l uint64) {
		for _, c := range clients {
			if c == nil {
				continue
			}
			r += c.received.Load()
			l += c.lost.Load()
		}
		return r, l
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "mark":
			markRecv, markLost = totals()
			markCPU, markAt = cpuTime(), time.Now()
			fmt.Println("MARKED")
		case "stats":
			r, l := totals()
			st := loadStats{Connected: int(connected.Load()), Received: r - markRecv, Lost: l - markLost,
				CPU: (cpuTime() - markCPU).Seconds(), Wall: time.Since(markAt).Seconds()}
			js, _ := json.Marshal(st)
			fmt.Printf("STATS %s\n", js)
		}
	}
}
