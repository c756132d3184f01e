package webrtc

import (
	"sync/atomic"

	pion "github.com/pion/webrtc/v4"
)

// Meter receives the WebRTC server's metrics (internal/metrics.Protocol).
// Every method must be cheap and safe for concurrent use: BytesOut is
// called once per sendmmsg batch of the shared UDP socket, BytesIn once per
// datagram read. (Transcoding is the hub's: internal/transcode meters it.)
type Meter interface {
	ConnOpened()
	ConnClosed()
	PublishStarted()
	PublishEnded()
	ReadStarted()
	ReadEnded()
	BytesIn(n int)
	BytesOut(n int)
	// Refused counts a WHIP/WHEP request refused with a catalogue code.
	Refused(code int)
	// Failed counts a peer connection that failed at stage "ice" or "dtls".
	Failed(stage string)
}

// Failure stages, as Meter names them.
const (
	stageICE  = "ice"
	stageDTLS = "dtls"
)

// noMeter is the Meter of a server without metrics.
type noMeter struct{}

func (noMeter) ConnOpened()     {}
func (noMeter) ConnClosed()     {}
func (noMeter) PublishStarted() {}
func (noMeter) PublishEnded()   {}
func (noMeter) ReadStarted()    {}
func (noMeter) ReadEnded()      {}
func (noMeter) BytesIn(int)     {}
func (noMeter) BytesOut(int)    {}
func (noMeter) Refused(int)     {}
func (noMeter) Failed(string)   {}

// SetMeter sets the server's metrics; nil means none. Call it before Run.
// Bytes are counted on the batched UDP socket (Linux) only.
func (s *Server) SetMeter(m Meter) {
	if m == nil {
		m = noMeter{}
	}
	s.meter = m
	if bc, ok := s.conn.(*batchConn); ok {
		bc.meter.Store(&m)
	}
}

// failed counts a peer connection that reached the failed state: at ICE
// when no candidate pair worked, at DTLS when ICE had connected.
func (s *Server) failed(pc *pion.PeerConnection) {
	if pc.ICEConnectionState() == pion.ICEConnectionStateFailed {
		s.meter.Failed(stageICE)
	} else {
		s.meter.Failed(stageDTLS)
	}
}

// readerCount makes a WHEP session's ReadStarted and ReadEnded pair up
// whichever of attach and close comes first.
type readerCount struct{ state atomic.Int32 } // 0 not counted, 1 counted, 2 closed

// start counts the reader unless the session already closed.
func (c *readerCount) start(m Meter) {
	if c.state.CompareAndSwap(0, 1) {
		m.ReadStarted()
	}
}

// end counts the reader's end if start counted it.
func (c *readerCount) end(m Meter) {
	if c.state.Swap(2) == 1 {
		m.ReadEnded()
	}
}
