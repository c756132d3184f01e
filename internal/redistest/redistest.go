// Package redistest runs a real redis-server on a loopback port for tests:
// the store's shared suite and the cluster tests use it. Without a
// redis-server binary the tests that need one are skipped, unless
// MINIRTC_REQUIRE_REDIS=1 (CI sets it), which makes them fail instead.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server is one redis-server process with no persistence.
type Server struct {
	t    testing.TB
	bin  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	out  lockedBuffer // the server's output, shown when the test fails
	// dir, when set, keeps the data in an append-only file there (fsynced
	// at every write): Stop then Restart brings the same data back, as a
	// production Redis with persistence would.
	dir string
}

// lockedBuffer is a bytes.Buffer safe for the server's writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start starts a redis-server on a free loopback port and stops it when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, "")
}

// StartPersistent is Start with the data kept across Stop and Restart (an
// append-only file, fsynced at every write, in a temporary directory).
func StartPersistent(t testing.TB) *Server {
	t.Helper()
	return start(t, t.TempDir())
}

func start(t testing.TB, dir string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("MINIRTC_REQUIRE_REDIS") == "1" {
			t.Fatalf("redis-server not found and MINIRTC_REQUIRE_REDIS=1: apt-get install redis-server")
		}
		t.Skip("redis-server not installed (apt-get install redis-server)")
	}
	s := &Server{t: t, bin: bin, port: freePort(t), dir: dir}
	s.Restart()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("redis-server output:\n%s", s.out.String())
		}
	})
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Stop kills the server (if it runs) and waits for it to exit. The port
// stays the server's: Restart brings it back on the same address, empty.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the server (again) on its port and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"}
	if s.dir != "" {
		args = append(args, "--dir", s.dir, "--appendonly", "yes", "--appendfsync", "always")
	}
	cmd := exec.Command(s.bin, args...) //nolint:gosec // G204: the redis-server found on PATH, fixed test arguments
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(s.Addr()); err == nil {
			return
		} else if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("redis-server on %s did not answer: %v", s.Addr(), err)
		}
		select {
		case <-done:
			s.cmd = nil
			s.t.Fatalf("redis-server on %s exited at start", s.Addr())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Pause makes the server answer no client for d (CLIENT PAUSE … ALL):
// commands wait until the pause ends, keys do not expire meanwhile and no
// data is lost — a Redis that is briefly unavailable, as a failover of
// its host or a network cut looks to the nodes.
func (s *Server) Pause(d time.Duration) error {
	return command(s.Addr(), "CLIENT PAUSE "+strconv.FormatInt(d.Milliseconds(), 10)+" ALL", "+OK\r\n")
}

// ping sends one PING in the Redis protocol and expects PONG.
func ping(addr string) error { return command(addr, "PING", "+PONG\r\n") }

// command sends one inline command and expects the answer want.
func command(addr, cmd, want string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }() // a probe
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != want {
		return fmt.Errorf("unexpected answer %q", line)
	}
	return nil
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }() // only its port was wanted
	return l.Addr().(*net.TCPAddr).Port
}
