package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/store"
)

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runNode starts a node with cfg and stops it when the test ends.
func runNode(t *testing.T, cfg config.Config, logs *syncBuf) *Node {
	t.Helper()
	n, err := NewWithStore(cfg, slog.New(slog.NewTextHandler(logs, nil)), store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return n
}

// closedWithin reports whether the server closed c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestConnectionsPerIP: limits.maxConnectionsPerIP counts the RTMP and HTTP
// listeners together; a connection over it is closed at once on either
// listener (logged), and a closed connection frees its slot.
func TestConnectionsPerIP(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxConnectionsPerIP = 4
	cfg.Limits.PerIPExempt = nil // the test's clients are on loopback
	logs := &syncBuf{}
	n := runNode(t, cfg, logs)

	dial := func(addr string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	held := []net.Conn{dial(n.HTTPAddr()), dial(n.HTTPAddr()), dial(n.RTMPAddr()), dial(n.RTMPAddr())}
	for deadline := time.Now().Add(5 * time.Second); n.connLimit.Open() < 4; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections counted, want 4", n.connLimit.Open())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, addr := range []string{n.HTTPAddr(), n.RTMPAddr()} {
		if c := dial(addr); !closedWithin(c, 2*time.Second) {
			t.Fatalf("fifth connection to %s was not closed", addr)
		}
	}
	for _, c := range held {
		if closedWithin(c, 50*time.Millisecond) {
			t.Fatal("a connection within the limit was closed")
		}
	}
	if !strings.Contains(logs.String(), "too many connections from this address") {
		t.Fatalf("refusal not logged:\n%s", logs.String())
	}
	// Freeing a slot lets a request through.
	held[0].Close()
	for deadline := time.Now().Add(5 * time.Second); n.connLimit.Open() > 3; {
		if time.Now().After(deadline) {
			t.Fatalf("closed connection still counted (%d open)", n.connLimit.Open())
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := http.Get("http://" + n.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatalf("healthz after a slot was freed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s", resp.Status)
	}
}

// TestHTTPHeaderLimit: request headers over 32 KiB are refused with 431
// before any handler runs (net/http would hold up to 1 MiB per connection).
func TestHTTPHeaderLimit(t *testing.T) {
	n := runNode(t, testConfig(t), &syncBuf{})
	for _, tc := range []struct {
		size int
		want int
	}{
		{4 << 10, http.StatusOK},
		{100 << 10, http.StatusRequestHeaderFieldsTooLarge},
	} {
		c, err := net.Dial("tcp", n.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\nConnection: close\r\n\r\n", strings.Repeat("a", tc.size))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%d-byte header: %v", tc.size, err)
		}
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%d-byte header: %s, want %d", tc.size, resp.Status, tc.want)
		}
	}
}

// TestLoopbackExemptFromPerIP: by default (limits.perIPExempt) loopback
// sources, such as a reverse proxy on the same host, are not held to
// maxConnectionsPerIP; maxConnections still counts them.
func TestLoopbackExemptFromPerIP(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxConnectionsPerIP = 2
	cfg.Limits.MaxConnections = 5
	n := runNode(t, cfg, &syncBuf{})
	var conns []net.Conn
	for range 6 {
		c, err := net.Dial("tcp", n.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		want := i >= 5
		if got := closedWithin(c, 300*time.Millisecond); got != want {
			t.Errorf("connection %d: closed = %v, want %v", i, got, want)
		}
	}
}
