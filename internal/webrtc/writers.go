package webrtc

import (
	"context"
	"errors"
	"io"
	"runtime"
	"time"

	"github.com/minirtc/minirtc/internal/egress"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/media"
	pion "github.com/pion/webrtc/v4"
)

// The WHEP writers are an egress.Group: one loop per core (started with
// the first WHEP session), each session an egress.Viewer joined to one of
// them (round robin) that the hub's OnQueue makes due. So a packet the hub
// queues to N sessions wakes at most one goroutine per core instead of N,
// and one loop's writes to many sessions fill the shared socket's send
// batches; after each pass the loop sends what the pass queued (OnPass,
// batchConn.Flush), so the pass's tail does not wait for the sender. A
// session the loops cannot serve fast enough loses packets in its hub
// queue (the hub's drop rule: up to the next keyframe); the others are not
// held up by it beyond their turn. It is the write loop of the RTMP and
// FLV viewers (internal/egress), with packets instead of a stream socket.

// egressForLocked returns the server's WHEP writers, starting them with
// the first session. s.mu held; false when shutting down.
func (s *Server) egressForLocked() (*egress.Group, bool) {
	if s.closed {
		return nil, false
	}
	if s.egress == nil {
		bc, _ := s.conn.(*batchConn)
		opt := egress.Options{}
		if bc != nil {
			opt.OnPass = func(int) { bc.Flush() }
		}
		s.egress = egress.NewGroup(runtime.GOMAXPROCS(0), opt)
		ctx, cancel := context.WithCancel(context.Background())
		s.stopEgress = cancel
		g := s.egress
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			g.Run(ctx)
		}()
	}
	return s.egress, true
}

// Flush is the session's turn in its egress loop (egress.Viewer): write
// what its hub reader has queued. A closed session leaves the loop; a
// failing one writes nothing (its close is under way).
func (w *whepSession) Flush(time.Time) bool {
	select {
	case <-w.done:
		return false
	default:
	}
	rd := w.rd.Load()
	if rd == nil || w.failing.Load() {
		return true
	}
	pkts, _ := rd.TryNext(w.pkts[:0])
	w.writePackets(pkts)
	clear(pkts)
	w.pkts = pkts[:0]
	if cap(pkts) > egress.KeepCap {
		w.pkts = nil // the GOP cache snapshot: not kept by an idle session
	}
	return true
}

// writePackets sends packets on the session's egress loop. A write error ends
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
