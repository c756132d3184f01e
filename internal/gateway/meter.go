package gateway

// Meter receives the gateway's metrics (internal/metrics.ErrorCounter).
type Meter interface {
	// Error counts a request answered with a catalogue error code.
	Error(code int)
}

// SetMeter sets the gateway's metrics; nil means none. Call it before
// serving.
func (g *Gateway) SetMeter(m Meter) { g.meter = m }

// countError counts a request answered with catalogue code.
func (g *Gateway) countError(code int) {
	if g.meter != nil {
		g.meter.Error(code)
	}
}
