package listen

import (
	"log/slog"
	"net"
	"sync"
)

// Listener is a net.Listener whose Accept retries temporary failures (see
// Retrier) instead of returning them, so the accept loop above it (an
// http.Server, the RTMP server) keeps serving once the cause passes.
// Accept returns an error only when the listener is closed or failed for
// good; Stats then say which.
type Listener struct {
	net.Listener
	stats *Stats
	retry *Retrier

	done      chan struct{}
	closeOnce sync.Once
}

// Wrap returns ln with retrying Accept, recording into stats (which must
// not be nil) and logging to log.
func Wrap(ln net.Listener, stats *Stats, log *slog.Logger) *Listener {
	l := &Listener{Listener: ln, stats: stats, done: make(chan struct{})}
	l.retry = NewRetrier(stats, log, l.done)
	return l
}

// Accept waits for the next connection, retrying temporary failures.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			l.retry.Success()
			return c, nil
		}
		if !l.retry.Retry(err) {
			return nil, err
		}
	}
}

// Close closes the listener, ending a retry wait in progress. It is
// idempotent.
func (l *Listener) Close() error {
	// The socket first: a retry woken by done then finds it closed.
	err := l.Listener.Close()
	l.closeOnce.Do(func() {
		l.stats.setState(StateClosed)
		close(l.done)
	})
	return err
}

// Stats are the listener's counters.
func (l *Listener) Stats() *Stats { return l.stats }
