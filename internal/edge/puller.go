package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/relay"
)

// Pull timings that are not settings.
const (
	// locateTimeout bounds one Locate call (a Redis round trip or two).
	locateTimeout = 10 * time.Second
	// headerTimeout bounds the wait for a relay response's header, which
	// the origin sends at once, before its stream is even live.
	headerTimeout = 10 * time.Second
	// dialTimeout bounds a connection to another node.
	dialTimeout = 5 * time.Second
)

// Locator says where key's stream comes from: the base URL of the node to
// pull it from (its channel's owner, or this edge's origin), or local true
// when this node is that node (nothing to pull: its publisher comes here).
// An error (Redis unavailable, no owner yet) is retried with backoff while
// readers wait.
type Locator func(ctx context.Context, key media.Key) (originBaseURL string, local bool, err error)

// PullerConfig configures a Puller. Zero durations are the defaults of
// config cluster.*.
type PullerConfig struct {
	Hub    *media.Hub    // the local hub the streams are pulled into
	Locate Locator       // where a stream's origin is
	Auth   *cluster.Auth // signs the pulls (the origin's Origin checks them)
	// Client makes the pulls. It must have no Timeout (which would cut every
	// relayed stream after it). Nil: a client of its own.
	Client *http.Client
	// Prefix is the path the origins' relay handler is mounted at (Origin).
	Prefix string
	// Self is this node's own base URL: an origin at it is never pulled
	// (a locator that names this node is treated as local). Optional.
	Self string
	// Linger keeps a pull after the last local reader left
	// (cluster.pullLinger); < 0 stops it at once.
	Linger time.Duration
	// MinBackoff and MaxBackoff bound the wait between tries of a failed
	// pull (cluster.pullMinBackoff, cluster.pullMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	Log                    *slog.Logger
}

// PullerStats are a Puller's counters (for metrics).
type PullerStats struct {
	Streams  int    // streams being pulled or waited for now
	Pulls    uint64 // pull requests made
	Failures uint64 // tries that failed (Locate error, origin refused, broken body)
	BytesIn  uint64 // relay body bytes received
}

// Puller pulls from other nodes the streams that local readers want and no
// local publisher sends (see the package doc). Install Wanted as the hub's
// OnWanted (media.Config.OnWanted or Hub.SetOnWanted). Its methods are safe
// for concurrent use.
type Puller struct {
	cfg    PullerConfig
	client *http.Client
	log    *slog.Logger

	mu     sync.Mutex
	closed bool
	pulls  map[media.Key]*pull
	ending map[media.Key]chan struct{} // pulls stopped but still returning
	wg     sync.WaitGroup

	pullsMade atomic.Uint64
	failures  atomic.Uint64
	bytesIn   atomic.Uint64
}

// pull is one wanted stream: the goroutine that pulls it (or tries to).
type pull struct {
	key    media.Key
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	wanted bool        // guarded by Puller.mu
	linger *time.Timer // guarded by Puller.mu
}

// NewPuller checks cfg and returns a Puller.
func NewPuller(cfg PullerConfig) (*Puller, error) {
	switch {
	case cfg.Hub == nil || cfg.Locate == nil || cfg.Auth == nil || cfg.Log == nil:
		return nil, errors.New("edge: NewPuller needs a hub, a locator, a cluster.Auth and a logger")
	case cfg.Client != nil && cfg.Client.Timeout != 0:
		return nil, fmt.Errorf("edge: the relay client has a Timeout (%s), which would cut every relayed stream after it", cfg.Client.Timeout)
	}
	if cfg.Linger == 0 {
		cfg.Linger = defaults.ClusterPullLinger
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = defaults.ClusterPullMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = defaults.ClusterPullMaxBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		return nil, fmt.Errorf("edge: MaxBackoff %s is below MinBackoff %s", cfg.MaxBackoff, cfg.MinBackoff)
	}
	cfg.Self = strings.TrimSuffix(cfg.Self, "/")
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy:                 nil, // between nodes: never through a proxy
			DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   dialTimeout,
			ResponseHeaderTimeout: headerTimeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		}}
	}
	return &Puller{
		cfg:    cfg,
		client: client,
		log:    cfg.Log.With("component", "edge-puller"),
		pulls:  make(map[media.Key]*pull),
		ending: make(map[media.Key]chan struct{}),
	}, nil
}

// Stats returns the Puller's counters.
func (p *Puller) Stats() PullerStats {
	p.mu.Lock()
	n := len(p.pulls)
	p.mu.Unlock()
	return PullerStats{Streams: n, Pulls: p.pullsMade.Load(), Failures: p.failures.Load(), BytesIn: p.bytesIn.Load()}
}

// Wanted is the hub's OnWanted: it starts pulling key when it becomes
// wanted, and stops the pull Linger after it stops being wanted unless it is
// wanted again meanwhile. It never blocks.
func (p *Puller) Wanted(key media.Key, wanted bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	pl := p.pulls[key]
	switch {
	case wanted && pl != nil:
		pl.wanted = true
		if pl.linger != nil {
			pl.linger.Stop()
			pl.linger = nil
		}
	case wanted:
		ctx, cancel := context.WithCancel(context.Background())
		pl = &pull{key: key, ctx: ctx, cancel: cancel, done: make(chan struct{}), wanted: true}
		p.pulls[key] = pl
		prev := p.ending[key] // a stopped pull of key that has not returned yet
		p.wg.Add(1)
		go p.run(pl, prev)
	case pl != nil && pl.wanted:
		pl.wanted = false
		if p.cfg.Linger < 0 {
			p.stopLocked(pl)
			return
		}
		pl.linger = time.AfterFunc(p.cfg.Linger, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.pulls[key] == pl && !pl.wanted {
				p.stopLocked(pl)
			}
		})
	}
}

// stopLocked ends pl's goroutine. Called with p.mu held.
func (p *Puller) stopLocked(pl *pull) {
	if pl.linger != nil {
		pl.linger.Stop()
		pl.linger = nil
	}
	delete(p.pulls, pl.key)
	p.ending[pl.key] = pl.done
	pl.cancel()
}

// Close stops every pull and waits for their goroutines. Later Wanted calls
// do nothing. The relayed streams' readers see their publisher go away.
func (p *Puller) Close() {
	p.mu.Lock()
	p.closed = true
	for _, pl := range p.pulls {
		p.stopLocked(pl)
	}
	p.mu.Unlock()
	p.wg.Wait()
	p.client.CloseIdleConnections()
}

// run pulls pl's stream until pl is stopped. prev, when not nil, is a
// stopped pull of the same key still returning: its relayed publisher must
// be gone before this one publishes.
func (p *Puller) run(pl *pull, prev <-chan struct{}) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		if p.ending[pl.key] == pl.done {
			delete(p.ending, pl.key)
		}
		p.mu.Unlock()
		close(pl.done)
	}()
	if prev != nil {
		select {
		case <-prev:
		case <-pl.ctx.Done():
			return
		}
	}
	log := p.log.With("stream", pl.key)
	backoff := p.cfg.MinBackoff
	failing := 0 // consecutive failures: the first is logged as a warning
	for pl.ctx.Err() == nil {
		wait, flowed, err := p.try(pl)
		switch {
		case pl.ctx.Err() != nil:
			return
		case err != nil:
			p.failures.Add(1)
			failing++
			if failing == 1 {
				log.Warn("pull from the origin failed; trying again while readers wait", "err", err)
			} else {
				log.Debug("pull from the origin failed again", "err", err, "tries", failing)
			}
		case failing > 0 && flowed:
			log.Info("pull from the origin works again", "after", failing)
			failing = 0
		}
		if flowed {
			backoff = p.cfg.MinBackoff
		}
		if wait == 0 {
			wait = jitter(backoff)
			backoff = min(2*backoff, p.cfg.MaxBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-pl.ctx.Done():
			t.Stop()
			return
		}
	}
}

// jitter spreads retries over [d/2, d] so that the edges of a failed
// origin do not come back in step.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1) //nolint:gosec // G404: retry jitter, not a secret
}

// try locates the stream's origin and pulls it once. It returns a wait to
// use instead of the backoff (a local stream: look again later), whether
// media came through, and the failure.
func (p *Puller) try(pl *pull) (wait time.Duration, gotMedia bool, err error) {
	lctx, cancel := context.WithTimeout(pl.ctx, locateTimeout)
	origin, local, err := p.cfg.Locate(lctx, pl.key)
	cancel()
	if err != nil {
		return 0, false, fmt.Errorf("locate: %w", err)
	}
	origin = strings.TrimSuffix(origin, "/")
	if local || (p.cfg.Self != "" && origin == p.cfg.Self) {
		// Its publisher comes to this node: nothing to pull. Ownership may
		// move, so look again now and then while readers wait.
		return p.cfg.MaxBackoff, false, nil
	}
	if origin == "" {
		return 0, false, errors.New("locate: no origin and not local")
	}
	h := make(http.Header)
	p.cfg.Auth.Sign(h)
	var n atomic.Uint64
	client := *p.client
	client.Transport = countingTransport{base: p.client.Transport, total: &p.bytesIn, this: &n}
	p.pullsMade.Add(1)
	err = relay.Pull{URL: RelayURL(origin, p.cfg.Prefix, pl.key), Header: h, Client: &client, Hub: p.cfg.Hub, Key: pl.key, Log: p.log}.Run(pl.ctx)
	return 0, n.Load() > uint64(len(relay.Magic)), err
}

// countingTransport counts the response body bytes of the requests it makes.
type countingTransport struct {
	base        http.RoundTripper
	total, this *atomic.Uint64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, t: t}
	return resp, nil
}

type countingBody struct {
	io.ReadCloser
	t countingTransport
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.t.total.Add(uint64(n)) //nolint:gosec // G115: a Reader returns 0 <= n <= len(p)
	b.t.this.Add(uint64(n))  //nolint:gosec // G115: same
	return n, err
}
