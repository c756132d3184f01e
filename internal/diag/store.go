package diag

import (
	"cmp"
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/config/defaults"
)

// Defaults of the limits that are no settings; each states its reason. The
// settings' defaults (config diagnostics.*) are in internal/config/defaults.
const (
	// DefaultMaxEvents per ring: the SDK batches state changes every second
	// and a healthy component changes state a few times per session, so 32
	// covers the start of a session or the last minutes before a failure.
	DefaultMaxEvents = 32
	// DefaultMaxSamples per ring: the SDK sends the newest sample every 10 s,
	// one per played stream; 32 is five minutes of a pusher, or about a
	// minute of six players.
	DefaultMaxSamples = 32
	// DefaultMaxLogBytes caps one upload: the SDK keeps at most 256 K
	// characters of log, which is under 1 MiB of UTF-8 in practice.
	DefaultMaxLogBytes = 1 << 20
	// DefaultMaxLogLines caps one upload's lines: the SDK keeps 2000.
	DefaultMaxLogLines = 5000
	// DefaultMaxLineBytes truncates a single line: SDK lines are short; one
	// huge line would only be a stringified object nobody reads in full.
	DefaultMaxLineBytes = 8 << 10
	// MaxChannelBytes bounds the channel name in a log upload: the SDK allows
	// 128 characters; encoded, the file name stays under 255 bytes.
	MaxChannelBytes = 128
)

// Config holds the store's limits; zero values mean the defaults (those of
// internal/config/defaults for MaxMembers, MaxAge, AppDayBytes and
// RetentionDays).
type Config struct {
	// Dir is where uploaded logs go (the node uses dataDir/logs). Empty:
	// log uploads are refused with an error; the rings still work.
	Dir string
	// MaxEvents is the length of each state event ring (pusher, player).
	MaxEvents int
	// MaxSamples is the length of each net sample ring (pusher, player).
	MaxSamples int
	// MaxMembers is the number of members kept; the least recently updated
	// is forgotten first.
	MaxMembers int
	// MaxAge forgets a member this long after its last report.
	MaxAge time.Duration
	// MaxLogBytes is the largest upload (the sum of its lines' bytes).
	MaxLogBytes int64
	// MaxLogLines is the most lines per upload.
	MaxLogLines int
	// MaxLineBytes truncates longer lines.
	MaxLineBytes int
	// AppDayBytes is the disk budget per app and day.
	AppDayBytes int64
	// RetentionDays is how many days of logs are kept (today included).
	RetentionDays int
	// Now is the clock (time.Now when nil); days are UTC dates.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxEvents, DefaultMaxEvents)
	def(&c.MaxSamples, DefaultMaxSamples)
	def(&c.MaxMembers, defaults.DiagnosticsMaxMembers)
	def(&c.MaxLogLines, DefaultMaxLogLines)
	def(&c.MaxLineBytes, DefaultMaxLineBytes)
	def(&c.RetentionDays, defaults.DiagnosticsLogRetentionDays)
	if c.MaxAge == 0 {
		c.MaxAge = defaults.DiagnosticsMemberMaxAge
	}
	if c.MaxLogBytes == 0 {
		c.MaxLogBytes = DefaultMaxLogBytes
	}
	if c.AppDayBytes == 0 {
		c.AppDayBytes = defaults.DiagnosticsLogDayMiB << 20
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int64
	}{{"MaxEvents", int64(c.MaxEvents)}, {"MaxSamples", int64(c.MaxSamples)}, {"MaxMembers", int64(c.MaxMembers)},
		{"MaxAge", int64(c.MaxAge)}, {"MaxLogBytes", c.MaxLogBytes}, {"MaxLogLines", int64(c.MaxLogLines)},
		{"MaxLineBytes", int64(c.MaxLineBytes)}, {"AppDayBytes", c.AppDayBytes}, {"RetentionDays", int64(c.RetentionDays)}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("diag: %s must not be negative (got %d)", f.name, f.v))
		}
	}
	// The header of a file and the truncation marks come on top of MaxLogBytes.
	if c.AppDayBytes < 2*c.MaxLogBytes {
		errs = append(errs, fmt.Errorf("diag: AppDayBytes (%d) must be at least twice MaxLogBytes (%d)", c.AppDayBytes, c.MaxLogBytes))
	}
	return errors.Join(errs...)
}

// Kind says which component a report is about.
type Kind uint8

// Components.
const (
	Pusher Kind = iota // the member's own <live-pusher>
	Player             // a <live-player> of the member, playing Target
)

func (k Kind) String() string {
	if k == Player {
		return "player"
	}
	return "pusher"
}

// Member identifies who reported: the joined member of a gateway session.
type Member struct {
	App     string `json:"app"`
	Channel string `json:"channel"`
	UID     uint32 `json:"uid"`
}

// StateEvent is one bindstatechange of a component.
type StateEvent struct {
	Received time.Time `json:"received"`         // server receive time
	Session  string    `json:"session"`          // gateway session id (server logs)
	SID      string    `json:"sid,omitempty"`    // SDK session id (uploaded logs)
	Target   uint32    `json:"target,omitempty"` // player: the publisher played
	Code     int       `json:"code"`
	Message  string    `json:"message,omitempty"`
	ClientTS int64     `json:"ts,omitempty"` // client clock, unix ms
}

// NetSample is one bindnetstatus sample of a component.
type NetSample struct {
	Received time.Time `json:"received"`
	Session  string    `json:"session"`
	SID      string    `json:"sid,omitempty"`
	Target   uint32    `json:"target,omitempty"`
	ClientTS int64     `json:"ts,omitempty"`
	Stats    NetStats  `json:"stats"`
}

// Report is what is known about one member, oldest entries first.
type Report struct {
	Member
	Updated      time.Time    `json:"updated"`
	PusherStates []StateEvent `json:"pusherStates"`
	PlayerStates []StateEvent `json:"playerStates"`
	PusherNet    []NetSample  `json:"pusherNet"`
	PlayerNet    []NetSample  `json:"playerNet"`
}

// ring keeps the newest cap items.
type ring[T any] struct {
	buf   []T
	start int // index of the oldest item once buf is full
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

type entry struct {
	m            Member
	updated      time.Time
	elem         *list.Element // in Store.lru, front = most recent
	pusherStates ring[StateEvent]
	playerStates ring[StateEvent]
	pusherNet    ring[NetSample]
	playerNet    ring[NetSample]
}

type channelKey struct{ app, channel string }

// Store holds client diagnostics. Create it with New; its methods are safe
// for concurrent use.
type Store struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	members  map[Member]*entry
	channels map[channelKey]map[uint32]*entry
	lru      list.List // of *entry

	logMu     sync.Mutex
	usage     map[appDay]*dayUsage // today's disk use per app; guarded by logMu
	prunedDay string               // the day the retention last ran; guarded by logMu
}

// New returns an empty store.
func New(cfg Config, log *slog.Logger) (*Store, error) {
	if log == nil {
		return nil, errors.New("diag: log is required")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, log: log.With("component", "diag"), members: make(map[Member]*entry),
		channels: make(map[channelKey]map[uint32]*entry), usage: make(map[appDay]*dayUsage)}, nil
}

// Limits returns the effective configuration (defaults applied), so the
// HTTP surface can cap bodies before reading them.
func (s *Store) Limits() Config { return s.cfg }

// AddStates records state events of one component of m. evs are stored as
// given (the caller sets Received and Session).
func (s *Store) AddStates(m Member, k Kind, evs ...StateEvent) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.touchLocked(m)
	r := &e.pusherStates
	if k == Player {
		r = &e.playerStates
	}
	for _, ev := range evs {
		r.add(s.cfg.MaxEvents, ev)
	}
}

// AddNet records network samples of one component of m.
func (s *Store) AddNet(m Member, k Kind, samples ...NetSample) {
	if len(samples) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.touchLocked(m)
	r := &e.pusherNet
	if k == Player {
		r = &e.playerNet
	}
	for _, v := range samples {
		r.add(s.cfg.MaxSamples, v)
	}
}

// touchLocked returns m's entry, created if needed, marked most recent; it
// forgets expired and excess members. s.mu held.
func (s *Store) touchLocked(m Member) *entry {
	now := s.cfg.Now()
	e, ok := s.members[m]
	if ok {
		e.updated = now
		s.lru.MoveToFront(e.elem)
	} else {
		e = &entry{m: m, updated: now}
		e.elem = s.lru.PushFront(e)
		s.members[m] = e
		ck := channelKey{m.App, m.Channel}
		byUID := s.channels[ck]
		if byUID == nil {
			byUID = make(map[uint32]*entry)
			s.channels[ck] = byUID
		}
		byUID[m.UID] = e
	}
	for s.lru.Len() > 0 {
		old := s.lru.Back().Value.(*entry)
		if s.lru.Len() <= s.cfg.MaxMembers && now.Sub(old.updated) <= s.cfg.MaxAge {
			break
		}
		s.removeLocked(old)
	}
	return e
}

func (s *Store) removeLocked(e *entry) {
	s.lru.Remove(e.elem)
	delete(s.members, e.m)
	ck := channelKey{e.m.App, e.m.Channel}
	if byUID := s.channels[ck]; byUID != nil {
		delete(byUID, e.m.UID)
		if len(byUID) == 0 {
			delete(s.channels, ck)
		}
	}
}

func (s *Store) reportLocked(e *entry) Report {
	return Report{Member: e.m, Updated: e.updated,
		PusherStates: e.pusherStates.items(), PlayerStates: e.playerStates.items(),
		PusherNet: e.pusherNet.items(), PlayerNet: e.playerNet.items()}
}

// Recent returns what uid in channel of app reported lately, and whether
// anything is known (a member silent for MaxAge is forgotten).
func (s *Store) Recent(app, channel string, uid uint32) (Report, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.members[Member{app, channel, uid}]
	if !ok || s.cfg.Now().Sub(e.updated) > s.cfg.MaxAge {
		return Report{}, false
	}
	return s.reportLocked(e), true
}

// Channel returns the reports of every member of channel that reported
// lately, by uid.
func (s *Store) Channel(app, channel string) []Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	var out []Report
	for _, e := range s.channels[channelKey{app, channel}] {
		if now.Sub(e.updated) <= s.cfg.MaxAge {
			out = append(out, s.reportLocked(e))
		}
	}
	slices.SortFunc(out, func(a, b Report) int { return cmp.Compare(a.UID, b.UID) })
	return out
}

// Members is the number of members currently kept.
func (s *Store) Members() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.members)
}
