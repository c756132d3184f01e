package webrtc

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/pion/ice/v4"

	"github.com/minirtc/minirtc/internal/listen"
)

// retryConn is the shared UDP socket as the ICE UDP mux sees it. pion's mux
// closes itself for good on any read error but a timeout, which would end
// WebRTC on the node; retryConn retries the reads that may succeed later
// (an ICMP error from an earlier send reported on the socket, no buffer
// space, no memory) with listen's backoff, and records them in stats. A
// read error that will not pass is returned, and stats say the socket
// stopped. Writes go straight to the socket.
type retryConn struct {
	net.PacketConn
	stats     *listen.Stats
	retry     *listen.Retrier
	done      chan struct{}
	closeOnce sync.Once
}

var _ ice.AddrPortReaderWriter = (*retryConn)(nil)

func newRetryConn(c net.PacketConn, log *slog.Logger) *retryConn {
	rc := &retryConn{PacketConn: c, stats: &listen.Stats{}, done: make(chan struct{})}
	rc.retry = listen.NewRetrier(rc.stats, log, rc.done)
	return rc
}

// ReadFrom implements net.PacketConn.
func (c *retryConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err == nil {
			c.retry.Success()
			return n, addr, nil
		}
		if !c.retry.Retry(err) {
			return n, addr, err
		}
	}
}

// ReadFromAddrPort implements ice.AddrPortReaderWriter.
func (c *retryConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	for {
		n, addr, err := c.readAddrPort(p)
		if err == nil {
			c.retry.Success()
			return n, addr, nil
		}
		if !c.retry.Retry(err) {
			return n, addr, err
		}
	}
}

func (c *retryConn) readAddrPort(p []byte) (int, netip.AddrPort, error) {
	switch pc := c.PacketConn.(type) {
	case ice.AddrPortReaderWriter:
		return pc.ReadFromAddrPort(p)
	case *net.UDPConn:
		return pc.ReadFromUDPAddrPort(p)
	}
	n, addr, err := c.PacketConn.ReadFrom(p)
	if ua, ok := addr.(*net.UDPAddr); ok {
		return n, ua.AddrPort(), err
	}
	return n, netip.AddrPort{}, err
}

// WriteToAddrPort implements ice.AddrPortReaderWriter.
func (c *retryConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	switch pc := c.PacketConn.(type) {
	case ice.AddrPortReaderWriter:
		return pc.WriteToAddrPort(p, addr)
	case *net.UDPConn:
		return pc.WriteToUDPAddrPort(p, addr)
	}
	return c.PacketConn.WriteTo(p, net.UDPAddrFromAddrPort(addr))
}

// Close ends a retry wait in progress and closes the socket.
func (c *retryConn) Close() error {
	err := c.PacketConn.Close()
	c.closeOnce.Do(func() { close(c.done) })
	return err
}
