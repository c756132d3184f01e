package webrtc

import (
	"time"

	"github.com/pion/rtp"
)

// reorderSize is the reordering window in packets; a power of two.
const reorderSize = 128

// reorder is a small jitter buffer: it releases RTP packets in sequence
// order, waits up to maxWait (or until the window is half full) for a
// missing packet (time for a NACK retransmission), then skips it and flags
// the next packet as following a loss. It runs on the track's read goroutine
// and needs no timer: packets keep arriving while a stream is live.
type reorder struct {
	maxWait time.Duration
	slots   [reorderSize]*rtp.Packet
	arrived [reorderSize]time.Time
	next    uint16 // next sequence number to release
	count   int    // packets held
	started bool
	lost    uint64 // packets given up on
}

// push adds p (received at now) and calls emit for every packet that can be
// released, in order; lost is set on the first packet after a gap.
func (r *reorder) push(p *rtp.Packet, now time.Time, emit func(p *rtp.Packet, lost bool)) {
	seq := p.SequenceNumber
	if !r.started {
		r.started = true
		r.next = seq
	}
	diff := int16(seq - r.next) //nolint:gosec // G115: the signed distance of 16-bit sequence numbers, wrapping on purpose
	switch {
	case diff < 0:
		if diff < -reorderSize*4 {
			// A sequence jump backwards (a new sender): start over.
			r.flush(emit)
			r.next = seq
			break
		}
		return // late or duplicate
	case diff >= reorderSize:
		// Far ahead: give up everything before it.
		r.flush(emit)
		r.lost += uint64(uint16(seq - r.next))
		r.next = seq
		r.store(p, now)
		r.drain(emit, true)
		return
	}
	if r.slots[seq%reorderSize] != nil {
		return // duplicate
	}
	r.store(p, now)
	r.drain(emit, false)
	for r.count > 0 && r.slots[r.next%reorderSize] == nil {
		// A gap at the head: wait for it unless it is too old or the window fills.
		oldest := r.oldest()
		if r.count < reorderSize/2 && now.Sub(oldest) < r.maxWait {
			return
		}
		for r.slots[r.next%reorderSize] == nil {
			r.next++
			r.lost++
		}
		r.drain(emit, true)
	}
}

func (r *reorder) store(p *rtp.Packet, now time.Time) {
	i := p.SequenceNumber % reorderSize
	r.slots[i] = p
	r.arrived[i] = now
	r.count++
}

func (r *reorder) drain(emit func(*rtp.Packet, bool), lost bool) {
	for {
		i := r.next % reorderSize
		p := r.slots[i]
		if p == nil {
			return
		}
		r.slots[i] = nil
		r.count--
		r.next++
		emit(p, lost)
		lost = false
	}
}

// flush releases every held packet in order, flagging gaps.
func (r *reorder) flush(emit func(*rtp.Packet, bool)) {
	lost := false
	for r.count > 0 {
		i := r.next % reorderSize
		if p := r.slots[i]; p != nil {
			r.slots[i] = nil
			r.count--
			emit(p, lost)
			lost = false
		} else {
			lost = true
			r.lost++
		}
		r.next++
	}
}

func (r *reorder) oldest() time.Time {
	var t time.Time
	for i, p := range r.slots {
		if p != nil && (t.IsZero() || r.arrived[i].Before(t)) {
			t = r.arrived[i]
		}
	}
	return t
}
