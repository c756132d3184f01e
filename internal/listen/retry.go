package listen

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Backoff bounds: the first retry waits MinDelay, each further failure in
// a row doubles the wait up to MaxDelay (net/http's accept loop uses the
// same numbers). 5 ms lets a burst of aborted connections pass almost
// unnoticed; 1 s keeps a listener out of file descriptors from spinning
// while it waits for connections to close.
const (
	MinDelay = 5 * time.Millisecond
	MaxDelay = time.Second
)

// logInterval is the least time between two log lines of one listener
// about failures: a listener out of file descriptors fails about once a
// second at the longest backoff, but many listeners or a burst of aborted
// connections would flood the log.
const logInterval = time.Second

// Temporary reports whether a failed accept or read may succeed if tried
// again: the process or system ran out of descriptors or memory, or one
// connection failed between the kernel's handshake and accept. A UDP read
// may also report an earlier send's ICMP error (connection refused or
// reset, unreachable); the socket itself is fine. A closed listener is
// never temporary.
func Temporary(err error) bool {
	if err == nil || errors.Is(err, net.ErrClosed) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.ECONNREFUSED,
		syscall.EPROTO, syscall.EPERM, syscall.EINTR, syscall.EAGAIN, syscall.ETIMEDOUT,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH:
		return true
	}
	return false
}

// Retrier paces the retries of one accept (or read) loop and records them
// in the loop's Stats. Safe for concurrent use.
type Retrier struct {
	stats *Stats
	log   *slog.Logger
	done  <-chan struct{}
	// wait pauses for d or until done is closed (tests record the delays).
	wait func(d time.Duration, done <-chan struct{})

	// failing is set from a failure to the next success: Success, called
	// after every accept or UDP read, is one atomic load otherwise.
	failing atomic.Bool

	mu      sync.Mutex
	delay   time.Duration // next wait; 0 after a success
	lastLog time.Time
	quiet   int // failures since the last log line
	streak  int // failures since the last success
}

// NewRetrier returns a Retrier that records into stats and logs to log.
// A wait in progress ends early when done is closed (the listener is being
// closed); done may be nil.
func NewRetrier(stats *Stats, log *slog.Logger, done <-chan struct{}) *Retrier {
	return &Retrier{stats: stats, log: log, done: done, wait: sleep}
}

// sleep waits d, or less if done is closed first.
func sleep(d time.Duration, done <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
}

// Retry handles a failed accept or read. For a temporary error it counts
// the failure, logs it (at most once per second, with the number of
// failures not logged), waits the current delay and returns true: the
// caller tries again. For any other error it returns false after marking
// the listener stopped (or closed, for net.ErrClosed or once done is
// closed); the first such failure is logged at error level.
func (r *Retrier) Retry(err error) bool {
	if errors.Is(err, net.ErrClosed) || r.closed() {
		r.stats.setState(StateClosed)
		return false
	}
	r.stats.failed(err)
	if !Temporary(err) {
		if st := r.stats.State(); st != StateStopped && st != StateClosed {
			r.stats.setState(StateStopped)
			r.log.Error("listener stopped: accept failed for good; restart minirtc", "err", err)
		}
		return false
	}
	r.stats.setState(StateRetrying)
	r.mu.Lock()
	r.failing.Store(true)
	if r.delay == 0 {
		r.delay = MinDelay
	} else {
		r.delay = min(2*r.delay, MaxDelay)
	}
	delay := r.delay
	r.streak++
	r.quiet++
	now := time.Now()
	if now.Sub(r.lastLog) >= logInterval {
		r.log.Warn("accept failed, retrying", "err", err, "retry_in", delay, "failures", r.quiet)
		r.lastLog, r.quiet = now, 0
	}
	r.mu.Unlock()
	r.wait(delay, r.done)
	return true
}

// closed reports whether done is closed.
func (r *Retrier) closed() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Success resets the backoff after a successful accept or read, and logs
// the recovery once after failures.
func (r *Retrier) Success() {
	if !r.failing.Load() {
		return
	}
	r.mu.Lock()
	if r.delay == 0 {
		r.mu.Unlock()
		return
	}
	r.failing.Store(false)
	streak := r.streak
	r.delay, r.streak, r.quiet, r.lastLog = 0, 0, 0, time.Time{}
	r.mu.Unlock()
	r.stats.setState(StateServing)
	r.log.Info("accepting again", "failures", streak)
}
