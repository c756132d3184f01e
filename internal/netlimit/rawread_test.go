package netlimit

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// connPair returns an accepted connection, through a limited listener if
// wrapped (read by the conn type's own Read on Linux) or plain, and the
// client's end.
func connPair(t *testing.T, wrapped bool) (server net.Conn, client *net.TCPConn) {
	t.Helper()
	var ln net.Listener
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if wrapped {
		ln = New(Config{}, slog.New(slog.DiscardHandler)).Wrap(ln, "test")
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	if wc, ok := s.(*conn); wrapped && rawReads && (!ok || wc.raw == nil) {
		t.Fatal("the accepted connection does not read its socket itself")
	}
	return s, c.(*net.TCPConn)
}

// readOutcome is what a Read returned, in the terms callers test for.
type readOutcome struct {
	data                        string
	eof, timeout, closed, reset bool
	opError                     bool // a *net.OpError with Op "read"
	otherError                  string
}

func outcome(data []byte, err error) readOutcome {
	o := readOutcome{data: string(data)}
	if err == nil {
		return o
	}
	var ne net.Error
	var oe *net.OpError
	o.eof = errors.Is(err, io.EOF)
	o.timeout = errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
	o.closed = errors.Is(err, net.ErrClosed)
	o.reset = errors.Is(err, syscall.ECONNRESET)
	o.opError = errors.As(err, &oe) && oe.Op == "read"
	if !o.eof && !o.timeout && !o.closed && !o.reset {
		o.otherError = err.Error()
	}
	return o
}

// The limited listener's connections read as net.TCPConn does: the same
// bytes and the same errors for each way a read can end.
func TestReadAsTCPConn(t *testing.T) {
	for _, tc := range []struct {
		name string
		// run makes the read happen: it may act on either end, then reads
		// server once into a buffer of size bytes.
		run  func(t *testing.T, server net.Conn, client *net.TCPConn) ([]byte, error)
		want readOutcome
	}{
		{"data", func(t *testing.T, s net.Conn, c *net.TCPConn) ([]byte, error) {
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 16)
			n, err := s.Read(b)
			return b[:n], err
		}, readOutcome{data: "hello"}},
		{"empty buffer", func(_ *testing.T, s net.Conn, _ *net.TCPConn) ([]byte, error) {
			n, err := s.Read(nil)
			return make([]byte, n), err
		}, readOutcome{}},
		{"end of stream", func(_ *testing.T, s net.Conn, c *net.TCPConn) ([]byte, error) {
			_ = c.Close()
			b := make([]byte, 16)
			n, err := s.Read(b)
			return b[:n], err
		}, readOutcome{eof: true}},
		{"read deadline", func(_ *testing.T, s net.Conn, _ *net.TCPConn) ([]byte, error) {
			_ = s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			b := make([]byte, 16)
			n, err := s.Read(b)
			return b[:n], err
		}, readOutcome{timeout: true, opError: true}},
		{"closed while reading", func(_ *testing.T, s net.Conn, _ *net.TCPConn) ([]byte, error) {
			time.AfterFunc(50*time.Millisecond, func() { _ = s.Close() })
			b := make([]byte, 16)
			n, err := s.Read(b)
			return b[:n], err
		}, readOutcome{closed: true, opError: true}},
		{"reset by the peer", func(t *testing.T, s net.Conn, c *net.TCPConn) ([]byte, error) {
			if err := c.SetLinger(0); err != nil {
				t.Fatal(err)
			}
			_ = c.Close()
			time.Sleep(50 * time.Millisecond) // the RST is in
			b := make([]byte, 16)
			n, err := s.Read(b)
			return b[:n], err
		}, readOutcome{reset: true, opError: true}},
	} {
		for _, wrapped := range []bool{false, true} {
			name := tc.name + "/tcpconn"
			if wrapped {
				name = tc.name + "/limited"
			}
			t.Run(name, func(t *testing.T) {
				s, c := connPair(t, wrapped)
				got := outcome(tc.run(t, s, c))
				if got != tc.want {
					t.Fatalf("read = %+v, want %+v", got, tc.want)
				}
			})
		}
	}
}

// A stream larger than the socket buffers arrives whole and in order
// across many reads that wait in the poller.
func TestReadStreamWhole(t *testing.T) {
	s, c := connPair(t, true)
	want := make([]byte, 4<<20)
	_, _ = rand.Read(want)
	go func() {
		_, _ = c.Write(want)
		_ = c.Close()
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, not the %d written", len(got), len(want))
	}
}
