package webrtc

import (
	"errors"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/media"
	pion "github.com/pion/webrtc/v4"
)

// writer is one of the server's WHEP writer goroutines: it drains the hub
// readers of the sessions assigned to it and writes their packets. The
// server runs one per core (started with the first WHEP session), not one
// per session, so a packet the hub queues to N sessions wakes at most one
// goroutine per core instead of N, and one goroutine's writes to many
// sessions fill the shared socket's send batches. A session the writer
// cannot serve fast enough loses packets in its hub queue (the hub's drop
// rule: up to the next keyframe); the others are not held up by it beyond
// their turn.
type writer struct {
	mu    sync.Mutex
	ready []*whepSession // sessions with queued packets, in queueing order
	wake  chan struct{}  // ready became non-empty
}

// schedule puts sess on the ready list. The caller set sess.ready: a
// session is on its writer's ready list at most once.
func (wr *writer) schedule(sess *whepSession) {
	wr.mu.Lock()
	first := len(wr.ready) == 0
	wr.ready = append(wr.ready, sess)
	wr.mu.Unlock()
	if first {
		select {
		case wr.wake <- struct{}{}:
		default:
		}
	}
}

// run drains ready sessions until stop is closed; after each round of
// ready sessions it flushes the shared socket's send queue (see
// batchConn.Flush), so the round's tail does not wait for the sender.
func (wr *writer) run(stop <-chan struct{}, bc *batchConn) {
	var batch []*whepSession
	var pkts []*media.Packet
	for {
		select {
		case <-stop:
			return
		case <-wr.wake:
		}
		for {
			wr.mu.Lock()
			batch, wr.ready = wr.ready, batch[:0]
			wr.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for i, sess := range batch {
				batch[i] = nil
				pkts = sess.drain(pkts[:0])
				clear(pkts)
			}
			if bc != nil {
				bc.Flush()
			}
		}
	}
}

// writerForLocked assigns a writer to a new session, round robin, starting the
// writers with the first session. s.mu held; false when shutting down.
func (s *Server) writerForLocked() (*writer, bool) {
	if s.closed {
		return nil, false
	}
	if s.writers == nil {
		bc, _ := s.conn.(*batchConn)
		s.writers = make([]*writer, runtime.GOMAXPROCS(0))
		for i := range s.writers {
			wr := &writer{wake: make(chan struct{}, 1)}
			s.writers[i] = wr
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				wr.run(s.stop, bc)
			}()
		}
	}
	wr := s.writers[s.nextWriter%len(s.writers)]
	s.nextWriter++
	return wr, true
}

// drain takes the session off its writer's ready list and writes what its
// hub reader has queued (pkts is scratch space, returned for reuse). A
// closed or failing session writes nothing; its reader's end closes it.
func (w *whepSession) drain(pkts []*media.Packet) []*media.Packet {
	w.ready.Store(false) // before TryNext: a packet queued from now on schedules again
	rd := w.rd.Load()
	if rd == nil || w.failing.Load() {
		return pkts
	}
	select {
	case <-w.done:
		return pkts
	default:
	}
	pkts, _ = rd.TryNext(pkts)
	w.writePackets(pkts)
	return pkts
}

// writePackets sends packets on the writer goroutine. A write error ends
// the session, on its own goroutine (closing a PeerConnection may take a
// while and the writer serves other sessions), unless it is the one an ICE
// restart causes: the packet is dropped.
func (w *whepSession) writePackets(pkts []*media.Packet) {
	if len(pkts) == 0 {
		return
	}
	now := time.Now()
	for _, p := range pkts {
		if err := w.writePacket(p, now); err != nil {
			if restartWriteError(err, w.peer) {
				continue
			}
			if w.failing.CompareAndSwap(false, true) {
				w.s.goRun(func() { w.close(errcode.ServiceLost("WebRTC write failed")) })
			}
			return
		}
	}
}

// restartWriteError reports whether a write error is the transient one of
// an ICE restart: the agent closes its old candidates' sockets, so a write
// that took the old candidate pair just before fails with io.ErrClosedPipe
// while the connection lives on (later writes are dropped by pion until
// the new pair is chosen). A closed connection fails the same way, but
// then pc says so.
func restartWriteError(err error, pc *pion.PeerConnection) bool {
	if !errors.Is(err, io.ErrClosedPipe) || pc == nil {
		return false
	}
	switch pc.ConnectionState() {
	case pion.PeerConnectionStateClosed, pion.PeerConnectionStateFailed:
		return false
	}
	return true
}
