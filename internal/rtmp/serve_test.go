package rtmp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
)

// failingListener passes through the first accept, then fails every
// accept with err.
type failingListener struct {
	net.Listener
	n   atomic.Int32
	err error
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.n.Add(1) > 1 {
		return nil, l.err
	}
	return l.Listener.Accept()
}

// TestServeReturnsWhenAcceptFails: when Accept fails for good while a
// connection is open (idle in its handshake) and the egress loop runs,
// Serve closes the connection and returns the accept error. It used to
// wait for its goroutines before cancelling them, and hung.
func TestServeReturnsWhenAcceptFails(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	srv, err := NewServer(Config{HandshakeTimeout: time.Hour, BatchInterval: 20 * time.Millisecond}, hub, allowAll{}, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bad := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EINVAL)}
	fl := &failingListener{Listener: ln, err: bad}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), fl) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("Serve returned %v, want the accept error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve hung after a failed accept")
	}
	// The idle connection was closed by Serve, not left open.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after Serve returned: %v", err)
	}
}
