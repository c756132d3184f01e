package netlimit

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// serve accepts on a limited loopback listener and holds every accepted
// connection open until the test ends; accepted receives each one.
func serve(t *testing.T, lim *Limiter) (addr string, accepted chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wl := lim.Wrap(ln, "test")
	t.Cleanup(func() { wl.Close() })
	accepted = make(chan net.Conn, 64)
	go func() {
		for {
			c, err := wl.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	return ln.Addr().String(), accepted
}

// closedByServer reports whether the server closed c (EOF or reset) within d.
func closedByServer(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want int // connections kept open of the 5 dialled
	}{
		{"per IP", Config{MaxConnsPerIP: 3}, 3},
		{"total", Config{MaxConns: 2}, 2},
		{"both, total lower", Config{MaxConns: 2, MaxConnsPerIP: 4}, 2},
		{"none", Config{}, 5},
		{"per IP, loopback exempt", Config{MaxConnsPerIP: 3, PerIPExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, 5},
		{"per IP, another range exempt", Config{MaxConnsPerIP: 3, PerIPExempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, 3},
		{"total, loopback exempt from per IP only", Config{MaxConns: 2, MaxConnsPerIP: 1, PerIPExempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := New(tc.cfg, slog.New(slog.DiscardHandler))
			addr, accepted := serve(t, lim)
			var conns []net.Conn
			for i := 0; i < 5; i++ {
				conns = append(conns, dial(t, addr))
				if i < tc.want {
					select {
					case <-accepted:
					case <-time.After(5 * time.Second):
						t.Fatalf("connection %d within the limits was not accepted", i)
					}
				}
			}
			for i, c := range conns {
				closed := closedByServer(c, 300*time.Millisecond)
				if want := i >= tc.want; closed != want {
					t.Errorf("connection %d: closed by the server = %v, want %v", i, closed, want)
				}
			}
			if got := lim.Open(); got != tc.want {
				t.Errorf("Open() = %d, want %d", got, tc.want)
			}
		})
	}
}

// A closed connection frees its slot: the next one from the same address is
// accepted again.
func TestCloseReleases(t *testing.T) {
	lim := New(Config{MaxConnsPerIP: 1}, slog.New(slog.DiscardHandler))
	addr, accepted := serve(t, lim)
	c1 := dial(t, addr)
	sc1 := <-accepted
	c2 := dial(t, addr)
	if !closedByServer(c2, 2*time.Second) {
		t.Fatal("second connection over the per-IP limit was not closed")
	}
	sc1.Close()
	sc1.Close() // a second Close must not release twice
	if !closedByServer(c1, 2*time.Second) {
		t.Fatal("first connection not closed")
	}
	if got := lim.Open(); got != 0 {
		t.Fatalf("Open() after close = %d, want 0", got)
	}
	c3 := dial(t, addr)
	select {
	case sc3 := <-accepted:
		if _, err := c3.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		if _, err := io.ReadFull(sc3, b[:]); err != nil {
			t.Fatalf("read on the accepted connection: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection after a release was not accepted")
	}
}

// The batched writers of RTMP and FLV viewers need the socket.
func TestSyscallConn(t *testing.T) {
	lim := New(Config{}, slog.New(slog.DiscardHandler))
	addr, accepted := serve(t, lim)
	dial(t, addr)
	sc := <-accepted
	t.Cleanup(func() { sc.Close() })
	if _, ok := sc.(syscall.Conn); !ok {
		t.Fatal("accepted connection does not expose its socket")
	}
}

func TestSourceKey(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::1"), Port: 1}, "2001:db8:1:2::/64"},
	} {
		if got := sourceKey(tc.addr); got != tc.want {
			t.Errorf("sourceKey(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
