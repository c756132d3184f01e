package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// AgentConfig configures a node's Agent.
type AgentConfig struct {
	// Info describes the node; its Load is replaced by Load() at each beat.
	Info NodeInfo
	// Load samples the node's load for each heartbeat (nil: zero load).
	Load func() Load
	// OnLost is called (on the agent's goroutine) when Redis says another
	// node holds a lease this node held: the node must stop acting as the
	// channel's owner (its members are told to rejoin). A lease that could
	// not be renewed because Redis was unreachable is not lost: the node
	// keeps serving the channel and renews or takes the lease back when
	// Redis answers (OnLost follows only if another node took it
	// meanwhile). May be nil.
	OnLost func(Lease)
	// OnTaken is called by Own, before it returns, when the node takes a
	// channel it did not hold (a new channel, or one whose owner died or
	// handed it over): the node may read what the previous owner left
	// (the channel's member list). Not called when the node takes back a
	// lease it held (renewal after an outage). May be nil.
	OnTaken func(ctx context.Context, l Lease)
	Log     *slog.Logger
}

// Agent keeps a node present in the registry and renews the channel leases
// it owns. Run it on one goroutine; the other methods are safe from any.
//
// Redis unavailable: the agent keeps the node's sessions and retries every
// beat. A lease that could not be renewed within the lease time is kept as
// stale (Own does not answer it): the first beat that reaches Redis again
// renews it if it is still this node's, or takes it back if it expired and
// nobody took it, so the channel's members, still on this node, stay its
// channel; only when Redis says another node holds it is the lease given
// up (OnLost). A Redis that comes back empty (restarted without
// persistence) is refilled the same way: the node registers again and
// takes its leases back under new fencing tokens.
type Agent struct {
	c   *Cluster
	cfg AgentConfig

	mu       sync.Mutex
	draining bool
	leases   map[leaseID]*held
}

type leaseID struct{ app, channel string }

type held struct {
	lease   Lease
	renewed time.Time // last successful renewal (or grant)
	// stale: not renewed within the lease time (Redis unreachable);
	// renewed or taken back when Redis answers again.
	stale bool
	// taken is closed once OnTaken returned for this grant (nil: no
	// OnTaken); Own waits for it, so no member joins a channel before
	// what its previous owner left is read.
	taken chan struct{}
}

// wait waits until OnTaken is done with h's grant, or ctx ends.
func (h *held) wait(ctx context.Context) error {
	if h.taken == nil {
		return nil
	}
	select {
	case <-h.taken:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewAgent returns the agent of the node cfg.Info.ID.
func (c *Cluster) NewAgent(cfg AgentConfig) *Agent {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Agent{c: c, cfg: cfg, leases: map[leaseID]*held{}}
}

// Beat is the agent's period: a third of the shorter of the node and lease
// times, so two beats may fail before anything expires.
func (a *Agent) Beat() time.Duration {
	return min(a.c.cfg.NodeTTL, a.c.cfg.LeaseTTL) / 3
}

// Run beats until ctx ends, then leaves the registry and releases the
// node's leases (best effort: they expire anyway).
func (a *Agent) Run(ctx context.Context) {
	t := time.NewTicker(a.Beat())
	defer t.Stop()
	a.beat(ctx)
	for {
		select {
		case <-ctx.Done():
			bg, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			a.mu.Lock()
			ls := make([]Lease, 0, len(a.leases))
			for _, h := range a.leases {
				ls = append(ls, h.lease)
			}
			a.mu.Unlock()
			for _, l := range ls {
				_ = a.c.Release(bg, l)
			}
			_ = a.c.Leave(bg, a.cfg.Info.ID)
			return
		case <-t.C:
			a.beat(ctx)
		}
	}
}

// beat sends one heartbeat and renews every lease, within one period (a
// Redis that does not answer must not stall the next beat).
func (a *Agent) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, a.Beat())
	defer cancel()
	info := a.cfg.Info
	if a.cfg.Load != nil {
		info.Load = a.cfg.Load()
	}
	a.mu.Lock()
	info.Draining = a.draining
	info.Load.Channels = len(a.leases)
	hs := make([]*held, 0, len(a.leases))
	for _, h := range a.leases {
		hs = append(hs, h)
	}
	a.mu.Unlock()
	if err := a.c.Heartbeat(ctx, info); err != nil {
		a.cfg.Log.Warn("cluster: heartbeat failed; retrying", "err", err)
	}
	for _, h := range hs {
		a.renew(ctx, h)
	}
}

func (a *Agent) renew(ctx context.Context, h *held) {
	a.mu.Lock()
	l := h.lease
	a.mu.Unlock()
	err := a.c.Renew(ctx, l)
	now := a.c.now()
	switch {
	case err == nil:
		a.mu.Lock()
		wasStale := h.stale
		h.renewed, h.stale = now, false
		a.mu.Unlock()
		if wasStale {
			a.cfg.Log.Info("cluster: channel lease renewed after an outage", "app", l.App, "channel", l.Channel, "token", l.Token)
		}
		return
	case errors.Is(err, ErrLeaseLost):
		// Gone from Redis: expired while we could not reach it, or Redis
		// restarted empty. Take it back if nobody else did.
		nl, granted, aerr := a.c.Acquire(ctx, l.App, l.Channel, a.cfg.Info.ID)
		if aerr == nil && granted {
			a.mu.Lock()
			h.lease, h.renewed, h.stale = nl, now, false
			a.mu.Unlock()
			a.cfg.Log.Info("cluster: channel lease taken back", "app", l.App, "channel", l.Channel, "token", nl.Token)
			return
		}
		if aerr == nil && nl.Owner == a.cfg.Info.ID {
			// Own took it again meanwhile: that grant replaced this one.
			a.drop(l)
			return
		}
		if aerr == nil {
			a.drop(l)
			a.lost(l, "another node holds it")
			return
		}
		err = aerr
	}
	// Redis unreachable: past the lease time another node might own the
	// channel (if it reaches Redis when this node does not), so the lease
	// is stale: Own no longer answers it, and the next beat that reaches
	// Redis renews it, takes it back or learns it is lost. The channel's
	// members stay served meanwhile.
	a.mu.Lock()
	expired := now.Sub(h.renewed) >= a.c.cfg.LeaseTTL
	overdue := expired && !h.stale
	h.stale = h.stale || expired
	a.mu.Unlock()
	if overdue {
		a.cfg.Log.Warn("cluster: channel lease not renewed within the lease time; still serving the channel, taking it back when Redis answers",
			"app", l.App, "channel", l.Channel, "token", l.Token, "err", err)
		return
	}
	a.cfg.Log.Warn("cluster: lease renewal failed; retrying", "app", l.App, "channel", l.Channel, "err", err)
}

// drop forgets l for good (another node holds the channel).
func (a *Agent) drop(l Lease) {
	a.mu.Lock()
	id := leaseID{l.App, l.Channel}
	if h := a.leases[id]; h != nil && h.lease == l {
		delete(a.leases, id)
	}
	a.mu.Unlock()
}

func (a *Agent) lost(l Lease, why string) {
	a.cfg.Log.Warn("cluster: channel lease lost", "app", l.App, "channel", l.Channel, "token", l.Token, "why", why)
	if a.cfg.OnLost != nil {
		a.cfg.OnLost(l)
	}
}

// Own makes the node the channel's owner: it takes the lease, or adopts the
// one placement granted it. It returns ErrLeaseLost (wrapped) when another
// node owns the channel, with that node's lease, and ErrDraining when the
// node is draining and the channel is not already its own.
func (a *Agent) Own(ctx context.Context, app, channel string) (Lease, error) {
	id := leaseID{app, channel}
	a.mu.Lock()
	if h := a.leases[id]; h != nil && !h.stale {
		l := h.lease
		a.mu.Unlock()
		return l, h.wait(ctx)
	}
	draining := a.draining
	a.mu.Unlock()
	if draining {
		return Lease{}, ErrDraining
	}
	l, _, err := a.c.Acquire(ctx, app, channel, a.cfg.Info.ID)
	if err != nil {
		return Lease{}, err
	}
	if l.Owner != a.cfg.Info.ID {
		return l, ErrLeaseLost
	}
	a.mu.Lock()
	if h := a.leases[id]; h != nil && !h.stale { // a concurrent Own won
		a.mu.Unlock()
		return h.lease, h.wait(ctx)
	}
	fresh := a.leases[id] == nil
	h := &held{lease: l, renewed: a.c.now()}
	if fresh && a.cfg.OnTaken != nil {
		h.taken = make(chan struct{})
	}
	a.leases[id] = h
	a.mu.Unlock()
	if h.taken != nil {
		defer close(h.taken)
		a.cfg.OnTaken(ctx, l)
	}
	return l, nil
}

// Lease returns the lease the node holds for the channel, if it holds one
// that is not stale.
func (a *Agent) Lease(app, channel string) (Lease, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := a.leases[leaseID{app, channel}]
	if h == nil || h.stale {
		return Lease{}, false
	}
	return h.lease, true
}

// Disown releases the channel (it ended on this node, or was handed over).
func (a *Agent) Disown(ctx context.Context, app, channel string) error {
	id := leaseID{app, channel}
	a.mu.Lock()
	h := a.leases[id]
	delete(a.leases, id)
	a.mu.Unlock()
	if h == nil {
		return nil
	}
	return a.c.Release(ctx, h.lease)
}

// Owned lists the leases the node holds.
func (a *Agent) Owned() []Lease {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Lease, 0, len(a.leases))
	for _, h := range a.leases {
		out = append(out, h.lease)
	}
	return out
}

// SetDraining marks the node as taking no new channels and tells the
// registry at once. Existing leases are kept until Disown.
func (a *Agent) SetDraining(ctx context.Context, on bool) error {
	a.mu.Lock()
	a.draining = on
	a.mu.Unlock()
	info := a.cfg.Info
	if a.cfg.Load != nil {
		info.Load = a.cfg.Load()
	}
	info.Draining = on
	return a.c.Heartbeat(ctx, info)
}
