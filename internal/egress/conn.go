package egress

import (
	"net"
	"syscall"
	"time"
)

// Conn is a viewer's connection as the viewer's own goroutine writes to it:
// blocking writes (Write through Raw where Supported, else through NC)
// under a write deadline of Timeout. The deadline is renewed at most once a
// second, since setting it costs a timer update on every call.
type Conn struct {
	NC      net.Conn
	Raw     syscall.RawConn // nil: writes go through NC, and no Loop can take the viewer
	Timeout time.Duration

	deadline time.Time
}

// NewConn wraps nc; Raw is set when nc exposes its socket and Write is
// Supported on this system.
func NewConn(nc net.Conn, timeout time.Duration) Conn {
	c := Conn{NC: nc, Timeout: timeout}
	if tc, ok := nc.(syscall.Conn); ok && Supported {
		if raw, err := tc.SyscallConn(); err == nil {
			c.Raw = raw
		}
	}
	return c
}

// WriteBlocking writes all of bufs, blocking up to about Timeout. bufs'
// slice headers are consumed.
func (c *Conn) WriteBlocking(bufs [][]byte) error {
	if d := time.Now().Add(c.Timeout); d.Sub(c.deadline) > time.Second {
		c.deadline = d
		_ = c.NC.SetWriteDeadline(d)
	}
	if c.Raw != nil {
		return Write(c.Raw, bufs)
	}
	nb := net.Buffers(bufs)
	_, err := nb.WriteTo(c.NC)
	return err
}

// ClearDeadline removes the write deadline before a Loop takes the
// viewer: the Loop only writes when the socket has room, and a stale
// deadline would cut the viewer off mid-stream.
func (c *Conn) ClearDeadline() {
	c.deadline = time.Time{}
	_ = c.NC.SetWriteDeadline(time.Time{})
}
