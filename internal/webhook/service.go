package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/store"
)

// Config holds the Service's knobs (config webhooks.*); zero values mean the
// defaults of internal/config/defaults.
type Config struct {
	RetryFor    time.Duration // retry a delivery this long after its event
	Timeout     time.Duration // one attempt
	Concurrency int           // attempts in flight, all endpoints
	MinBackoff  time.Duration // first retry wait
	MaxBackoff  time.Duration // longest retry wait (at least MinBackoff)
	Retention   time.Duration // keep finished entries
	// Client sends the requests (default: one with Timeout that does not
	// follow redirects).
	Client *http.Client

	// Node is this node's id when several nodes share the store (a
	// cluster): the entries it writes carry it, and it delivers only the
	// entries it owns, those it wrote and those it adopted. "" is a single
	// node, which delivers every pending entry of the store.
	Node string
	// Alive reports whether node is a live member of the cluster (the
	// registry: cluster.Cluster.Node). Only with Node set. The pending
	// entries of a node that is not alive, and entries without a node, are
	// adopted by one live node. nil takes every node for alive, so only
	// entries without a node are adopted.
	Alive func(ctx context.Context, node string) (bool, error)
	// SweepEvery is how often a cluster node looks for pending entries to
	// adopt (the node passes cluster.nodeTTL: a dead node's entries move
	// within the TTL plus this period).
	SweepEvery time.Duration
}

func (c *Config) defaults() {
	if c.RetryFor <= 0 {
		c.RetryFor = defaults.WebhooksRetryFor
	}
	if c.Timeout <= 0 {
		c.Timeout = defaults.WebhooksTimeout
	}
	if c.Concurrency <= 0 {
		c.Concurrency = defaults.WebhooksConcurrency
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = defaults.WebhooksMinBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(c.MinBackoff, defaults.WebhooksMaxBackoff)
	}
	if c.Retention <= 0 {
		c.Retention = defaults.WebhooksRetention
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = defaults.ClusterNodeTTL
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: c.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
}

// Meter counts deliveries (*metrics.Metrics has it).
type Meter interface {
	// WebhookDelivered counts an attempt's outcome: "sent", "retried" (it
	// failed and will be retried) or "failed" (given up).
	WebhookDelivered(result string)
	// SetWebhooksPending reports the entries not delivered yet.
	SetWebhooksPending(n int)
}

// Results counted by Meter.
const (
	ResultSent    = "sent"
	ResultRetried = "retried"
	ResultFailed  = "failed"
)

// Store is what the Service needs of the store.
type Store interface {
	store.WebhookStore
	App(ctx context.Context, id string) (store.App, error)
}

// Service maps channel events to notices, keeps them in the outbox and
// delivers them. Build it with New, feed it with Observe, run it with Run.
type Service struct {
	cfg    Config
	st     Store
	log    *slog.Logger
	mapper *mapper

	meterMu sync.Mutex
	meter   Meter

	inMu     sync.Mutex
	incoming []notice
	wake     chan struct{} // the writer has work

	mu        sync.Mutex
	lanes     map[laneKey]*lane
	inflight  int
	perTarget map[string]int // in flight per endpoint
	pending   int
	kick      chan struct{} // the scheduler should look again
	started   chan struct{} // closed once Run loaded the outbox
}

// laneKey is one endpoint's queue for one channel.
type laneKey struct{ endpoint, app, channel string }

type lane struct {
	queue []store.OutboxEntry // Seq order; queue[0] is next
	busy  bool                // queue[0] is being attempted
}

// New builds a Service over st. stream (may be nil) describes streams for
// EventStreamPublished.
func New(cfg Config, st Store, stream func(app, channel string, uid uint32) StreamInfo, log *slog.Logger) *Service {
	cfg.defaults()
	return &Service{cfg: cfg, st: st, log: log.With("component", "webhook"), mapper: &mapper{Stream: stream},
		wake: make(chan struct{}, 1), lanes: map[laneKey]*lane{}, perTarget: map[string]int{},
		kick: make(chan struct{}, 1), started: make(chan struct{})}
}

// SetMeter makes the Service count its deliveries in m.
func (s *Service) SetMeter(m Meter) {
	s.meterMu.Lock()
	s.meter = m
	s.meterMu.Unlock()
}

func (s *Service) count(result string) {
	s.meterMu.Lock()
	m := s.meter
	s.meterMu.Unlock()
	if m != nil {
		m.WebhookDelivered(result)
	}
}

// setPending updates the pending count by d. s.mu held.
func (s *Service) setPending(d int) {
	s.pending += d
	s.meterMu.Lock()
	m := s.meter
	s.meterMu.Unlock()
	if m != nil {
		m.SetWebhooksPending(s.pending)
	}
}

// Observe is the channel model's observer (channel.Manager.Observe). It
// only queues: the writer stores the notices.
func (s *Service) Observe(ev channel.Event) {
	ns := s.mapper.Map(ev)
	if len(ns) == 0 {
		return
	}
	s.enqueue(ns...)
}

func (s *Service) enqueue(ns ...notice) {
	s.inMu.Lock()
	s.incoming = append(s.incoming, ns...)
	s.inMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run loads the outbox's pending entries (in a cluster, this node's), then
// stores and delivers notices until ctx ends; in a cluster it also adopts
// the pending entries of dead nodes every SweepEvery. Notices observed but
// not yet stored are stored before it returns; attempts in flight are
// abandoned (they stay pending).
func (s *Service) Run(ctx context.Context) error {
	all, err := s.st.PendingOutbox(ctx)
	if err != nil {
		return fmt.Errorf("webhook: load outbox: %w", err)
	}
	pend := all[:0]
	for _, e := range all {
		if s.mine(e) {
			pend = append(pend, e)
		}
	}
	s.mu.Lock()
	s.addLocked(pend)
	s.mu.Unlock()
	close(s.started)
	if len(pend) > 0 {
		s.log.Info("webhook deliveries pending from before the start", "count", len(pend))
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.writer(ctx) }()
	go func() { defer wg.Done(); s.pruner(ctx) }()
	if s.cfg.Node != "" {
		wg.Add(1)
		go func() { defer wg.Done(); s.sweeper(ctx) }()
	}
	s.scheduler(ctx)
	wg.Wait()
	return nil
}

// mine reports whether this node delivers e: on a single node every entry,
// in a cluster the entries it owns.
func (s *Service) mine(e store.OutboxEntry) bool {
	return s.cfg.Node == "" || e.Node == s.cfg.Node
}

// addLocked puts stored pending entries into their lanes, in Seq order,
// skipping those already queued. s.mu held.
func (s *Service) addLocked(entries []store.OutboxEntry) {
	for _, e := range entries {
		k := laneKey{e.Endpoint, e.App, e.Channel}
		l := s.lanes[k]
		if l == nil {
			l = &lane{}
			s.lanes[k] = l
		}
		i := len(l.queue)
		for i > 0 && l.queue[i-1].Seq > e.Seq && !(i-1 == 0 && l.busy) {
			i--
		}
		if i > 0 && l.queue[i-1].Seq == e.Seq {
			continue // queued already (adopted back, or redelivered during an attempt)
		}
		l.queue = append(l.queue, store.OutboxEntry{})
		copy(l.queue[i+1:], l.queue[i:])
		l.queue[i] = e
		s.setPending(1)
	}
}

// writer stores observed notices, one outbox entry per endpoint of the
// notice's app, one transaction per batch.
func (s *Service) writer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			// Store what was observed before the end (the store closes
			// after every service returned).
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.flush(sctx)
			cancel()
			return
		case <-s.wake:
		}
		for !s.flush(ctx) {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
}

// flush stores the queued notices. On a store error they stay queued and
// it returns false.
func (s *Service) flush(ctx context.Context) bool {
	s.inMu.Lock()
	batch := s.incoming
	s.incoming = nil
	s.inMu.Unlock()
	if len(batch) == 0 {
		return true
	}
	eps, err := s.st.WebhookEndpoints(ctx, "")
	var saved []store.OutboxEntry
	if err == nil {
		byApp := map[string][]store.WebhookEndpoint{}
		for _, e := range eps {
			byApp[e.App] = append(byApp[e.App], e)
		}
		var entries []store.OutboxEntry
		now := time.Now()
		for _, n := range batch {
			for _, e := range byApp[n.app] {
				entries = append(entries, store.OutboxEntry{NoticeID: n.id, App: n.app, Endpoint: e.ID,
					Node: s.cfg.Node, Channel: n.channel, EventType: n.eventType, Payload: n.payload, CreatedAt: n.at.UTC(),
					RetryUntil: n.at.Add(s.cfg.RetryFor).UTC(), Status: store.DeliveryPending, NextAttempt: now.UTC()})
			}
		}
		if len(entries) == 0 {
			return true
		}
		saved, err = s.st.AppendOutbox(ctx, entries)
	}
	if err != nil {
		s.log.Error("webhook outbox write failed, retrying", "err", err, "notices", len(batch))
		s.inMu.Lock()
		s.incoming = append(batch, s.incoming...)
		s.inMu.Unlock()
		return false
	}
	s.mu.Lock()
	s.addLocked(saved)
	s.mu.Unlock()
	s.poke()
	return true
}

// scheduler starts the attempts whose time has come, within the limits.
func (s *Service) scheduler(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := s.dispatch(ctx, &wg)
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-timer.C:
		}
	}
}

// targetCap is the most attempts in flight to one endpoint.
func (s *Service) targetCap() int { return max(1, s.cfg.Concurrency/2) }

// dispatch starts every ready lane head it may and returns the earliest
// time a waiting head becomes ready (zero: none waits).
func (s *Service) dispatch(ctx context.Context, wg *sync.WaitGroup) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var next time.Time
	for k, l := range s.lanes {
		if l.busy || len(l.queue) == 0 {
			continue
		}
		head := l.queue[0]
		if head.NextAttempt.After(now) {
			if next.IsZero() || head.NextAttempt.Before(next) {
				next = head.NextAttempt
			}
			continue
		}
		if s.inflight >= s.cfg.Concurrency {
			break // a finishing attempt pokes the scheduler
		}
		if s.perTarget[k.endpoint] >= s.targetCap() {
			continue
		}
		l.busy = true
		s.inflight++
		s.perTarget[k.endpoint]++
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.attempt(ctx, k, head)
		}()
	}
	return next
}

// attempt delivers e once and records the outcome.
func (s *Service) attempt(ctx context.Context, k laneKey, e store.OutboxEntry) {
	status, aerr := s.send(ctx, e)
	if ctx.Err() != nil {
		// Shutting down: the entry stays pending in the store.
		s.release(k, e, false)
		return
	}
	now := time.Now()
	e.Attempts++
	e.LastAttempt = now.UTC()
	e.LastStatus = status
	e.LastError = ""
	done := false
	switch {
	case aerr == nil:
		e.Status = store.DeliveryDelivered
		done = true
		s.count(ResultSent)
	case errors.Is(aerr, errEndpointGone) || !now.Before(e.RetryUntil):
		e.Status = store.DeliveryFailed
		e.LastError = aerr.Error()
		done = true
		s.count(ResultFailed)
		s.log.Warn("webhook delivery given up", "notice", e.NoticeID, "endpoint", e.Endpoint, "eventType", e.EventType,
			"attempts", e.Attempts, "err", aerr)
	default:
		e.LastError = aerr.Error()
		e.NextAttempt = now.Add(s.backoff(e.Attempts)).UTC()
		s.count(ResultRetried)
		s.log.Debug("webhook delivery failed, will retry", "notice", e.NoticeID, "endpoint", e.Endpoint,
			"attempts", e.Attempts, "next", e.NextAttempt, "err", aerr)
	}
	uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := s.st.UpdateOutbox(uctx, e); errors.Is(err, store.ErrNotOwner) {
		// Another node took this node for dead and adopted the entry: it
		// delivers it from now on.
		done = true
		s.log.Info("webhook delivery adopted by another node", "notice", e.NoticeID, "endpoint", e.Endpoint)
	} else if err != nil {
		s.log.Error("webhook outbox update failed", "notice", e.NoticeID, "err", err)
	}
	cancel()
	s.release(k, e, done)
}

// release ends an attempt: the lane's head is e (updated), popped when done.
func (s *Service) release(k laneKey, e store.OutboxEntry, done bool) {
	s.mu.Lock()
	l := s.lanes[k]
	l.busy = false
	if done {
		l.queue = l.queue[1:]
		s.setPending(-1)
	} else {
		l.queue[0].Attempts, l.queue[0].NextAttempt = e.Attempts, e.NextAttempt
		l.queue[0].LastAttempt, l.queue[0].LastStatus, l.queue[0].LastError = e.LastAttempt, e.LastStatus, e.LastError
	}
	if len(l.queue) == 0 {
		delete(s.lanes, k)
	}
	s.inflight--
	if s.perTarget[k.endpoint]--; s.perTarget[k.endpoint] <= 0 {
		delete(s.perTarget, k.endpoint)
	}
	s.mu.Unlock()
	s.poke()
}

// backoff is the wait after the n-th failed attempt: MinBackoff doubled
// n-1 times, at most MaxBackoff, then ±25% jitter.
func (s *Service) backoff(n int) time.Duration {
	d := s.cfg.MinBackoff
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	return time.Duration(float64(d) * (0.75 + 0.5*rand.Float64())) //nolint:gosec // G404: retry jitter, not a secret
}

var errEndpointGone = errors.New("the webhook endpoint was removed")

// send makes one attempt. It returns the HTTP status (0 without an answer)
// and nil for a 2xx answer.
func (s *Service) send(ctx context.Context, e store.OutboxEntry) (int, error) {
	ep, err := s.endpoint(ctx, e.App, e.Endpoint)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(Notice{NoticeID: e.NoticeID, ProductID: ProductID, EventType: e.EventType,
		NotifyMs: time.Now().UnixMilli(), Payload: e.Payload})
	if err != nil {
		return 0, err
	}
	v1, v2 := Sign(ep.Secret, body)
	actx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errEndpointGone
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "minirtc-webhook")
	req.Header.Set(headerSignature, v1)
	req.Header.Set(headerSignatureV2, v2)
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", ep.URL, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close() // read side: nothing to report
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("POST %s: answered %s", ep.URL, resp.Status)
	}
	return resp.StatusCode, nil
}

func (s *Service) endpoint(ctx context.Context, app, id string) (store.WebhookEndpoint, error) {
	eps, err := s.st.WebhookEndpoints(ctx, app)
	if err != nil {
		return store.WebhookEndpoint{}, fmt.Errorf("load endpoint: %w", err)
	}
	for _, e := range eps {
		if e.ID == id {
			return e, nil
		}
	}
	return store.WebhookEndpoint{}, errEndpointGone
}

// pruner deletes finished entries older than Retention, hourly.
func (s *Service) pruner(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := s.st.PruneOutbox(ctx, time.Now().Add(-s.cfg.Retention)); err != nil && ctx.Err() == nil {
			s.log.Warn("webhook outbox prune failed", "err", err)
		} else if n > 0 {
			s.log.Info("webhook outbox pruned", "entries", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Redeliver queues every entry of app's notice again (a finished one is
// pending again, for RetryFor from now; a pending one is attempted now). It
// returns the entries, or store.ErrNotFound. In a cluster this node takes
// the finished entries over; a pending entry of another live node stays
// with it (its owner attempts it on its schedule), one of a dead node is
// adopted.
func (s *Service) Redeliver(ctx context.Context, app, noticeID string) ([]store.OutboxEntry, error) {
	if err := s.waitStarted(ctx); err != nil {
		return nil, err
	}
	entries, err := s.st.OutboxByNotice(ctx, app, noticeID)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("notice %s: %w", noticeID, store.ErrNotFound)
	}
	now := time.Now().UTC()
	var rest []int // entries not queued here
	s.mu.Lock()
	for i, e := range entries {
		if e.Status != store.DeliveryPending || !s.bringForwardLocked(e, now) {
			rest = append(rest, i)
		}
	}
	s.mu.Unlock()
	var back []store.OutboxEntry
	for _, i := range rest {
		e := entries[i]
		if e.Status == store.DeliveryPending && !s.mine(e) {
			got, ok, err := s.adoptIfDead(ctx, e)
			if err != nil {
				return nil, err
			}
			if ok {
				got.NextAttempt = now
				entries[i] = got
				back = append(back, got)
			}
			continue
		}
		e.Status, e.NextAttempt, e.RetryUntil = store.DeliveryPending, now, now.Add(s.cfg.RetryFor)
		if err := s.st.UpdateOutbox(ctx, e); err != nil {
			return nil, err
		}
		entries[i] = e
		if !s.mine(e) {
			// Finished at another node: this node delivers it again.
			got, ok, err := s.st.AdoptOutbox(ctx, e.Seq, e.Node, s.cfg.Node)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue // adopted by another node meanwhile: it delivers it
			}
			entries[i] = got
			e = got
		}
		back = append(back, e)
	}
	s.mu.Lock()
	s.addLocked(back)
	s.mu.Unlock()
	s.poke()
	return entries, nil
}

// bringForwardLocked makes e, when queued here and not in flight, due now;
// it reports whether e is queued here. s.mu held.
func (s *Service) bringForwardLocked(e store.OutboxEntry, now time.Time) bool {
	l := s.lanes[laneKey{e.Endpoint, e.App, e.Channel}]
	if l == nil {
		return false
	}
	for j := range l.queue {
		if l.queue[j].Seq == e.Seq {
			if !(j == 0 && l.busy) {
				l.queue[j].NextAttempt = now
			}
			return true
		}
	}
	return false
}

// SendTest queues a test notice (EventTest) for one endpoint of app and
// returns its id; the deliveries listing shows how it went.
func (s *Service) SendTest(ctx context.Context, app, endpointID string) (string, error) {
	if err := s.waitStarted(ctx); err != nil {
		return "", err
	}
	ep, err := s.endpoint(ctx, app, endpointID)
	if err != nil {
		return "", fmt.Errorf("webhook %s: %w", endpointID, store.ErrNotFound)
	}
	now := time.Now()
	b, _ := json.Marshal(Payload{TS: now.Unix(), Message: "minirtc test notice"})
	id := newNoticeID()
	saved, err := s.st.AppendOutbox(ctx, []store.OutboxEntry{{NoticeID: id, App: app, Endpoint: ep.ID, Node: s.cfg.Node,
		EventType: EventTest, Payload: b, CreatedAt: now.UTC(), RetryUntil: now.Add(s.cfg.RetryFor).UTC(),
		Status: store.DeliveryPending, NextAttempt: now.UTC()}})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.addLocked(saved)
	s.mu.Unlock()
	s.poke()
	return id, nil
}

// waitStarted waits until Run loaded the outbox (entries queued before
// would be queued twice).
func (s *Service) waitStarted(ctx context.Context) error {
	select {
	case <-s.started:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("webhook: not running: %w", ctx.Err())
	}
}
