package flv

// Meter receives the FLV server's metrics (internal/metrics.Protocol).
// Every method must be cheap and safe for concurrent use: BytesOut is
// called once per write batch of a viewer.
type Meter interface {
	ConnOpened()
	ConnClosed()
	ReadStarted()
	ReadEnded()
	BytesOut(n int)
	// Refused counts a play request refused with a catalogue code.
	Refused(code int)
}

// noMeter is the Meter of a server without metrics.
type noMeter struct{}

func (noMeter) ConnOpened()      {}
func (noMeter) ConnClosed()      {}
func (noMeter) ReadStarted()     {}
func (noMeter) ReadEnded()       {}
func (noMeter) BytesOut(int)     {}
func (noMeter) Refused(code int) {}

// SetMeter sets the server's metrics; nil means none. Call it before
// serving.
func (s *Server) SetMeter(m Meter) {
	if m == nil {
		m = noMeter{}
	}
	s.meter = m
}
