package listen

import (
	"errors"
	"fmt"
	"github.com/minirtc/minirtc/internal/logtest"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestTemporary(t *testing.T) {
	opErr := func(e error) error {
		return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", e)}
	}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"emfile", opErr(syscall.EMFILE), true},
		{"enfile", opErr(syscall.ENFILE), true},
		{"econnaborted", opErr(syscall.ECONNABORTED), true},
		{"enobufs", opErr(syscall.ENOBUFS), true},
		{"udp-icmp-refused", opErr(syscall.ECONNREFUSED), true},
		{"wrapped", fmt.Errorf("rtmp: %w", opErr(syscall.EMFILE)), true},
		{"timeout", opErr(os.ErrDeadlineExceeded), true},
		{"closed", opErr(net.ErrClosed), false},
		{"ebadf", opErr(syscall.EBADF), false},
		{"einval", opErr(syscall.EINVAL), false},
		{"plain", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Temporary(c.err); got != c.want {
				t.Fatalf("Temporary(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
}

// fakeListener returns the queued errors from Accept, then real
// connections from a pipe, then net.ErrClosed once closed.
type fakeListener struct {
	mu     sync.Mutex
	errs   []error
	closed bool
}

func (f *fakeListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
	}
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	c, _ := net.Pipe()
	return c, nil
}

func (f *fakeListener) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

type syncBuf = logtest.Buffer

// TestListenerRetriesTemporaryErrors: Accept hides a run of EMFILE and
// ECONNABORTED failures behind the backoff (5 ms doubling, capped at 1 s),
// counts them, logs them rate-limited, and returns the next connection;
// the backoff starts again at 5 ms after a success.
func TestListenerRetriesTemporaryErrors(t *testing.T) {
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	abort := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ECONNABORTED)}
	fl := &fakeListener{}
	for range 10 {
		fl.errs = append(fl.errs, emfile)
	}
	fl.errs = append(fl.errs, abort)
	var logs syncBuf
	st := &Stats{}
	l := Wrap(fl, st, slog.New(slog.NewTextHandler(&logs, nil)))
	var delays []time.Duration
	l.retry.wait = func(d time.Duration, _ <-chan struct{}) {
		delays = append(delays, d)
		if st.State() != StateRetrying {
			t.Errorf("state %v while waiting, want retrying", st.State())
		}
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	c.Close()
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000}
	if len(delays) != len(want) {
		t.Fatalf("delays %v, want %v ms", delays, want)
	}
	for i, d := range delays {
		if d != want[i]*time.Millisecond {
			t.Fatalf("delay %d = %v, want %v ms (all: %v)", i, d, want[i], delays)
		}
	}
	if sn := st.Snapshot(); sn.State != "serving" || sn.AcceptErrors != 11 || !strings.Contains(sn.LastError, "connection abort") {
		t.Fatalf("stats after recovery %+v", sn)
	}
	// The waits were faked, so all 11 failures fell within one second:
	// one warning, then the recovery.
	if n := strings.Count(logs.String(), "accept failed, retrying"); n != 1 {
		t.Fatalf("%d failure log lines, want 1 (rate limited):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "accepting again") || !strings.Contains(logs.String(), "failures=11") {
		t.Fatalf("no recovery line:\n%s", logs.String())
	}
	// A new failure after the success starts the backoff again.
	fl.mu.Lock()
	fl.errs = []error{emfile}
	fl.mu.Unlock()
	delays = nil
	if c, err := l.Accept(); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	if len(delays) != 1 || delays[0] != MinDelay {
		t.Fatalf("delays after a success %v, want [5ms]", delays)
	}
}

// TestListenerStopsOnPermanentError: an error that will not pass ends
// Accept with the error and marks the listener stopped; closing it later
// (its owner cleaning up) leaves it stopped.
func TestListenerStopsOnPermanentError(t *testing.T) {
	bad := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EINVAL)}
	fl := &fakeListener{errs: []error{bad}}
	var logs syncBuf
	st := &Stats{}
	l := Wrap(fl, st, slog.New(slog.NewTextHandler(&logs, nil)))
	if _, err := l.Accept(); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("accept error %v, want EINVAL", err)
	}
	if sn := st.Snapshot(); sn.State != "stopped" || sn.AcceptErrors != 1 {
		t.Fatalf("stats %+v", sn)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "listener stopped") {
		t.Fatalf("no error logged:\n%s", logs.String())
	}
	l.Close()
	if st.State() != StateStopped {
		t.Fatalf("state after close %v, want still stopped", st.State())
	}
}

// TestListenerCloseEndsBackoff: closing the listener during a backoff wait
// ends it, and Accept returns net.ErrClosed with the state closed.
func TestListenerCloseEndsBackoff(t *testing.T) {
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	fl := &fakeListener{}
	for range 100 {
		fl.errs = append(fl.errs, emfile)
	}
	st := &Stats{}
	l := Wrap(fl, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	for st.AcceptErrors() < 3 {
		time.Sleep(time.Millisecond)
	}
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accept after close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still waiting after Close")
	}
	if st.State() != StateClosed {
		t.Fatalf("state %v, want closed", st.State())
	}
}
