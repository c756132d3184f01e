package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/minirtc/minirtc/internal/bench/stats"
	"github.com/minirtc/minirtc/internal/token"
)

// pubState is one publisher. Fields other than ps are written by its
// goroutine and read by Run after it ended.
type pubState struct {
	idx       int
	uid       uint32
	channel   string
	ps        pubStats
	holdBytes int64         // ps.bytes when the hold phase began (Run only)
	stopBytes int64         // ps.bytes at the stop (Run only)
	ready     chan struct{} // closed at the first keyframe written
	exited    chan struct{} // closed when the goroutine ends
	err       error
	stage     string
	url       string
	sigTiming sigTiming
}

// readerState is one reader; the same ownership rules as pubState.
type readerState struct {
	idx       int
	uid       uint32
	proto     string
	target    *pubState
	sink      *sink
	err       error
	stage     string
	url       string
	sigTiming sigTiming
	subscribe time.Duration // subscribe round trip
	connect   time.Duration // play URL received -> play accepted
	connected bool
	// holdBytes is the sink's byte count when the hold phase began, or -1
	// when the reader was not playing yet (written and read by Run only).
	holdBytes int64
	stopBytes int64
	endAt     time.Time
}

// sigTiming holds a user's signalling figures.
type sigTiming struct {
	ok                       bool
	alloc, ws, join, publish time.Duration
}

type runner struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	wsURL  string
	whep   *webrtc.API // WHEP readers only

	mu      sync.Mutex // guards readers (appended while the sampler reads)
	readers []*readerState
	pubs    []*pubState

	// Join-rate mode: users started and joined so far (for the sampler).
	joinsStarted, joinsDone atomic.Int64
}

// Run executes one bench run and returns its report. It stops by itself
// after the ramp and the hold, or early when ctx is cancelled (the report
// then says so). progress receives a live status line (nil: none).
func Run(ctx context.Context, cfg Config, log *slog.Logger, progress io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &runner{cfg: cfg, log: log, client: &http.Client{Transport: &http.Transport{
		Proxy: nil, MaxIdleConnsPerHost: 64, DisableCompression: true,
		ResponseHeaderTimeout: cfg.Timeout, IdleConnTimeout: 30 * time.Second,
	}}}
	defer r.client.CloseIdleConnections()
	udp0, udpKnown := udpDrops()
	if cfg.Mode() != ModeMediaOnly {
		var err error
		if r.wsURL, err = wsURL(cfg.Server); err != nil {
			return nil, err
		}
	}
	if cfg.Proto == ProtoWHEP || cfg.WHEPReaders > 0 {
		var err error
		if r.whep, err = newWHEPAPI(); err != nil {
			return nil, err
		}
	}
	pubCtx, stopPubs := context.WithCancel(context.Background())
	defer stopPubs()
	readCtx, stopReaders := context.WithCancel(context.Background())
	defer stopReaders()
	var pubWG, readWG sync.WaitGroup

	// Publishers first; readers need a live stream to subscribe to.
	for i := range cfg.Publishers {
		if cfg.Mode() == ModeJoins {
			break // no media
		}
		ch := cfg.Channel
		if cfg.Channels > 1 {
			ch = fmt.Sprintf("%s-%d", cfg.Channel, i%cfg.Channels)
		}
		r.pubs = append(r.pubs, &pubState{idx: i, uid: cfg.UIDBase + 1 + uint32(i), channel: ch,
			ready: make(chan struct{}), exited: make(chan struct{})})
	}
	if cfg.ServerPID > 0 {
		if _, err := stats.ReadProc(cfg.ServerPID); err != nil {
			return nil, fmt.Errorf("server pid %d: %w", cfg.ServerPID, err)
		}
	}
	started := time.Now()
	load0 := stats.LoadAvg()
	mon := newMonitor(cfg.ServerPID, cfg.Interval, r, progress, started)
	var monWG sync.WaitGroup
	monCtx, stopMon := context.WithCancel(context.Background())
	monWG.Add(1)
	go func() { defer monWG.Done(); mon.run(monCtx) }()
	defer func() { stopMon(); monWG.Wait() }()

	if cfg.Mode() == ModeJoins {
		load0 := stats.LoadAvg()
		jr, interrupted := r.runJoins(ctx, mon)
		stopMon()
		monWG.Wait()
		rep := r.report(mon, started, started, started, time.Now(), interrupted)
		rep.Joins = jr
		rep.ReadersPlanned = 0
		rep.LoadAvg = [2]float64{load0, stats.LoadAvg()}
		return rep, nil
	}

	mon.setPhase("publish")
	for _, p := range r.pubs {
		pubWG.Add(1)
		go func() { defer pubWG.Done(); r.runPublisher(pubCtx, p) }()
	}
	var live []*pubState
	interrupted := false
	for _, p := range r.pubs {
		select {
		case <-p.ready:
			live = append(live, p)
		case <-p.exited:
		case <-time.After(3*cfg.Timeout + 2*time.Second):
		case <-ctx.Done():
			interrupted = true
		}
		if interrupted {
			break
		}
	}
	var runErr error
	if len(live) == 0 && !interrupted {
		runErr = errors.New("no publisher got its stream going (see the errors in the report)")
	}

	// Ramp: start readers at cfg.Rate per second, round-robin over the
	// live publishers.
	rampStart := time.Now()
	if runErr == nil && !interrupted {
		mon.setPhase("ramp")
		tick := time.NewTimer(0)
		total := cfg.Readers + cfg.WHEPReaders
		for i := range total {
			at := rampStart.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))
			tick.Reset(time.Until(at))
			select {
			case <-ctx.Done():
				interrupted = true
			case <-tick.C:
			}
			if interrupted {
				break
			}
			proto := cfg.Proto
			if (i+1)*cfg.WHEPReaders/total > i*cfg.WHEPReaders/total {
				proto = ProtoWHEP // the WHEP readers, spread evenly over the ramp
			}
			rd := &readerState{idx: i, uid: cfg.UIDBase + 100_001 + uint32(i), proto: proto, target: live[i%len(live)], sink: newSink(time.Time{})}
			r.mu.Lock()
			r.readers = append(r.readers, rd)
			r.mu.Unlock()
			readWG.Add(1)
			go func() { defer readWG.Done(); r.runReader(readCtx, rd) }()
		}
		tick.Stop()
	}
	rampEnd := time.Now()
	if runErr == nil && !interrupted {
		mon.setPhase("hold")
		// Bitrates are measured over the hold, when every reader is past
		// the burst a server's GOP cache sends to newcomers.
		for _, rd := range r.readers {
			rd.holdBytes = -1
			if rd.sink.playing.Load() {
				rd.holdBytes = rd.sink.bytes.Load()
			}
		}
		for _, p := range r.pubs {
			p.holdBytes = p.ps.bytes.Load()
		}
		select {
		case <-ctx.Done():
			interrupted = true
		case <-time.After(cfg.Hold):
		}
	}
	mon.setPhase("stop")
	stopAt := time.Now()
	udp1, _ := udpDrops() // before the clients close their sockets
	for _, rd := range r.readers {
		rd.stopBytes = rd.sink.bytes.Load()
	}
	for _, p := range r.pubs {
		p.stopBytes = p.ps.bytes.Load()
	}
	stopReaders()
	readWG.Wait()
	stopPubs()
	pubWG.Wait()
	stopMon()
	monWG.Wait()

	rep := r.report(mon, started, rampStart, rampEnd, stopAt, interrupted)
	rep.LoadAvg = [2]float64{load0, stats.LoadAvg()}
	if udpKnown {
		n := udp1 - min(udp0, udp1) // sockets closed meanwhile take their counts along
		rep.Drops.BenchUDPDrops = &n
	}
	return rep, runErr
}

// user builds a signalling identity in a channel.
func (r *runner) user(channel string, uid uint32, role string) (sigUser, error) {
	u := sigUser{appID: r.cfg.AppID, channel: channel, uid: uid, role: role, sid: newSID(), key: r.cfg.AppID}
	if r.cfg.AppCert != "" {
		tr := token.RolePublisher
		if role == "audience" {
			tr = token.RoleSubscriber
		}
		k, err := token.BuildRTC007(token.RTCOptions{AppID: r.cfg.AppID, AppCert: r.cfg.AppCert, Channel: channel,
			UID: strconv.FormatUint(uint64(uid), 10), Role: tr, IssuedAt: time.Now(), Lifetime: uint32(r.cfg.TokenTTL / time.Second)}) //nolint:gosec // G115: Config.Validate bounds TokenTTL to 1s..MaxUint32 s
		if err != nil {
			return u, fmt.Errorf("token: %w", err)
		}
		u.key = k
	}
	return u, nil
}

// signal runs the allocation, WebSocket and join steps of one user.
func (r *runner) signal(ctx context.Context, channel string, uid uint32, role string, t *sigTiming, stage *string) (*sigConn, error) {
	u, err := r.user(channel, uid, role)
	if err != nil {
		*stage = "token"
		return nil, err
	}
	return r.signalUser(ctx, u, t, stage)
}

// signalUser runs the allocation, WebSocket and join steps of a user whose
// token is built.
func (r *runner) signalUser(ctx context.Context, u sigUser, t *sigTiming, stage *string) (*sigConn, error) {
	sctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	*stage = "allocate"
	t0 := time.Now()
	if err := allocate(sctx, r.client, r.cfg.Server, u); err != nil {
		return nil, err
	}
	t.alloc = time.Since(t0)
	*stage = "websocket"
	t0 = time.Now()
	sc, err := dialSig(sctx, r.client, r.wsURL, u)
	if err != nil {
		return nil, err
	}
	t.ws = time.Since(t0)
	*stage = "join"
	if t.join, err = sc.join(sctx); err != nil {
		sc.close()
		return nil, err
	}
	t.ok = true
	return sc, nil
}

func (r *runner) runPublisher(ctx context.Context, p *pubState) {
	defer close(p.exited)
	p.url = r.cfg.RTMPURL
	if r.cfg.Mode() == ModeSignalling {
		sc, err := r.signal(ctx, p.channel, p.uid, "broadcaster", &p.sigTiming, &p.stage)
		if err != nil {
			p.err = err
			r.log.Warn("publisher could not join", "publisher", p.idx, "stage", p.stage, "err", err)
			return
		}
		defer sc.close()
		p.stage = "publish"
		sctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		p.url, p.sigTiming.publish, err = sc.publish(sctx)
		cancel()
		if err != nil {
			p.err = err
			return
		}
	}
	p.stage = "rtmp-push"
	p.err = publishRTMP(ctx, p.url, pubOptions{video: r.cfg.Video, audio: !r.cfg.NoAudio, timeout: r.cfg.Timeout,
		ackWindow: r.cfg.ackWindow}, &p.ps, p.ready)
	if p.err != nil {
		r.log.Warn("publisher ended", "publisher", p.idx, "stage", p.stage, "err", p.err)
	}
}

func (r *runner) runReader(ctx context.Context, rd *readerState) {
	began := time.Now()
	defer func() {
		rd.endAt = time.Now()
		rd.err = readerOutcome(rd.err, ctx.Err() != nil, rd.sink.playing.Load(), rd.endAt.Sub(began))
	}()
	var bearer string
	switch {
	case rd.proto == ProtoWHEP && r.cfg.Mode() == ModeSignalling:
		// Browser-like reader: no gateway session, a token for its own uid.
		u, err := r.user(rd.target.channel, rd.uid, "audience")
		if err != nil {
			rd.stage, rd.err = "token", err
			return
		}
		bearer = u.key
		rd.url = strings.TrimSuffix(r.cfg.Server, "/") + "/whep/" + url.PathEscape(r.cfg.AppID) + "/" +
			url.PathEscape(rd.target.channel) + "/" + strconv.FormatUint(uint64(rd.target.uid), 10)
	case r.cfg.Mode() == ModeSignalling:
		sc, err := r.signal(ctx, rd.target.channel, rd.uid, "audience", &rd.sigTiming, &rd.stage)
		if err != nil {
			rd.err = err
			return
		}
		defer sc.close()
		rd.stage = "subscribe"
		sctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		rd.url, rd.subscribe, err = sc.subscribe(sctx, rd.target.uid, rd.proto == ProtoFLV)
		cancel()
		if err != nil {
			rd.err = err
			return
		}
	default:
		switch rd.proto {
		case ProtoFLV:
			rd.url = r.cfg.FLVURL
		case ProtoWHEP:
			rd.url, bearer = r.cfg.WHEPURL, r.cfg.WHEPToken
		default:
			rd.url = r.cfg.PlayURL
		}
	}
	rd.sink.start = time.Now()
	var err error
	switch rd.proto {
	case ProtoFLV:
		rd.stage = "flv-play"
		rd.connect, err = readFLV(ctx, r.client, rd.url, r.cfg.Timeout, rd.sink)
	case ProtoWHEP:
		rd.stage = "whep-play"
		rd.connect, err = readWHEP(ctx, r.whep, r.client, rd.url, bearer, r.cfg.Timeout, rd.sink)
	default:
		rd.stage = "rtmp-play"
		rd.connect, err = readRTMP(ctx, rd.url, r.cfg.Timeout, rd.sink)
	}
	rd.connected = rd.connect > 0
	rd.err = err
	if err != nil {
		r.log.Debug("reader ended", "reader", rd.idx, "stage", rd.stage, "err", err)
	}
}

// readerOutcome is a finished reader's error: stopped by the bench (the run
// ended) after it played, it ended cleanly whatever error the closed
// connection produced on its way out; a reader that never got a decodable
// video frame failed, even when it saw no error (a WHEP answer it could not
// connect to, a stream that never sent a picture).
func readerOutcome(err error, stopped, played bool, ran time.Duration) error {
	switch {
	case played && stopped:
		return nil
	case played:
		return err
	case stopped:
		return fmt.Errorf("never played: no decodable video frame in %v, until the bench stopped", ran.Round(time.Millisecond))
	case err != nil:
		return err
	default:
		return errors.New("never played: ended without a decodable video frame")
	}
}

// snapshot returns the readers started so far (for the sampler).
func (r *runner) snapshot() []*readerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readers[:len(r.readers):len(r.readers)]
}
