package listen

import (
	"sync/atomic"
)

// State is where a listener is in its life.
type State int32

// The states of a listener. The zero value is StateServing.
const (
	// StateServing: the last accept (or read) succeeded, or none failed.
	StateServing State = iota
	// StateRetrying: the last accept failed with a temporary error; the
	// loop waits and tries again. The listener recovers on its own.
	StateRetrying
	// StateStopped: accept failed with an error that will not pass; the
	// listener no longer serves. Only a restart brings it back.
	StateStopped
	// StateClosed: the server closed the listener (shutdown).
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateServing:
		return "serving"
	case StateRetrying:
		return "retrying"
	case StateStopped:
		return "stopped"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// Stats are one listener's counters. The zero value is a serving listener
// with no failures. Safe for concurrent use.
type Stats struct {
	state        atomic.Int32
	acceptErrors atomic.Uint64
	lastError    atomic.Pointer[string]
}

// Snapshot is a copy of Stats at one instant, in the shape /healthz
// reports it.
type Snapshot struct {
	State string `json:"state"`
	// AcceptErrors counts the accepts (reads, for a UDP socket) that
	// failed since start, retried or not.
	AcceptErrors uint64 `json:"acceptErrors"`
	// LastError is the most recent failure, if any.
	LastError string `json:"lastError,omitempty"`
}

// State is the listener's current state.
func (s *Stats) State() State { return State(s.state.Load()) }

// AcceptErrors is how many accepts (or reads) failed since start.
func (s *Stats) AcceptErrors() uint64 { return s.acceptErrors.Load() }

// Snapshot copies the counters.
func (s *Stats) Snapshot() Snapshot {
	sn := Snapshot{State: s.State().String(), AcceptErrors: s.AcceptErrors()}
	if p := s.lastError.Load(); p != nil {
		sn.LastError = *p
	}
	return sn
}

func (s *Stats) failed(err error) {
	s.acceptErrors.Add(1)
	msg := err.Error()
	s.lastError.Store(&msg)
}

// setState moves to st, except out of StateClosed and StateStopped: both
// are final (a listener that stopped stays stopped when its owner then
// closes it, and a failure seen during the close does not reopen it).
func (s *Stats) setState(st State) {
	for {
		old := s.state.Load()
		if State(old) == StateClosed || State(old) == StateStopped || State(old) == st {
			return
		}
		if s.state.CompareAndSwap(old, int32(st)) {
			return
		}
	}
}
