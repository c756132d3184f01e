package node

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
)

// memberStore is the part of the cluster store that keeps each channel's
// member list for a successor (*store.Redis).
type memberStore interface {
	PutChannelMember(ctx context.Context, f store.Fence, app, channel string, m store.ChannelMember) (bool, error)
	DeleteChannelMember(ctx context.Context, f store.Fence, app, channel string, uid uint32) (bool, error)
	DropChannelMembers(ctx context.Context, f store.Fence, app, channel string) (bool, error)
	HandOverChannelMembers(ctx context.Context, f store.Fence, app, channel string) (bool, error)
	TakeChannelMembers(ctx context.Context, f store.Fence, app, channel string) (store.TakenMembers, error)
	ChannelsWithMembers(ctx context.Context) ([][2]string, error)
}

type chanKey struct{ app, channel string }

// succession, in a cluster, keeps the member list of each channel this node
// owns in Redis and, when the node takes over a channel whose owner died,
// continues that owner's members for the webhooks: a member that rejoins
// within the grace period is not reported joining again (and its leave
// counts from its first join); one that does not gets its leave (reason 2,
// timeout), followed by the channel's destroy notice if nobody is left.
// It sits between the channel model and the webhook service (observe).
type succession struct {
	st     memberStore
	c      *cluster.Cluster
	agent  func() *cluster.Agent
	local  func(app, channel string) []channel.MemberInfo
	notify func(channel.Event) // the webhook service's Observe
	grace  time.Duration
	log    *slog.Logger

	emitMu  sync.Mutex // notify is called by one caller at a time
	writeMu sync.Mutex // held around each member list write, and by drop

	mu      sync.Mutex
	inherit map[chanKey]*inherited
	moved   map[chanKey]bool // lease lost to another node: it reports this channel now
	known   map[chanKey]map[uint32]store.ChannelMember
	ops     []memberOp
	wake    chan struct{}
}

// inherited is a channel taken over from a dead owner, during its grace.
type inherited struct {
	orphans   map[uint32]store.ChannelMember // not back yet
	back      map[uint32]time.Time           // rejoined: their first join
	created   bool                           // this node's create notice was held back
	destroyed *channel.Event                 // this node's destroy notice, held back
	reason    errcode.LeaveReason            // of the leave of a member not back
	timer     *time.Timer
}

// memberOp is one write of a member list, in event order.
type memberOp struct {
	key chanKey
	m   store.ChannelMember
	del bool
}

func newSuccession(st memberStore, c *cluster.Cluster, agent func() *cluster.Agent, local func(app, channel string) []channel.MemberInfo,
	notify func(channel.Event), grace time.Duration, log *slog.Logger) *succession {
	return &succession{st: st, c: c, agent: agent, local: local, notify: notify, grace: grace,
		log: log.With("component", "succession"), inherit: map[chanKey]*inherited{}, moved: map[chanKey]bool{},
		known: map[chanKey]map[uint32]store.ChannelMember{}, wake: make(chan struct{}, 1)}
}

func (s *succession) fence(k chanKey) (store.Fence, bool) {
	a := s.agent()
	if a == nil {
		return store.Fence{}, false
	}
	l, ok := a.Lease(k.app, k.channel)
	if !ok {
		return store.Fence{}, false
	}
	return store.Fence{Key: s.c.LeaseKey(k.app, k.channel), Value: l.Value()}, true
}

func (s *succession) emit(evs ...channel.Event) {
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	for _, ev := range evs {
		s.notify(ev)
	}
}

// observe is the channel model's observer: it records member changes for a
// successor and passes the events on to the webhooks, holding back those
// that would report a continued channel or member a second time.
func (s *succession) observe(ev channel.Event) {
	k := chanKey{ev.App, ev.Channel}
	pass := true
	s.mu.Lock()
	inh := s.inherit[k]
	switch ev.Kind {
	case channel.EventChannelCreated:
		delete(s.moved, k)
		if inh != nil && (!inh.created || inh.destroyed != nil) {
			// The channel did not end: its members are still in their grace.
			inh.created, inh.destroyed, pass = true, nil, false
		}
	case channel.EventChannelDestroyed:
		if s.moved[k] {
			delete(s.moved, k)
			pass = false // the node that took the channel reports its end
		} else if inh != nil && len(inh.orphans) > 0 {
			inh.destroyed, pass = &ev, false // after the orphans' leaves
		}
		delete(s.known, k)
	case channel.EventMemberJoined:
		m := store.ChannelMember{UID: ev.UID, Account: ev.Account, Role: int(ev.Role), Profile: int(ev.Profile),
			JoinedMs: ev.JoinedAt.UnixMilli(), Kind: ev.Client.Kind, OS: ev.Client.OS}
		if ev.JoinedAt.IsZero() {
			m.JoinedMs = ev.At.UnixMilli()
		}
		if inh != nil {
			if o, ok := inh.orphans[ev.UID]; ok {
				// Back within the grace: it continues.
				delete(inh.orphans, ev.UID)
				inh.back[ev.UID] = o.JoinedAt()
				m.JoinedMs = o.JoinedMs
				pass = false
				if o.Role != int(ev.Role) && ev.Profile == channel.ProfileLive {
					// It came back with the other role: say that.
					rc := ev
					rc.Kind, rc.JoinedAt = channel.EventRoleChanged, o.JoinedAt()
					s.mu.Unlock()
					s.emit(rc)
					s.mu.Lock()
				}
			}
		}
		s.remember(k, m)
	case channel.EventMemberLeft:
		if inh != nil {
			if at, ok := inh.back[ev.UID]; ok {
				ev.JoinedAt = at
				delete(inh.back, ev.UID)
			}
		}
		if m, ok := s.known[k][ev.UID]; ok {
			ev.JoinedAt = m.JoinedAt() // a continued member counts from its first join
		}
		delete(s.known[k], ev.UID)
		s.queue(memberOp{key: k, m: store.ChannelMember{UID: ev.UID}, del: true})
		if s.moved[k] {
			pass = false
		}
	case channel.EventRoleChanged:
		if m, ok := s.known[k][ev.UID]; ok {
			m.Role = int(ev.Role)
			s.remember(k, m)
		}
	}
	s.mu.Unlock()
	if pass {
		s.emit(ev)
	}
}

// remember records m locally and queues its write. s.mu held.
func (s *succession) remember(k chanKey, m store.ChannelMember) {
	if s.known[k] == nil {
		s.known[k] = map[uint32]store.ChannelMember{}
	}
	s.known[k][m.UID] = m
	s.queue(memberOp{key: k, m: m})
}

// queue adds a write for the writer. s.mu held.
func (s *succession) queue(op memberOp) {
	s.ops = append(s.ops, op)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run writes the member lists until ctx ends, one write at a time in event
// order. A write that fails (Redis unreachable) is logged and dropped: the
// list is a best-effort record, rewritten by the member's next change.
func (s *succession) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		for s.writeNext(ctx) {
		}
	}
}

// writeNext makes the next queued member list write; false when none is
// queued. The write is taken from the queue and made under writeMu, so
// drop never runs between the two.
func (s *succession) writeNext(ctx context.Context) bool {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	if len(s.ops) == 0 {
		s.mu.Unlock()
		return false
	}
	op := s.ops[0]
	s.ops = s.ops[1:]
	s.mu.Unlock()
	s.apply(ctx, op)
	return true
}

// apply makes one member list write. s.writeMu held.
func (s *succession) apply(ctx context.Context, op memberOp) {
	f, ok := s.fence(op.key)
	if !ok {
		return // not this node's channel (any more)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var err error
	if op.del {
		_, err = s.st.DeleteChannelMember(wctx, f, op.key.app, op.key.channel, op.m.UID)
	} else {
		_, err = s.st.PutChannelMember(wctx, f, op.key.app, op.key.channel, op.m)
	}
	if err != nil {
		s.log.Warn("cluster: channel member list not written", "app", op.key.app, "channel", op.key.channel, "uid", op.m.UID, "err", err)
	}
}

// take removes the queued writes of channel k and returns them.
func (s *succession) take(k chanKey) []memberOp {
	s.mu.Lock()
	defer s.mu.Unlock()
	var mine []memberOp
	rest := s.ops[:0]
	for _, op := range s.ops {
		if op.key == k {
			mine = append(mine, op)
		} else {
			rest = append(rest, op)
		}
	}
	s.ops = rest
	return mine
}

// sweep looks, every period (cluster.leaseTTL) and on one node of the
// cluster at a time, for member lists that no node owns: a dead owner's
// channel whose members nobody brought back, so no node took it. A
// channel still unowned a whole period later (a live owner cut off from
// Redis would have taken its lease back by then) is taken by this node:
// its members get their grace and then their leaves, and the channel its
// end, as if one of them had come back.
func (s *succession) sweep(ctx context.Context, self string, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.sweepOnce(ctx, self, period); err != nil && ctx.Err() == nil {
			s.log.Warn("cluster: looking for channels of dead owners failed", "err", err)
		}
	}
}

func (s *succession) sweepOnce(ctx context.Context, self string, period time.Duration) error {
	a := s.agent()
	if a == nil {
		return nil
	}
	won, err := s.c.Claim(ctx, "members", self, period/2)
	if err != nil || !won {
		return err
	}
	chans, err := s.st.ChannelsWithMembers(ctx)
	if err != nil {
		return err
	}
	unowned, err := s.c.Unowned(ctx, chans)
	if err != nil || len(unowned) == 0 {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(period):
	}
	if unowned, err = s.c.Unowned(ctx, unowned); err != nil {
		return err
	}
	for _, ch := range unowned {
		if _, err := a.Own(ctx, ch[0], ch[1]); err != nil {
			s.log.Info("cluster: a dead owner's channel was not taken", "app", ch[0], "channel", ch[1], "err", err)
			continue
		}
		s.log.Info("cluster: took a dead owner's channel nobody came back to", "app", ch[0], "channel", ch[1])
	}
	return nil
}

// taken is the agent's OnTaken: it reads what a dead previous owner left
// and starts the grace of its members.
func (s *succession) taken(ctx context.Context, l cluster.Lease) {
	f := store.Fence{Key: s.c.LeaseKey(l.App, l.Channel), Value: l.Value()}
	tm, err := s.st.TakeChannelMembers(ctx, f, l.App, l.Channel)
	ms, prev := tm.Members, tm.Previous
	if err != nil {
		s.log.Warn("cluster: could not read the previous owner's members; they get no leave notice", "app", l.App, "channel", l.Channel, "err", err)
		return
	}
	if len(ms) == 0 {
		return
	}
	k := chanKey{l.App, l.Channel}
	here := map[uint32]bool{}
	for _, m := range s.local(l.App, l.Channel) {
		here[m.UID] = true
	}
	inh := &inherited{orphans: map[uint32]store.ChannelMember{}, back: map[uint32]time.Time{}, reason: errcode.LeaveTimeout}
	if tm.HandedOver {
		inh.reason = errcode.LeaveDrain // Agora's 4: the server adjusted its load
	}
	for _, m := range ms {
		if !here[m.UID] {
			inh.orphans[m.UID] = m
		}
	}
	if len(inh.orphans) == 0 {
		return
	}
	s.mu.Lock()
	if old := s.inherit[k]; old != nil {
		old.timer.Stop()
	}
	s.inherit[k] = inh
	inh.timer = time.AfterFunc(s.grace, func() { s.expire(k, inh) })
	s.mu.Unlock()
	s.log.Info("cluster: took over a channel from its previous owner; its members have the grace to rejoin",
		"app", l.App, "channel", l.Channel, "previous", prev, "handedOver", tm.HandedOver, "members", len(inh.orphans), "grace", s.grace)
}

// expire ends the grace of an inherited channel: the members that did not
// come back leave (timeout), then the channel ends if nobody is in it.
func (s *succession) expire(k chanKey, inh *inherited) {
	s.mu.Lock()
	if s.inherit[k] != inh {
		s.mu.Unlock()
		return
	}
	delete(s.inherit, k)
	orphans, reason := inh.orphans, inh.reason
	inh.orphans = nil
	destroyed, created := inh.destroyed, inh.created
	s.mu.Unlock()

	f, own := s.fence(k)
	now := time.Now()
	var evs []channel.Event
	profile := channel.ProfileLive
	for _, m := range orphans {
		profile = channel.Profile(m.Profile)
		if own {
			// Off the list first: a successor of this node must not report
			// the leave again (a crash in between loses it instead).
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			ok, err := s.st.DeleteChannelMember(ctx, f, k.app, k.channel, m.UID)
			cancel()
			if err != nil || !ok {
				s.log.Warn("cluster: an inherited member's leave is not reported: the list could not be updated", "app", k.app, "channel", k.channel, "uid", m.UID, "err", err)
				continue
			}
		} else {
			s.log.Warn("cluster: an inherited member's leave is not reported: this node no longer owns the channel", "app", k.app, "channel", k.channel, "uid", m.UID)
			continue
		}
		evs = append(evs, channel.Event{Kind: channel.EventMemberLeft, App: k.app, Channel: k.channel, UID: m.UID, Account: m.Account,
			Role: channel.Role(m.Role), Profile: channel.Profile(m.Profile), LeaveReason: reason, At: now,
			JoinedAt: m.JoinedAt(), Client: channel.ClientInfo{Kind: m.Kind, OS: m.OS}})
	}
	switch {
	case destroyed != nil:
		d := *destroyed
		d.At = now
		evs = append(evs, d)
	case !created && len(s.local(k.app, k.channel)) == 0 && len(evs) > 0:
		// Nobody came back at all: the channel ends as an emptied one does.
		evs = append(evs, channel.Event{Kind: channel.EventChannelDestroyed, App: k.app, Channel: k.channel, Profile: profile, At: now})
	}
	if len(evs) > 0 {
		s.log.Info("cluster: members of a dead owner did not come back; leaves reported", "app", k.app, "channel", k.channel, "members", len(orphans))
	}
	s.emit(evs...)
}

// waiting reports whether the channel's inherited members are in their
// grace (the channel must not be released meanwhile).
func (s *succession) waiting(app, channel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inherit[chanKey{app, channel}] != nil
}

// lost is called when another node took a channel from this one: that node
// reports its members' leaves and its end, this one does not.
func (s *succession) lost(app, channel string) {
	s.mu.Lock()
	s.moved[chanKey{app, channel}] = true
	s.mu.Unlock()
}

// handOver marks the member list of a channel this node gives up in a drain
// as handed over, before its lease goes: the members, told to rejoin,
// continue on the next owner (their leaves here are not reported; the
// drain's channel model stops reporting anyway), and a member that does
// not come back gets its leave there with reason 4.
func (s *succession) handOver(ctx context.Context, l cluster.Lease) {
	s.writeMu.Lock() // no write in flight; later ones find the lease gone
	defer s.writeMu.Unlock()
	s.lost(l.App, l.Channel)
	for _, op := range s.take(chanKey{l.App, l.Channel}) {
		s.apply(ctx, op) // the list complete before it is handed over
	}
	f := store.Fence{Key: s.c.LeaseKey(l.App, l.Channel), Value: l.Value()}
	if _, err := s.st.HandOverChannelMembers(ctx, f, l.App, l.Channel); err != nil {
		s.log.Warn("cluster: channel member list not handed over", "app", l.App, "channel", l.Channel, "err", err)
	}
}

// drop deletes the member list of a channel this node gives up cleanly
// (ended, or handed over in a drain), before its lease goes.
func (s *succession) drop(ctx context.Context, l cluster.Lease) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.take(chanKey{l.App, l.Channel}) // writes still queued would bring the list back
	f := store.Fence{Key: s.c.LeaseKey(l.App, l.Channel), Value: l.Value()}
	if _, err := s.st.DropChannelMembers(ctx, f, l.App, l.Channel); err != nil {
		s.log.Warn("cluster: channel member list not deleted", "app", l.App, "channel", l.Channel, "err", err)
	}
}
