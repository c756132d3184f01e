package webrtc

import (
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	pion "github.com/pion/webrtc/v4"

	"github.com/minirtc/minirtc/internal/listen"
)

// flakyPacketConn is a UDP socket whose reads fail with the queued errors,
// then return one (non-STUN) datagram, then block until closed; reads
// counts the ReadFrom calls.
type flakyPacketConn struct {
	net.PacketConn // nil: only the methods below are used
	mu             sync.Mutex
	errs           []error
	reads          int
	delivered      bool
	closed         chan struct{}
	once           sync.Once
}

func (f *flakyPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	f.mu.Lock()
	f.reads++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return 0, nil, err
	}
	if !f.delivered {
		f.delivered = true
		f.mu.Unlock()
		return copy(p, "not stun"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, nil
	}
	f.mu.Unlock()
	<-f.closed
	return 0, nil, net.ErrClosed
}

func (f *flakyPacketConn) WriteTo(p []byte, _ net.Addr) (int, error) { return len(p), nil }
func (f *flakyPacketConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
}
func (f *flakyPacketConn) Close() error { f.once.Do(func() { close(f.closed) }); return nil }

func (f *flakyPacketConn) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// TestUDPMuxSurvivesReadErrors: the ICE UDP mux keeps reading the shared
// socket after reads that fail with errors that pass (an ICMP port
// unreachable reported as ECONNREFUSED, ENOBUFS), counting them in the
// socket's stats; the same errors close pion's mux for good when it reads
// the socket directly. A read error that will not pass marks the socket
// stopped.
func TestUDPMuxSurvivesReadErrors(t *testing.T) {
	refused := &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvfrom", syscall.ECONNREFUSED)}
	nobufs := &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvfrom", syscall.ENOBUFS)}
	badf := &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvfrom", syscall.EBADF)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	for _, c := range []struct {
		name       string
		wrap       bool
		errs       []error
		wantClosed bool
		wantState  listen.State
		wantErrors uint64
	}{
		{"wrapped-temporary", true, []error{refused, nobufs, refused}, false, listen.StateServing, 3},
		{"raw-temporary", false, []error{refused}, true, 0, 0},
		{"wrapped-permanent", true, []error{badf}, true, listen.StateStopped, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			fc := &flakyPacketConn{errs: c.errs, closed: make(chan struct{})}
			var conn net.PacketConn = fc
			var rc *retryConn
			if c.wrap {
				rc = newRetryConn(fc, log)
				conn = rc
			}
			mux := pion.NewICEUDPMux(lf.NewLogger("ice"), conn).(*ice.UDPMuxDefault)
			defer mux.Close()
			deadline := time.Now().Add(10 * time.Second)
			for {
				closed := mux.IsClosed()
				if c.wantClosed && closed {
					break
				}
				// The mux blocks in its next read once the errors and
				// the datagram are used up.
				if !c.wantClosed && fc.readCount() > len(c.errs)+1 {
					if closed {
						t.Fatal("mux closed after temporary read errors")
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("mux closed %v after %d reads, want closed %v", closed, fc.readCount(), c.wantClosed)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if rc != nil {
				if st := rc.stats.State(); st != c.wantState {
					t.Errorf("state %v, want %v", st, c.wantState)
				}
				if n := rc.stats.AcceptErrors(); n != c.wantErrors {
					t.Errorf("%d read errors counted, want %d", n, c.wantErrors)
				}
			}
		})
	}
}
