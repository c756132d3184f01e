package api

import (
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
)

// ChannelEvent is one change of channel state as the console shows it: in a
// member's timeline (join, leave, publish, unpublish, kick, mute) and on the
// live stream GET /v1/events.
type ChannelEvent struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"` // channel.EventKind's name: member-joined, stream-started, ...
	AppID   string    `json:"appId"`
	Channel string    `json:"channel"`
	UID     uint32    `json:"uid,omitempty"`
	// Detail says more in words: the leave reason, the stop reason, the
	// kick's catalogue reason, the new role, the muted media.
	Detail string `json:"detail,omitempty"`
}

// Default bounds of an EventLog; each states its reason.
const (
	// DefaultMemberEvents per member: a session joins, publishes, mutes and
	// leaves a handful of times; 64 covers a long session or a rejoin loop.
	DefaultMemberEvents = 64
	// DefaultEventMembers bounds memory (a member costs a few KB at most),
	// the same order as diag's member bound.
	DefaultEventMembers = 4096
	// subscriberBuffer is how many events a slow live stream may lag
	// before it misses some (it then gets a "resync" event).
	subscriberBuffer = 256
)

type memberKey struct {
	app, channel string
	uid          uint32
}

type memberEvents struct {
	ring ring[ChannelEvent]
	last time.Time
}

// ring keeps the newest items.
type ring[T any] struct {
	buf   []T
	start int
}

func (r *ring[T]) add(limit int, v T) {
	if len(r.buf) < limit {
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.start] = v
	r.start = (r.start + 1) % len(r.buf)
}

func (r *ring[T]) items() []T {
	out := make([]T, 0, len(r.buf))
	out = append(out, r.buf[r.start:]...)
	return append(out, r.buf[:r.start]...)
}

type subscriber struct {
	ch     chan ChannelEvent
	missed bool
}

// EventLog records channel events per member (bounded) and fans them out
// to live subscribers. Record never blocks (it runs on the channel
// Manager's observer goroutine): a subscriber that is full misses events
// and gets a "resync" event once it has room. Safe for concurrent use.
type EventLog struct {
	perMember, maxMembers int

	mu      sync.Mutex
	seq     uint64
	members map[memberKey]*memberEvents
	subs    map[*subscriber]struct{}
	closed  bool
}

// NewEventLog returns an empty log; zero bounds mean the defaults.
func NewEventLog(perMember, maxMembers int) *EventLog {
	if perMember <= 0 {
		perMember = DefaultMemberEvents
	}
	if maxMembers <= 0 {
		maxMembers = DefaultEventMembers
	}
	return &EventLog{perMember: perMember, maxMembers: maxMembers,
		members: map[memberKey]*memberEvents{}, subs: map[*subscriber]struct{}{}}
}

// eventDetail says a channel event's specifics in words.
func eventDetail(ev channel.Event) string {
	switch ev.Kind {
	case channel.EventMemberLeft:
		return "leave reason " + ev.LeaveReason.String()
	case channel.EventStreamStopped:
		return "stop reason " + ev.StopReason.String()
	case channel.EventKicked:
		if ev.Err != nil {
			return ev.Err.Message()
		}
		return "kicked"
	case channel.EventRoleChanged:
		return "role " + ev.Role.String()
	case channel.EventMuteChanged:
		if ev.Muted {
			return ev.Media.String() + " muted"
		}
		return ev.Media.String() + " unmuted"
	}
	return ""
}

// Record adds a channel event (pass it to channel.Manager.Observe).
func (l *EventLog) Record(ev channel.Event) {
	at := ev.At
	if at.IsZero() {
		at = time.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.seq++
	ce := ChannelEvent{Seq: l.seq, At: at.UTC(), Kind: ev.Kind.String(), AppID: ev.App, Channel: ev.Channel,
		UID: ev.UID, Detail: eventDetail(ev)}
	if ev.Kind != channel.EventChannelCreated && ev.Kind != channel.EventChannelDestroyed {
		k := memberKey{ev.App, ev.Channel, ev.UID}
		me := l.members[k]
		if me == nil {
			if len(l.members) >= l.maxMembers {
				l.evictLocked()
			}
			me = &memberEvents{}
			l.members[k] = me
		}
		me.ring.add(l.perMember, ce)
		me.last = at
	}
	for s := range l.subs {
		if s.missed {
			select {
			case s.ch <- ChannelEvent{Seq: l.seq, At: ce.At, Kind: "resync"}:
				s.missed = false
			default:
				continue
			}
		}
		select {
		case s.ch <- ce:
		default:
			s.missed = true
		}
	}
}

// evictLocked forgets the member whose last event is the oldest.
func (l *EventLog) evictLocked() {
	var oldest memberKey
	var t time.Time
	first := true
	for k, me := range l.members {
		if first || me.last.Before(t) {
			oldest, t, first = k, me.last, false
		}
	}
	delete(l.members, oldest)
}

// Member returns the recorded events of one member, oldest first.
func (l *EventLog) Member(app, ch string, uid uint32) []ChannelEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	me := l.members[memberKey{app, ch, uid}]
	if me == nil {
		return []ChannelEvent{}
	}
	return me.ring.items()
}

// Subscribe returns a channel of the events recorded from now on and a
// function that ends the subscription. The channel is closed by cancel and
// by Close.
func (l *EventLog) Subscribe() (<-chan ChannelEvent, func()) {
	s := &subscriber{ch: make(chan ChannelEvent, subscriberBuffer)}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		close(s.ch)
		return s.ch, func() {}
	}
	l.subs[s] = struct{}{}
	l.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if _, ok := l.subs[s]; ok {
				delete(l.subs, s)
				close(s.ch)
			}
		})
	}
}

// Close ends every subscription (live streams return) and ignores later
// events. The node calls it when it stops.
func (l *EventLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for s := range l.subs {
		delete(l.subs, s)
		close(s.ch)
	}
}
