package rtmp

// Meter receives the RTMP server's metrics (internal/metrics.Protocol).
// Every method must be cheap and safe for concurrent use: BytesOut is
// called once per write batch of a viewer, BytesIn once per read.
type Meter interface {
	ConnOpened()
	ConnClosed()
	PublishStarted()
	PublishEnded()
	ReadStarted()
	ReadEnded()
	BytesIn(n int)
	BytesOut(n int)
	// Refused counts a publish or play refused with a catalogue code.
	Refused(code int)
}

// noMeter is the Meter of a server without metrics.
type noMeter struct{}

func (noMeter) ConnOpened()      {}
func (noMeter) ConnClosed()      {}
func (noMeter) PublishStarted()  {}
func (noMeter) PublishEnded()    {}
func (noMeter) ReadStarted()     {}
func (noMeter) ReadEnded()       {}
func (noMeter) BytesIn(int)      {}
func (noMeter) BytesOut(int)     {}
func (noMeter) Refused(code int) {}

// SetMeter sets the server's metrics; nil means none. Call it before Serve.
func (s *Server) SetMeter(m Meter) {
	if m == nil {
		m = noMeter{}
	}
	s.meter = m
}

// batchBytes is the length of a write batch.
func batchBytes(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}
