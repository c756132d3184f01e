package rtmp

import "net"

// corkConn is what gortmplib's ServerConn reads and writes during the
// handshake and command phase. gortmplib flushes every message on its own
// (a syscall, and a wakeup of the client, each); corkConn holds the writes
// and sends them in one write just before the server next reads, which is
// when the client must have them. A play connection takes the replies to its
// play command (take) and sends them with the first media, so the viewer
// gets onStatus, metadata, sequence headers and the keyframe in one write.
// After the command phase it passes writes straight through (open).
type corkConn struct {
	net.Conn
	buf   []byte
	open  bool
	meter Meter // nil: no metrics
}

func (c *corkConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if c.meter != nil {
		c.meter.BytesIn(n)
	}
	return n, err
}

func (c *corkConn) Write(p []byte) (int, error) {
	if c.open {
		n, err := c.Conn.Write(p)
		if c.meter != nil {
			c.meter.BytesOut(n)
		}
		return n, err
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// flush writes the held bytes.
func (c *corkConn) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	n, err := c.Conn.Write(c.buf)
	if c.meter != nil {
		c.meter.BytesOut(n)
	}
	c.buf = c.buf[:0]
	return err
}

// take returns the held bytes (the caller sends them) and opens the cork.
func (c *corkConn) take() []byte {
	b := c.buf
	c.buf, c.open = nil, true
	return b
}

// release sends the held bytes and opens the cork.
func (c *corkConn) release() error {
	err := c.flush()
	c.buf, c.open = nil, true
	return err
}
