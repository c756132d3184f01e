package webrtc

import (
	"sync"

	"github.com/minirtc/minirtc/internal/token"
)

// access is a WHIP or WHEP session's registration with the admission
// registry (token.MediaGrant.Register): the principal's access ending
// closes the session. The session may close before, during or after the
// registration; whichever comes last releases it.
type access struct {
	mu       sync.Mutex
	release  func()
	released bool
}

// register registers the session with grant; end runs on the server's
// goroutines (never under the registry's or the channel model's locks).
func (a *access) register(s *Server, grant token.MediaGrant, end func(error)) {
	r := grant.Register(func(reason error) { s.goRun(func() { end(reason) }) })
	a.mu.Lock()
	if a.released {
		a.mu.Unlock()
		r()
		return
	}
	a.release = r
	a.mu.Unlock()
}

// drop releases the registration (the session ended). Idempotent.
func (a *access) drop() {
	a.mu.Lock()
	r := a.release
	a.release, a.released = nil, true
	a.mu.Unlock()
	if r != nil {
		r()
	}
}
