package bench

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/bench/stats"
	"github.com/minirtc/minirtc/internal/bench/synth"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/node"
	"github.com/minirtc/minirtc/internal/store"
)

// The soak (make soak) runs a real node on loopback for MINIRTC_SOAK (a Go
// duration, e.g. 1h) under churn from real clients, prints the node's
// resources every MINIRTC_SOAK_INTERVAL (default 1m), and fails when, after
// the churn stopped and the node settled, goroutines, open files, channels,
// members or streams did not return to the baseline, or RSS grew more than
// soakRSSMargin. It is skipped unless MINIRTC_SOAK is set.
//
// Churn, each kind in its own bounded loop of workers:
//   - gateway members joining a channel and leaving (some drop the socket
//     without leave, as a killed mini program does);
//   - RTMP publishers (signalling join + publish, then the synthetic
//     H.264/AAC stream) coming and going;
//   - a WHIP publisher (pion, H.264) coming and going (DELETE or just gone);
//   - RTMP, HTTP-FLV and WHEP readers joining and dropping;
//   - bad clients: garbage on the RTMP port, half handshakes, RTMP publish
//     with a bad signature, gateway joins with a bad token, oversized and
//     garbage WebSocket frames, garbage WHIP offers, WHEP with a bad token,
//     FLV for unknown streams, a stalled FLV viewer, half HTTP requests.
const (
	soakChannels    = 4
	soakMembers     = 6 // member workers
	soakRTMPPubs    = 3 // RTMP publisher workers (uid 100+i in soak-i)
	soakWHIPUID     = 200
	soakWHIPChannel = "soak-3"
	soakReaders     = 4 // reader workers
	soakBad         = 2 // bad-client workers

	// Margins between the baseline and the end.
	soakGoroutineMargin = 10
	soakFDMargin        = 5
	soakRSSMargin       = 30 << 20
)

// soakSample is one look at the node's process and state.
type soakSample struct {
	at                                time.Time
	goroutines, fds                   int
	rss, heap                         int64
	channels, members                 int
	streams, publishers, readers      int
	joins, pubs, whips, reads, badOps int64
	played                            int64
	failures                          int64
}

// soakCounters are the client operations done so far.
type soakCounters struct {
	joins, pubs, whips, reads, bad atomic.Int64
	played                         atomic.Int64 // reads that got media
	failures                       atomic.Int64 // unexpected client failures (logged)
}

type soak struct {
	t      *testing.T
	n      *node.Node
	r      *runner // signalling clients (its cfg: server, app, certificate)
	appID  string
	rtmp   string // host:port
	http   string // http://host:port
	whepAP *webrtc.API
	count  soakCounters
	// logPath is the node's log (warnings and errors).
	logPath string

	failMu   sync.Mutex
	failLast map[string]string // kind -> last unexpected error (for the report)
}

func TestSoak(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("MINIRTC_SOAK"))
	if err != nil || dur <= 0 {
		t.Skip("set MINIRTC_SOAK=1h (make soak) to run the soak")
	}
	interval := time.Minute
	if v, err := time.ParseDuration(os.Getenv("MINIRTC_SOAK_INTERVAL")); err == nil && v > 0 {
		interval = v
	}
	s := startSoakNode(t)
	out := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }

	fresh := s.sample()
	out("soak: node on %s (RTMP %s), churn %v, report every %v", s.http, s.rtmp, dur, interval)
	out("soak: %s", soakHeader)
	out("soak: %s  fresh node", fresh.line(fresh.at))

	// Warm-up: one short round of every kind of client, so that what is
	// created once per process (pion's and the HTTP client's pools, the
	// egress loop) is in the baseline; then settle.
	start := time.Now()
	s.churn(15*time.Second, 0, nil)
	s.r.client.CloseIdleConnections()
	base, _ := s.settle(fresh, 90*time.Second)
	out("soak: %s  baseline (after warm-up and settle)", base.line(start))

	churnStart := time.Now()
	s.churn(dur, interval, func(now time.Time) { out("soak: %s", s.sample().line(churnStart)) })
	stopped := s.sample()
	out("soak: %s  churn stopped", stopped.line(churnStart))
	s.r.client.CloseIdleConnections()
	end, ok := s.settle(base, 3*time.Minute)
	out("soak: %s  after settle", end.line(churnStart))

	out("soak: client operations: %d joins, %d RTMP publishes, %d WHIP publishes, %d reads (%d got media), %d bad clients; %d unexpected client failures",
		end.joins, end.pubs, end.whips, end.reads, end.played, end.badOps, end.failures)
	s.logSummary(out)
	s.failMu.Lock()
	for k, v := range s.failLast {
		out("soak: last unexpected failure (%s): %s", k, v)
	}
	s.failMu.Unlock()
	out("soak: baseline -> end: goroutines %d -> %d, fds %d -> %d, RSS %.1f -> %.1f MB, heap %.1f -> %.1f MB, channels %d -> %d, members %d -> %d, streams %d -> %d",
		base.goroutines, end.goroutines, base.fds, end.fds, mb(base.rss), mb(end.rss), mb(base.heap), mb(end.heap),
		base.channels, end.channels, base.members, end.members, base.streams, end.streams)
	if !ok || end.rss > base.rss+soakRSSMargin {
		var gr bytes.Buffer
		_ = writeGoroutines(&gr)
		t.Logf("goroutines at the end:\n%s", gr.String())
		t.Fatalf("soak: resources did not return to the baseline (margins: goroutines +%d, fds +%d, RSS +%d MB; channels, members, streams equal)",
			soakGoroutineMargin, soakFDMargin, soakRSSMargin>>20)
	}
	out("soak: PASS (within margins: goroutines +%d, fds +%d, RSS +%d MB)", soakGoroutineMargin, soakFDMargin, soakRSSMargin>>20)
}

const soakHeader = "elapsed   gorout  fds  rss(MB) heap(MB) chans members streams pubs readers | joins rtmp-pub whip-pub reads played bad fail"

func (x soakSample) line(since time.Time) string {
	return fmt.Sprintf("%-9s %6d %4d %8.1f %8.1f %5d %7d %7d %4d %7d | %5d %8d %8d %5d %6d %3d %4d",
		x.at.Sub(since).Round(time.Second), x.goroutines, x.fds, mb(x.rss), mb(x.heap), x.channels, x.members,
		x.streams, x.publishers, x.readers, x.joins, x.pubs, x.whips, x.reads, x.played, x.badOps, x.failures)
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func writeGoroutines(w io.Writer) error {
	buf := make([]byte, 4<<20)
	n := runtime.Stack(buf, true)
	_, err := w.Write(buf[:n])
	return err
}

// logSummary prints how many warnings and errors the node logged, and the
// distinct error messages (at most 10).
func (s *soak) logSummary(out func(string, ...any)) {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return
	}
	warns, errs := 0, 0
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, "level=WARN"):
			warns++
		case strings.Contains(line, "level=ERROR"):
			errs++
			msg := line
			if i := strings.Index(line, "msg="); i >= 0 {
				msg = line[i:]
			}
			if len(seen) < 10 && !seen[msg] {
				seen[msg] = true
				out("soak: node error: %.300s", msg)
			}
		}
	}
	out("soak: node log: %d warnings, %d errors", warns, errs)
}

// startSoakNode runs a node with the default configuration on loopback.
func startSoakNode(t *testing.T) *soak {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTMP.Addr = "127.0.0.1:0"
	// The node's own log goes to a file (warnings and errors): the soak's
	// output is the resource table.
	logPath := t.TempDir() + "/node.log"
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := node.NewWithStore(cfg, log, store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	app, ok := n.CreatedDefaultApp()
	if !ok {
		t.Fatal("node created no default app")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node run: %v", err)
		}
	})
	base := "http://" + n.HTTPAddr()
	bcfg := Config{Server: base, AppID: app.ID, AppCert: app.Certificate, Timeout: 5 * time.Second, TokenTTL: 24 * time.Hour}
	r := &runner{cfg: bcfg, log: log, client: &http.Client{Transport: &http.Transport{
		Proxy: nil, MaxIdleConnsPerHost: 16, DisableCompression: true,
		ResponseHeaderTimeout: bcfg.Timeout, IdleConnTimeout: 30 * time.Second,
	}, Timeout: 0}}
	if r.wsURL, err = wsURL(base); err != nil {
		t.Fatal(err)
	}
	api, err := newWHEPAPI()
	if err != nil {
		t.Fatal(err)
	}
	// Wait for readiness.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("node not ready")
		}
	}
	http.DefaultClient.CloseIdleConnections()
	return &soak{t: t, n: n, r: r, appID: app.ID, logPath: logPath, rtmp: n.RTMPAddr(), http: base, whepAP: api, failLast: map[string]string{}}
}

// sample reads the process and node state (after a GC that returns freed
// memory to the OS, so RSS reflects what is held).
func (s *soak) sample() soakSample {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	x := soakSample{at: time.Now(), goroutines: runtime.NumGoroutine(), heap: int64(ms.HeapInuse)}
	if ps, err := stats.ReadProc(os.Getpid()); err == nil {
		x.rss = ps.RSS
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		x.fds = len(ents)
	}
	for _, ch := range s.n.Channels().Channels(s.appID) {
		x.channels++
		x.members += len(s.n.Channels().Members(s.appID, ch))
	}
	hs := s.n.Media().Stats()
	x.streams, x.publishers, x.readers = hs.Streams, hs.Publishers, hs.Readers
	x.joins, x.pubs, x.whips, x.reads, x.badOps = s.count.joins.Load(), s.count.pubs.Load(), s.count.whips.Load(), s.count.reads.Load(), s.count.bad.Load()
	x.failures = s.count.failures.Load()
	x.played = s.count.played.Load()
	return x
}

// settle waits (at least 45 s: the gateway's grace for dropped members is
// 15 s, media start and hold timeouts 30 s) until the state is back to base
// or limit passes, and returns the last sample and whether it is back.
func (s *soak) settle(base soakSample, limit time.Duration) (soakSample, bool) {
	deadline := time.Now().Add(limit)
	time.Sleep(45 * time.Second)
	for {
		x := s.sample()
		back := x.goroutines <= base.goroutines+soakGoroutineMargin && x.fds <= base.fds+soakFDMargin &&
			x.channels <= base.channels && x.members <= base.members && x.streams <= base.streams &&
			x.publishers == 0 && x.readers == 0
		if back || time.Now().After(deadline) {
			return x, back
		}
		time.Sleep(5 * time.Second)
	}
}

// fail records an unexpected client failure (the churn goes on).
func (s *soak) fail(kind string, err error) {
	s.count.failures.Add(1)
	s.failMu.Lock()
	s.failLast[kind] = err.Error()
	s.failMu.Unlock()
}

// churn runs every worker for d, calling tick every interval (0: never),
// and returns once all of them have ended.
func (s *soak) churn(d, interval time.Duration, tick func(time.Time)) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	spawn := func(f func(ctx context.Context, rng *rand.Rand)) {
		wg.Add(1)
		seed := rand.Uint64()
		go func() {
			defer wg.Done()
			f(ctx, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
		}()
	}
	for i := range soakMembers {
		spawn(func(ctx context.Context, rng *rand.Rand) { s.memberLoop(ctx, rng, i) })
	}
	for i := range soakRTMPPubs {
		spawn(func(ctx context.Context, rng *rand.Rand) { s.rtmpPublisherLoop(ctx, rng, i) })
	}
	spawn(s.whipPublisherLoop)
	for range soakReaders {
		spawn(s.readerLoop)
	}
	for range soakBad {
		spawn(s.badLoop)
	}
	if interval > 0 {
		tk := time.NewTicker(interval)
	loop:
		for {
			select {
			case now := <-tk.C:
				tick(now)
			case <-ctx.Done():
				break loop
			}
		}
		tk.Stop()
	}
	wg.Wait()
}

// pause sleeps between lo and hi, or until ctx ends (false).
func pause(ctx context.Context, rng *rand.Rand, lo, hi time.Duration) bool {
	d := lo
	if hi > lo {
		d += time.Duration(rng.Int64N(int64(hi - lo)))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// memberLoop joins a channel as audience, stays, and leaves (one time in
// five it drops the socket without leave instead).
func (s *soak) memberLoop(ctx context.Context, rng *rand.Rand, worker int) {
	for i := uint32(0); ctx.Err() == nil; i++ {
		ch := fmt.Sprintf("soak-%d", rng.IntN(soakChannels))
		uid := 1000 + uint32(worker)*1_000_000 + i%100_000
		var st sigTiming
		var stage string
		sc, err := s.r.signal(ctx, ch, uid, "audience", &st, &stage)
		if err != nil {
			if ctx.Err() == nil {
				s.fail("member "+stage, err)
			}
			pause(ctx, rng, time.Second, 2*time.Second)
			continue
		}
		s.count.joins.Add(1)
		pause(ctx, rng, time.Second, 8*time.Second)
		if rng.IntN(5) == 0 {
			_ = sc.c.CloseNow()
		}
		sc.close()
		pause(ctx, rng, 100*time.Millisecond, time.Second)
	}
}

// rtmpPublisherLoop publishes uid 100+worker in soak-worker over RTMP (via
// the gateway), on for 8-25 s, off for 1-3 s.
func (s *soak) rtmpPublisherLoop(ctx context.Context, rng *rand.Rand, worker int) {
	ch := fmt.Sprintf("soak-%d", worker)
	uid := uint32(100 + worker)
	for ctx.Err() == nil {
		var st sigTiming
		var stage string
		sc, err := s.r.signal(ctx, ch, uid, "broadcaster", &st, &stage)
		if err != nil {
			if ctx.Err() == nil {
				s.fail("rtmp publisher "+stage, err)
			}
			pause(ctx, rng, time.Second, 3*time.Second)
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		pushURL, _, err := sc.publish(sctx)
		cancel()
		if err == nil {
			s.count.pubs.Add(1)
			pctx, cancel := context.WithTimeout(ctx, 8*time.Second+time.Duration(rng.Int64N(int64(17*time.Second))))
			var ps pubStats
			err = publishRTMP(pctx, pushURL, pubOptions{video: synth.VideoConfig{FPS: 15, GOP: 30, Bitrate: 150_000}, audio: true, timeout: 5 * time.Second}, &ps, make(chan struct{}))
			cancel()
			if err != nil && ctx.Err() == nil {
				s.fail("rtmp publish", err)
			}
		} else if ctx.Err() == nil {
			s.fail("rtmp publisher publish", err)
		}
		sc.close()
		pause(ctx, rng, time.Second, 3*time.Second)
	}
}

// whipPublisherLoop publishes uid soakWHIPUID over WHIP with pion (H.264
// from the synthetic source), on for 8-25 s; it then DELETEs its session,
// or one time in three just closes the peer connection.
func (s *soak) whipPublisherLoop(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		on := 8*time.Second + time.Duration(rng.Int64N(int64(17*time.Second)))
		if err := s.whipPublish(ctx, on, rng.IntN(3) != 0); err != nil && ctx.Err() == nil {
			s.fail("whip publish", err)
		}
		pause(ctx, rng, time.Second, 3*time.Second)
	}
}

func (s *soak) whipPublish(ctx context.Context, on time.Duration, del bool) error {
	u, err := s.r.user(soakWHIPChannel, soakWHIPUID, "broadcaster")
	if err != nil {
		return err
	}
	pc, err := s.whepAP.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer pc.Close()
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "soak")
	if err != nil {
		return err
	}
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		return err
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		if st == webrtc.ICEConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil
	}
	endpoint := s.http + "/whip/" + url.PathEscape(s.appID) + "/" + soakWHIPChannel + "/" + strconv.Itoa(soakWHIPUID)
	status, answer, loc, err := s.post(ctx, endpoint, u.key, "application/sdp", pc.LocalDescription().SDP)
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("whip: HTTP %d: %.200s", status, answer)
	}
	if del {
		defer func() {
			if l, err := url.Parse(loc); err == nil {
				whepDelete(s.r.client, s.http+l.Path, u.key)
			}
		}()
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return err
	}
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		return errors.New("whip: ICE not connected within 10 s")
	case <-ctx.Done():
		return nil
	}
	s.count.whips.Add(1)
	video, err := synth.NewVideo(synth.VideoConfig{FPS: 15, GOP: 30, Bitrate: 150_000})
	if err != nil {
		return err
	}
	end := time.NewTimer(on)
	defer end.Stop()
	tk := time.NewTicker(time.Second / 15)
	defer tk.Stop()
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-end.C:
			return nil
		case now := <-tk.C:
			buf = video.Next(now).AppendAnnexB(buf[:0])
			if err := track.WriteSample(media.Sample{Data: buf, Duration: time.Second / 15}); err != nil {
				return fmt.Errorf("whip: write: %w", err)
			}
		}
	}
}

// post sends body to endpoint with a bearer token and returns the status,
// the response body and its Location.
func (s *soak) post(ctx context.Context, endpoint, bearer, ctype, body string) (int, string, string, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("Content-Type", ctype)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.r.client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxSDP))
	return resp.StatusCode, string(b), resp.Header.Get("Location"), err
}

// readerLoop plays one of the publishers over RTMP or HTTP-FLV (as a
// gateway member) or WHEP (with a token) for 2-10 s.
func (s *soak) readerLoop(ctx context.Context, rng *rand.Rand) {
	for i := uint32(0); ctx.Err() == nil; i++ {
		target := rng.IntN(soakRTMPPubs + 1)
		ch, uid := fmt.Sprintf("soak-%d", target), uint32(100+target)
		if target == soakRTMPPubs {
			ch, uid = soakWHIPChannel, soakWHIPUID
		}
		proto := []string{ProtoRTMP, ProtoFLV, ProtoWHEP}[rng.IntN(3)]
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second+time.Duration(rng.Int64N(int64(8*time.Second))))
		err := s.read(rctx, proto, ch, uid, 500_000+i%100_000+uint32(rng.IntN(10))*100_000)
		cancel()
		s.count.reads.Add(1)
		// A reader may find its publisher between two sessions: not a fault.
		_ = err
		pause(ctx, rng, 200*time.Millisecond, time.Second)
	}
}

func (s *soak) read(ctx context.Context, proto, ch string, target, uid uint32) error {
	sk := newSink(time.Now())
	defer func() {
		if sk.playing.Load() {
			s.count.played.Add(1)
		}
	}()
	if proto == ProtoWHEP {
		u, err := s.r.user(ch, uid, "audience")
		if err != nil {
			return err
		}
		endpoint := s.http + "/whep/" + url.PathEscape(s.appID) + "/" + ch + "/" + strconv.FormatUint(uint64(target), 10)
		_, err = readWHEP(ctx, s.whepAP, s.r.client, endpoint, u.key, 5*time.Second, sk)
		return err
	}
	var st sigTiming
	var stage string
	sc, err := s.r.signal(ctx, ch, uid, "audience", &st, &stage)
	if err != nil {
		return err
	}
	defer sc.close()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	u, _, err := sc.subscribe(sctx, target, proto == ProtoFLV)
	cancel()
	if err != nil {
		return err
	}
	if proto == ProtoFLV {
		_, err = readFLV(ctx, s.r.client, u, 5*time.Second, sk)
	} else {
		_, err = readRTMP(ctx, u, 5*time.Second, sk)
	}
	return err
}

// badLoop runs bad clients one after the other.
func (s *soak) badLoop(ctx context.Context, rng *rand.Rand) {
	kinds := []struct {
		name string
		run  func(ctx context.Context, rng *rand.Rand) error
	}{
		{"rtmp garbage", s.badRTMPGarbage},
		{"rtmp half handshake", s.badRTMPHalfHandshake},
		{"rtmp bad signature", s.badRTMPSignature},
		{"gateway bad token", s.badGatewayToken},
		{"gateway oversized frame", s.badGatewayOversized},
		{"gateway garbage frames", s.badGatewayGarbage},
		{"whip garbage offer", s.badWHIPOffer},
		{"whip offer then gone", s.badWHIPVanish},
		{"whep bad token", s.badWHEPToken},
		{"flv unknown stream", s.badFLVUnknown},
		{"flv stalled viewer", s.badFLVStalled},
		{"http half request", s.badHTTPHalf},
	}
	for ctx.Err() == nil {
		k := kinds[rng.IntN(len(kinds))]
		if err := k.run(ctx, rng); err != nil && ctx.Err() == nil {
			s.fail("bad client "+k.name, err)
		}
		s.count.bad.Add(1)
		pause(ctx, rng, 200*time.Millisecond, time.Second)
	}
}

func dialCtx(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return d.DialContext(dctx, "tcp", addr)
}

// drainUntilClosed reads until the server closes or d passes; it reports
// whether the server closed.
func drainUntilClosed(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func (s *soak) badRTMPGarbage(ctx context.Context, rng *rand.Rand) error {
	c, err := dialCtx(ctx, s.rtmp)
	if err != nil {
		return err
	}
	defer c.Close()
	b := make([]byte, 1+rng.IntN(4096))
	_, _ = crand.Read(b)
	if rng.IntN(2) == 0 {
		b[0] = 3 // a plausible C0: the garbage lands in C1/C2 and the chunk stream
	}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write(b)
	if !drainUntilClosed(c, 15*time.Second) {
		return errors.New("the server kept a connection that sent garbage for 15 s")
	}
	return nil
}

func (s *soak) badRTMPHalfHandshake(ctx context.Context, rng *rand.Rand) error {
	c, err := dialCtx(ctx, s.rtmp)
	if err != nil {
		return err
	}
	defer c.Close()
	b := make([]byte, 1+rng.IntN(1536))
	b[0] = 3
	_, _ = c.Write(b)
	// Hang up early, or wait for the server's handshake timeout (10 s).
	if rng.IntN(4) == 0 {
		if !drainUntilClosed(c, 20*time.Second) {
			return errors.New("the server kept a half handshake for 20 s")
		}
		return nil
	}
	pause(ctx, rng, 100*time.Millisecond, 2*time.Second)
	return nil
}

func (s *soak) badRTMPSignature(ctx context.Context, rng *rand.Rand) error {
	u := "rtmp://" + s.rtmp + "/live/" + s.appID + "_soak-0_999?expire=" + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + "&sign=0123456789abcdef"
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var ps pubStats
	err := publishRTMP(pctx, u, pubOptions{video: synth.VideoConfig{FPS: 15}, timeout: 5 * time.Second}, &ps, make(chan struct{}))
	if err == nil && ctx.Err() == nil {
		return errors.New("an RTMP publish with a bad signature was accepted")
	}
	return nil
}

func (s *soak) badGatewayToken(ctx context.Context, rng *rand.Rand) error {
	u, err := s.r.user("soak-0", 777, "audience")
	if err != nil {
		return err
	}
	u.key = "007" + strings.Repeat("A", rng.IntN(300))
	var st sigTiming
	var stage string
	sc, err := s.r.signalUser(ctx, u, &st, &stage)
	if err == nil {
		sc.close()
		return errors.New("a join with a bad token was accepted")
	}
	return nil
}

func (s *soak) dialWS(ctx context.Context) (*mc.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return mc.Dial(dctx, s.r.wsURL, mc.WithHTTPClient(s.r.client))
}

func (s *soak) badGatewayOversized(ctx context.Context, rng *rand.Rand) error {
	c, err := s.dialWS(ctx)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	big := bytes.Repeat([]byte("x"), 65<<10+rng.IntN(1<<20))
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = c.SendRaw(wctx, big)
	// The server closes it (message too big).
	if _, err := c.Next(wctx); err == nil {
		return errors.New("the gateway answered an oversized frame")
	}
	return nil
}

func (s *soak) badGatewayGarbage(ctx context.Context, rng *rand.Rand) error {
	c, err := s.dialWS(ctx)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	frames := []string{"{not json", "[]", "null", `{"_id":1}`, `{"_type":"join","_message":{}}`, `{"command":"join","appId":7}`}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for range 1 + rng.IntN(5) {
		var f []byte
		if rng.IntN(2) == 0 {
			f = []byte(frames[rng.IntN(len(frames))])
		} else {
			f = make([]byte, 1+rng.IntN(512))
			_, _ = crand.Read(f)
		}
		if err := c.SendRaw(wctx, f); err != nil {
			break
		}
	}
	return nil // then drop the socket (CloseNow)
}

func (s *soak) badWHIPOffer(ctx context.Context, rng *rand.Rand) error {
	u, err := s.r.user("soak-2", 888, "broadcaster")
	if err != nil {
		return err
	}
	b := make([]byte, rng.IntN(2048))
	_, _ = crand.Read(b)
	body := "v=0\r\n" + string(b)
	status, _, _, err := s.post(ctx, s.http+"/whip/"+url.PathEscape(s.appID)+"/soak-2/888", u.key, "application/sdp", body)
	if err != nil {
		return err
	}
	if status < 400 || status >= 500 {
		return fmt.Errorf("a garbage WHIP offer got HTTP %d", status)
	}
	return nil
}

// badWHIPVanish posts a real offer and disappears without ICE or DELETE:
// the server must end the session by itself.
func (s *soak) badWHIPVanish(ctx context.Context, rng *rand.Rand) error {
	uid := 300 + rng.IntN(50)
	u, err := s.r.user("soak-1", uint32(uid), "broadcaster")
	if err != nil {
		return err
	}
	pc, err := s.whepAP.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		return err
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	status, body, _, err := s.post(ctx, s.http+"/whip/"+url.PathEscape(s.appID)+"/soak-1/"+strconv.Itoa(uid), u.key, "application/sdp", offer.SDP)
	if err != nil {
		return err
	}
	if status != http.StatusCreated && status != http.StatusConflict {
		return fmt.Errorf("a valid WHIP offer got HTTP %d: %.200s", status, body)
	}
	return nil
}

func (s *soak) badWHEPToken(ctx context.Context, rng *rand.Rand) error {
	status, _, _, err := s.post(ctx, s.http+"/whep/"+url.PathEscape(s.appID)+"/soak-0/100", "007bad", "application/sdp", "v=0\r\n")
	if err != nil {
		return err
	}
	if status < 400 || status >= 500 {
		return fmt.Errorf("a WHEP offer with a bad token got HTTP %d", status)
	}
	return nil
}

func (s *soak) badFLVUnknown(ctx context.Context, rng *rand.Rand) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, s.http+"/live/nosuch_stream_"+strconv.Itoa(rng.IntN(1000))+".flv?sign=x", nil)
	if err != nil {
		return err
	}
	resp, err := s.r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 400 {
		return fmt.Errorf("an FLV request for an unknown stream got HTTP %d", resp.StatusCode)
	}
	return nil
}

// badFLVStalled subscribes to a publisher over HTTP-FLV and never reads
// (for up to 15 s): the server must not hold anything for it once gone.
func (s *soak) badFLVStalled(ctx context.Context, rng *rand.Rand) error {
	target := rng.IntN(soakRTMPPubs)
	ch := fmt.Sprintf("soak-%d", target)
	var st sigTiming
	var stage string
	sc, err := s.r.signal(ctx, ch, 900_000+uint32(rng.IntN(1000)), "audience", &st, &stage)
	if err != nil {
		return nil // the channel may be full of churn; not the point here
	}
	defer sc.close()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	raw, _, err := sc.subscribe(sctx, uint32(100+target), true)
	cancel()
	if err != nil {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	c, err := dialCtx(ctx, u.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", u.RequestURI(), u.Host)
	pause(ctx, rng, 2*time.Second, 15*time.Second)
	return nil
}

func (s *soak) badHTTPHalf(ctx context.Context, rng *rand.Rand) error {
	u, _ := url.Parse(s.http)
	c, err := dialCtx(ctx, u.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	w := bufio.NewWriter(c)
	fmt.Fprintf(w, "POST /api/v1 HTTP/1.1\r\nHost: %s\r\nContent-Length: 100000\r\n", u.Host)
	if rng.IntN(2) == 0 {
		fmt.Fprintf(w, "\r\n{\"service_name\":")
	}
	_ = w.Flush()
	pause(ctx, rng, 100*time.Millisecond, 3*time.Second)
	return nil
}
