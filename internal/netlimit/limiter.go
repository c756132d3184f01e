package netlimit

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Config holds the limits; zero or negative means no limit.
type Config struct {
	// MaxConns caps the connections open at once over all wrapped listeners.
	MaxConns int
	// MaxConnsPerIP caps the connections open at once from one source
	// address (IPv6: one /64).
	MaxConnsPerIP int
	// PerIPExempt lists the sources MaxConnsPerIP does not apply to (they
	// count in MaxConns): a reverse proxy on the same host, for example,
	// brings every client from 127.0.0.1.
	PerIPExempt []netip.Prefix
}

// logEvery is the shortest interval between two refusal logs of a listener.
const logEvery = time.Second

// Limiter counts the open connections of the listeners it wraps.
type Limiter struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	total int
	perIP map[string]int
}

// New returns a Limiter; log receives the refusals.
func New(cfg Config, log *slog.Logger) *Limiter {
	return &Limiter{cfg: cfg, log: log.With("component", "netlimit"), perIP: make(map[string]int)}
}

// Open returns the number of connections currently counted.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// exempt reports whether the source of a is exempt from the per-IP limit.
func (l *Limiter) exempt(a net.Addr) bool {
	if len(l.cfg.PerIPExempt) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range l.cfg.PerIPExempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// acquire counts a connection from key ("" when exempt from the per-IP
// limit), or says which limit it is over.
func (l *Limiter) acquire(key string) (reason string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.MaxConns > 0 && l.total >= l.cfg.MaxConns {
		return "too many connections on the node (limits.maxConnections)", false
	}
	if key != "" && l.cfg.MaxConnsPerIP > 0 && l.perIP[key] >= l.cfg.MaxConnsPerIP {
		return "too many connections from this address (limits.maxConnectionsPerIP)", false
	}
	l.total++
	if key != "" {
		l.perIP[key]++
	}
	return "", true
}

func (l *Limiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if key == "" {
		return
	}
	if n := l.perIP[key] - 1; n > 0 {
		l.perIP[key] = n
	} else {
		delete(l.perIP, key)
	}
}

// Wrap returns ln with the limits applied to its accepted connections; name
// labels its logs (e.g. "rtmp", "http"). Wrap the plain TCP listener, below
// any TLS listener, so refused connections cost no TLS handshake.
func (l *Limiter) Wrap(ln net.Listener, name string) net.Listener {
	return &listener{Listener: ln, l: l, name: name}
}

type listener struct {
	net.Listener
	l    *Limiter
	name string

	logMu   sync.Mutex
	lastLog time.Time
	refused int // since lastLog
}

// Accept returns the next connection within the limits; it closes the ones
// over a limit itself and keeps waiting.
func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		source := sourceKey(c.RemoteAddr())
		key := source
		if ln.l.exempt(c.RemoteAddr()) {
			key = ""
		}
		reason, ok := ln.l.acquire(key)
		if !ok {
			_ = c.Close()
			ln.logRefusal(source, reason)
			continue
		}
		return newConn(c, func() { ln.l.release(key) }), nil
	}
}

// logRefusal logs a refusal unless one was logged less than logEvery ago;
// the next log says how many were refused meanwhile.
func (ln *listener) logRefusal(source, reason string) {
	ln.logMu.Lock()
	ln.refused++
	now := time.Now()
	if now.Sub(ln.lastLog) < logEvery {
		ln.logMu.Unlock()
		return
	}
	n := ln.refused
	ln.refused, ln.lastLog = 0, now
	ln.logMu.Unlock()
	ln.l.log.Warn("connection refused", "listener", ln.name, "source", source, "reason", reason, "refused", n)
}

// sourceKey is the address a connection counts against: the IP, or the /64
// of an IPv6 address.
func sourceKey(a net.Addr) string {
	var ip net.IP
	switch v := a.(type) {
	case *net.TCPAddr:
		ip = v.IP
	default:
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return a.String()
		}
		ip = net.ParseIP(host)
		if ip == nil {
			return host
		}
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

// conn releases its slot once, on the first Close. On Linux it reads a
// TCP socket itself (rawRead).
type conn struct {
	net.Conn
	once    sync.Once
	release func()
	raw     syscall.RawConn // nil: reads go to Conn.Read
}

func newConn(c net.Conn, release func()) *conn {
	nc := &conn{Conn: c, release: release}
	if tc, ok := c.(*net.TCPConn); ok && rawReads {
		if raw, err := tc.SyscallConn(); err == nil {
			nc.raw = raw
		}
	}
	return nc
}

// Read is net.TCPConn's Read, errors included (a *net.OpError around all
// but io.EOF), by rawRead where it can.
func (c *conn) Read(p []byte) (int, error) {
	if c.raw == nil {
		return c.Conn.Read(p)
	}
	n, err := rawRead(c.raw, p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, err
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes the wrapped connection (net/http uses it when it
// ends a connection after an error).
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

var errNoSyscallConn = errors.New("netlimit: the connection has no socket")

// SyscallConn exposes the socket of the wrapped connection (the batched
// writers of RTMP and FLV viewers need it).
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSyscallConn
}
