package webrtc

import (
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/minirtc/minirtc/internal/errcode"
	pion "github.com/pion/webrtc/v4"
)

// writer is one of the server's WHEP writer goroutines: it sends the queued
// frames of the sessions assigned to it. The server runs one per core
// (started with the first WHEP session), not one per session, so a frame
// fanned out to N sessions wakes at most one goroutine per core instead of
// N, and one goroutine's writes to many sessions fill the shared socket's
// send batches.
type writer struct {
	mu    sync.Mutex
	ready []*whepSession // sessions with queued frames, in queueing order
	wake  chan struct{}  // ready became non-empty
}

// schedule puts sess on the ready list. The session's queue lock is held:
// a session is on at most one ready list at a time (whepSession.ready).
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

// run sends ready sessions' frames until stop is closed; after each round
// of ready sessions it flushes the shared socket's send queue (see
// batchConn.Flush), so the round's tail does not wait for the sender.
func (wr *writer) run(stop <-chan struct{}, bc *batchConn) {
	var batch []*whepSession
	var units []*unit
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
				units = sess.take(units[:0])
				sess.writeUnits(units)
				clear(units)
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

// take moves the session's queued frames to units and takes it off its
// writer's ready list. A closed session's frames are dropped.
func (w *whepSession) take(units []*unit) []*unit {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	w.ready = false
	select {
	case <-w.done:
		w.queue = nil
		return units
	default:
	}
	units = append(units, w.queue...)
	clear(w.queue)
	w.queue = w.queue[:0]
	return units
}

// writeUnits sends frames on the writer goroutine. A write error ends the
// session, on its own goroutine (closing a PeerConnection may take a while
// and the writer serves other sessions), unless it is the one an ICE
// restart causes: a frame is dropped.
func (w *whepSession) writeUnits(units []*unit) {
	for _, u := range units {
		if err := w.write(u); err != nil {
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
