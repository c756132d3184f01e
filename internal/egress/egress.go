// Package egress is the socket side of the stream adapters (internal/rtmp,
// internal/flv): one write loop for every viewer, plus the blocking writes
// of a viewer's own goroutine (Conn) and the writev helpers both use.
//
// The loop is event-driven and adaptive. A viewer lent to the Loop is
// written when its source says it has data (Slot.Due, called from the hub
// reader's media.SubscribeOptions.OnQueue, and from OnClose so that the end
// is noticed too): the loop wakes, takes every viewer due at that
// moment and gives each one turn (Viewer.Flush), which drains what the
// viewer has queued and tries one non-blocking writev. While a pass runs,
// new Due calls gather for the next pass, so under load a viewer's packets
// coalesce into one write by themselves, and with few viewers a packet goes
// out at once. An idle loop sleeps on a channel: no ticker. MinPass (the
// media.batchInterval setting) optionally spaces passes to trade latency for
// fewer writes, as the former fixed-interval flusher did.
//
// A viewer whose socket is full is handed back to its own goroutine, which
// finishes the write blocking (Conn, under a write deadline), so a slow
// viewer never delays the others.
//
// It knows no protocol: the adapter's Viewer builds the bytes. It imports
// nothing from minirtc, and internal/media imports nothing from it: the
// media core stays free of socket I/O.
//
// Goroutine model: Run is the one goroutine of a Loop, owned by whoever
// built it (the node, or an adapter's server), who waits for it. A viewer's
// goroutine calls Slot.Lend and blocks until the Loop hands the viewer back
// or the context ends; Flush is called on the Loop's goroutine only while
// the viewer is lent. Slot.Due may be called from any goroutine at any time
// and never blocks.
//
// Packet writers: a writer that is not a stream socket (the WebRTC WHEP
// sessions: RTP over SRTP on one shared UDP socket) uses the same Loop. Its
// viewers have no goroutine of their own: Slot.Join gives a viewer to the
// Loop for good and Slot.Leave withdraws it without waiting. Its Flush
// drains the hub reader and queues the session's packets on the shared
// socket, and Options.OnPass sends the socket's batch (sendmmsg) after each
// pass. A Group is N such loops (one per core), each owning a share of the
// slots (round robin).
package egress

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Viewer is what a Loop writes for.
type Viewer interface {
	// Flush is the Loop's turn: take what is queued and try one
	// non-blocking write (see Try). It reports whether the viewer stays
	// with the Loop; false hands it back to the goroutine that lent it,
	// which must then finish what Flush left (a rest to write blocking, or
	// an error).
	Flush(now time.Time) bool
}

// Options configure a Loop.
type Options struct {
	// MinPass is the least time between the starts of two passes: 0 (the
	// default) starts a pass as soon as a viewer is due. A positive value
	// holds due viewers up to that long so that more packets share a write.
	MinPass time.Duration
	// OnPass, if set, is called on the Loop's goroutine after each pass
	// with the number of viewers it visited: a packet writer sends what
	// the pass queued on its shared socket; tests count passes.
	OnPass func(visited int)
}

// Loop writes for many viewers from one goroutine.
type Loop struct {
	opt  Options
	wake chan struct{} // buffered (1): "due is not empty"

	dueMu sync.Mutex // guards due only; never held while flushing
	due   []*Slot

	mu   sync.Mutex // held during a pass: Lend's withdrawal waits for it
	lent int        // viewers lent (guarded by mu)
}

// Slot is a viewer's place in a Loop.
type Slot struct {
	loop *Loop
	v    Viewer
	back chan struct{} // Loop -> viewer goroutine: the viewer is yours again

	queued  atomic.Bool // in loop.due
	leaving atomic.Bool // Leave was called: the next pass drops the slot
	lent    bool        // guarded by loop.mu
	joined  bool        // lent by Join: no goroutine waits for it (guarded by loop.mu)
}

// New returns a Loop; Run runs it.
func New(opt Options) *Loop {
	if opt.MinPass < 0 {
		opt.MinPass = 0
	}
	return &Loop{opt: opt, wake: make(chan struct{}, 1)}
}

// MinPass is the least time between two passes (Options.MinPass).
func (l *Loop) MinPass() time.Duration { return l.opt.MinPass }

// Slot returns v's place in the loop. Lend it from v's goroutine; call Due
// when v has something to write.
func (l *Loop) Slot(v Viewer) *Slot {
	return &Slot{loop: l, v: v, back: make(chan struct{}, 1)}
}

// Due tells the loop that the viewer has something to write: if it is lent,
// the next pass gives it a turn. Cheap, never blocks, safe from any
// goroutine (the hub calls it under its stream lock).
func (s *Slot) Due() {
	if s.queued.Swap(true) {
		return // already waiting for the next pass
	}
	l := s.loop
	l.dueMu.Lock()
	first := len(l.due) == 0
	l.due = append(l.due, s)
	l.dueMu.Unlock()
	if first {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// Run makes passes until ctx is cancelled.
func (l *Loop) Run(ctx context.Context) {
	var (
		batch []*Slot
		timer *time.Timer
		last  time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
		if l.opt.MinPass > 0 {
			if wait := l.opt.MinPass - time.Since(last); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
			last = time.Now()
		}
		l.dueMu.Lock()
		batch, l.due = l.due, batch[:0]
		l.dueMu.Unlock()
		l.pass(batch)
		clear(batch)
	}
}

// pass gives each due, lent viewer of batch one turn.
func (l *Loop) pass(batch []*Slot) {
	now := time.Now()
	l.mu.Lock()
	for _, s := range batch {
		// Cleared before the turn: what arrives during Flush is due again.
		s.queued.Store(false)
		if !s.lent {
			continue // its goroutine has it; Lend makes it due again
		}
		if s.leaving.Load() {
			s.lent = false // Leave: no turn, nobody to hand it back to
			l.lent--
			continue
		}
		if !s.v.Flush(now) {
			s.lent = false
			l.lent--
			if s.joined {
				s.leaving.Store(true) // final, as Leave
			} else {
				s.back <- struct{}{} // buffered (1): one handback per Lend
			}
		}
	}
	l.mu.Unlock()
	if l.opt.OnPass != nil {
		l.opt.OnPass(len(batch))
	}
}

// Lend gives the viewer to the Loop and waits until the Loop hands it back
// (nil) or ctx ends (ctx's error). Either way the viewer is the caller's
// again when Lend returns. The viewer is due at once: what it queued before
// Lend goes out in the next pass. Called from the viewer's goroutine.
func (s *Slot) Lend(ctx context.Context) error {
	l := s.loop
	l.mu.Lock()
	s.lent = true
	l.lent++
	l.mu.Unlock()
	s.Due()
	select {
	case <-s.back:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		still := s.lent
		if still {
			s.lent = false
			l.lent--
		}
		l.mu.Unlock()
		if !still {
			<-s.back // the Loop was handing it back meanwhile
		}
		return ctx.Err()
	}
}

// Join gives the viewer to the Loop for good, for a viewer that has no
// goroutine to wait in Lend (a packet writer's session). The viewer is due
// at once. It stays until Flush returns false or Leave; either is final: a
// slot joins once. Never blocks on a pass.
func (s *Slot) Join() {
	l := s.loop
	l.mu.Lock()
	if !s.lent && !s.leaving.Load() {
		s.lent, s.joined = true, true
		l.lent++
	}
	l.mu.Unlock()
	s.Due()
}

// Leave withdraws a joined viewer without waiting: the next pass drops it
// without a turn. A pass in progress may still give it the turn it has
// begun, so Flush must cope with a viewer that is ending. Safe from any
// goroutine (Flush included), idempotent.
func (s *Slot) Leave() {
	if !s.leaving.Swap(true) {
		s.Due()
	}
}

// Len is the number of viewers lent to the Loop.
func (l *Loop) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lent
}

// MaxIovecs is IOV_MAX on Linux and Darwin: writev refuses more buffers.
const MaxIovecs = 1024

// Try makes one non-blocking writev of bufs on raw (at most MaxIovecs
// buffers). It returns nil, nil when everything was written; the unwritten
// rest (a suffix of bufs, its first buffer possibly shortened) when the
// socket is full; or the write error. bufs' slice headers are consumed.
func Try(raw syscall.RawConn, bufs [][]byte) (rest [][]byte, err error) {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	head := bufs
	if len(head) > MaxIovecs {
		head = head[:MaxIovecs] // the viewer's goroutine writes the rest
	}
	n, err := tryWritev(raw, head)
	if err != nil && !errors.Is(err, syscall.EAGAIN) {
		return nil, err
	}
	if n == total {
		return nil, nil
	}
	return Remainder(bufs, n), nil
}

// Write writes all of bufs on raw, blocking until the socket takes them (or
// its write deadline passes, or it is closed). It is net.Buffers.WriteTo
// without the iovec array the runtime keeps per socket after a large write
// (16 KiB for a GOP cache of 1024 buffers), which would stay with every
// viewer. bufs' slice headers are consumed. Only where Supported.
func Write(raw syscall.RawConn, bufs [][]byte) error { return writevBlocking(raw, bufs) }

// DrainTime is how long an adapter lets a viewer whose reader the hub ended
// (stream end, kick) write what is still queued before it cuts the
// connection: two MinPass intervals, within [200 ms, 1 s] (200 ms was the
// drain of the former 100 ms flusher, kept when passes are not spaced). A
// viewer that is not blocked on a full socket finishes sooner on its own.
func DrainTime(minPass time.Duration) time.Duration {
	return min(max(2*minPass, 200*time.Millisecond), time.Second)
}

// KeepCap is the largest buffer list a viewer keeps between writes (see
// Recycle): a steady batch (what queues between two passes) fits; a GOP
// cache write does not.
const KeepCap = 64

// Recycle empties s for the next batch and drops what it referenced; when s
// grew past keep (the GOP cache write) it returns nil instead, so that an
// idle viewer keeps neither the large array nor old packets alive.
func Recycle[T any](s []T, keep int) []T {
	if cap(s) > keep {
		return nil
	}
	s = s[:cap(s)]
	clear(s)
	return s[:0]
}

// Remainder returns the part of bufs after the first n bytes.
func Remainder(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}
