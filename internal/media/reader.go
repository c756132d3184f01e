package media

import (
	"context"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Reader is one subscriber of a Stream: a bounded queue of packet pointers
// filled by the publisher goroutine and drained by the reader's adapter
// goroutine with Next. A reader that falls behind loses packets up to the next
// keyframe (Drops counts them); it never slows the publisher or other readers.
type Reader struct {
	stream  *Stream
	viewer  string
	onClose func(error)
	onQueue func()
	audio   Codec // SubscribeOptions.Audio (never a video codec)
	lazy    bool  // SubscribeOptions.WaitAudio (and the hub's AudioWait is on)

	// Guarded by stream.mu (publisher side).
	waitKey bool // skip until a sync point (video keyframe, or any packet of an audio-only stream)
	lagging bool // waitKey because the queue overflowed: skipped packets count as drops
	started bool // received (or was promised) its first packet
	removed bool // no longer in stream.readers
	fresh   bool // nothing delivered yet: the first packet must be a keyframe (if the stream has video)
	preroll []*Packet
	hold    *time.Timer

	// Queue, guarded by qmu.
	qmu     sync.Mutex
	ring    []*Packet
	mask    int
	head    int
	n       int
	backlog []*Packet // GOP cache snapshot delivered first
	err     error     // set when the hub ended the reader
	// signaled: the consumer was told (notify, OnQueue) that the queue has
	// packets and has not drained it since. A lazy reader's audio is queued
	// without telling; the next video packet, or the stream's audio-wait
	// timer, tells (release).
	signaled bool
	notify   chan struct{}

	drops     atomic.Uint64
	closeOnce sync.Once
	finOnce   sync.Once

	info readerInfo // set at creation, read-only afterwards (Hub.Streams)
}

func newReader(s *Stream, opt SubscribeOptions, size int) *Reader {
	size = 1 << bits.Len(uint(size-1)) // round up to a power of two
	return &Reader{
		stream:  s,
		viewer:  opt.Viewer,
		onClose: opt.OnClose,
		onQueue: opt.OnQueue,
		audio:   opt.Audio,
		lazy:    opt.WaitAudio && s.hub.cfg.AudioWait > 0,
		fresh:   true,
		ring:    make([]*Packet, size),
		mask:    size - 1,
		notify:  make(chan struct{}, 1),
		info:    newReaderInfo(s, opt),
	}
}

// push queues p; ok is false when the queue is full. A lazy reader's
// packet that need not leave at once (urgent false: audio of a stream with
// video) is queued without waking the consumer; held reports that the
// reader now holds such packets, for the stream's audio-wait timer to
// release. Publisher goroutine, stream.mu held.
func (r *Reader) push(p *Packet, urgent bool) (ok, held bool) {
	r.qmu.Lock()
	if r.n == len(r.ring) {
		r.qmu.Unlock()
		return false, false
	}
	r.ring[(r.head+r.n)&r.mask] = p
	r.n++
	wake := !r.signaled && (urgent || !r.lazy)
	if wake {
		r.signaled = true
	}
	held = !r.signaled
	r.qmu.Unlock()
	if wake {
		r.wake()
	}
	return true, held
}

// release tells the consumer about packets push held back. stream.mu held.
func (r *Reader) release() {
	r.qmu.Lock()
	wake := r.n > 0 && !r.signaled
	if wake {
		r.signaled = true
	}
	r.qmu.Unlock()
	if wake {
		r.wake()
	}
}

// holds reports whether the queue has packets the consumer was not told
// about. stream.mu held.
func (r *Reader) holds() bool {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	return r.n > 0 && !r.signaled
}

// wake tells the consumer that the queue has packets.
func (r *Reader) wake() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
	if r.onQueue != nil {
		r.onQueue()
	}
}

// overflow: the queue was full; skip to the next keyframe. stream.mu held.
func (r *Reader) overflow(hasVideo bool) {
	r.drop()
	if hasVideo {
		r.waitKey = true
		r.lagging = true
	}
}

func (r *Reader) drop() {
	r.drops.Add(1)
	r.stream.drops.Add(1)
	r.stream.hub.drops.Add(1)
}

// finish ends the reader with reason: Next returns it once the queue is
// drained, and OnClose is called once.
func (r *Reader) finish(reason error) {
	r.finOnce.Do(func() {
		r.qmu.Lock()
		r.err = reason
		r.qmu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
		if r.onClose != nil {
			r.onClose(reason)
		}
	})
}

// Next appends the queued packets to dst (in order, the GOP cache first) and
// returns it, waiting until at least one is queued. It returns the hub's
// reason (a catalogue error) once the reader was ended and its queue drained,
// or ctx's error. One goroutine at a time.
func (r *Reader) Next(ctx context.Context, dst []*Packet) ([]*Packet, error) {
	for {
		r.qmu.Lock()
		if r.backlog != nil {
			dst = append(dst, r.backlog...)
			r.backlog = nil
		}
		for r.n > 0 {
			dst = append(dst, r.ring[r.head])
			r.ring[r.head] = nil
			r.head = (r.head + 1) & r.mask
			r.n--
		}
		r.signaled = false
		err := r.err
		r.qmu.Unlock()
		if len(dst) > 0 {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
		select {
		case <-r.notify:
		case <-ctx.Done():
			// The hub's reason wins over a cancellation it caused (OnClose).
			r.qmu.Lock()
			err := r.err
			r.qmu.Unlock()
			if err == nil {
				err = ctx.Err()
			}
			return dst, err
		}
	}
}

// Tracks returns the stream's current tracks (nil for an absent kind) as
// this reader plays them: its audio is the derived track when it asked for
// another codec than the source's (SubscribeOptions.Audio), nil while that
// track is not known yet.
func (r *Reader) Tracks() (video, audio *Track) { return r.stream.tracks(r) }

// Audio is the audio codec the reader asked for (SubscribeOptions.Audio).
func (r *Reader) Audio() Codec { return r.audio }

// Key is the key of the stream being read.
func (r *Reader) Key() Key { return r.stream.key }

// Drops is the number of packets this reader skipped because it fell behind.
func (r *Reader) Drops() uint64 { return r.drops.Load() }

// End ends the reader with reason as the hub does when it ends it (a kick,
// its stream's end): the reader leaves its stream, Next returns reason once
// the queue is drained and OnClose is called once. The admission registry
// uses it when the viewer's access ends. Safe from any goroutine.
func (r *Reader) End(reason error) {
	s := r.stream
	s.mu.Lock()
	wasRemoved := r.removed
	s.removeReaderLocked(r)
	gc := !wasRemoved && s.idleLocked()
	s.unlock()
	if gc {
		s.end(nil) // a held reader was the stream's only user
	} else if !wasRemoved {
		s.hub.syncWanted(s.key)
	}
	r.finish(reason)
}

// Close removes the reader from its stream. Idempotent.
func (r *Reader) Close() {
	r.closeOnce.Do(func() { r.stream.removeReader(r) })
}

// queued is the number of packets waiting in the queue (tests, stats).
func (r *Reader) queued() int {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	return r.n + len(r.backlog)
}

// TryNext is Next without waiting: it appends what is queued (possibly
// nothing) and returns the hub's reason once the reader was ended and its
// queue drained.
func (r *Reader) TryNext(dst []*Packet) ([]*Packet, error) {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	if r.backlog != nil {
		dst = append(dst, r.backlog...)
		r.backlog = nil
	}
	for r.n > 0 {
		dst = append(dst, r.ring[r.head])
		r.ring[r.head] = nil
		r.head = (r.head + 1) & r.mask
		r.n--
	}
	r.signaled = false
	if len(dst) > 0 {
		return dst, nil
	}
	return dst, r.err
}

// RequestKeyframe asks the stream's publisher for a keyframe on behalf of
// this reader (a WebRTC viewer's PLI or FIR), through the publisher's
// keyframe requester and under the same per-stream rate limit as the hub's
// own requests. It does nothing when the publisher cannot be asked (RTMP).
func (r *Reader) RequestKeyframe() {
	s := r.stream
	s.mu.Lock()
	var fn func()
	if !s.ended {
		fn = s.keyframeRequestLocked()
	}
	s.mu.Unlock()
	if fn != nil {
		fn()
	}
}
