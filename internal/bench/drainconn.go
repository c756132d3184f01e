package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// drainCap bounds what drainConn holds unparsed. A server sends a publisher
// only control messages (a few dozen bytes per acknowledgement or ping), so
// the cap is only reached by a misbehaving server; the drainer then stops
// reading and TCP back-pressure takes over.
const drainCap = 1 << 20

// errDrainTimeout is returned by drainConn.Read when no byte arrived within
// the timeout.
var errDrainTimeout = errors.New("no data from the server within the timeout")

// drainConn is the RTMP publisher's connection. Its drainer goroutine reads
// the socket all the time into a queue, so what the server writes to the
// publisher (acknowledgements, pings, window sizes, status) never backs up
// in the socket, whatever the publisher is doing. The publisher's own
// goroutine owns the RTMP client and parses the queue between frames (see
// pending): gortmplib answers acknowledgement windows and pings from its
// read path, and its writer is not safe for two goroutines.
//
// Read hands out one byte per call: the RTMP reader buffers what it is
// given (bufio), and with one byte per call it never holds bytes it has
// not parsed yet, so pending() == 0 means nothing is left to parse.
type drainConn struct {
	net.Conn
	timeout time.Duration

	mu     sync.Mutex
	buf    []byte        // received, not yet handed to Read
	off    int           // buf[off:] is unread
	err    error         // the drainer's read error (io.EOF: the server closed)
	total  int64         // bytes received
	notify chan struct{} // a token when bytes or an error arrived
	space  chan struct{} // a token when Read made room below drainCap
	done   chan struct{} // closed when the drainer ends

	closeOnce sync.Once
	closed    chan struct{} // closed by Close
}

// newDrainConn wraps nc and starts its drainer, which ends when nc is
// closed (Close); the caller waits for it on done.
func newDrainConn(nc net.Conn, timeout time.Duration) *drainConn {
	d := &drainConn{Conn: nc, timeout: timeout,
		notify: make(chan struct{}, 1), space: make(chan struct{}, 1), done: make(chan struct{}),
		closed: make(chan struct{})}
	go d.drain()
	return d
}

func (d *drainConn) drain() {
	defer close(d.done)
	chunk := make([]byte, 4096)
	for {
		n, err := d.Conn.Read(chunk)
		d.mu.Lock()
		if n > 0 {
			if d.off > 0 && d.off >= len(d.buf)/2 {
				d.buf, d.off = d.buf[:copy(d.buf, d.buf[d.off:])], 0
			}
			d.buf = append(d.buf, chunk[:n]...)
			d.total += int64(n)
		}
		if err != nil {
			d.err = err
		}
		full := len(d.buf)-d.off >= drainCap
		d.mu.Unlock()
		signal(d.notify)
		if err != nil {
			return
		}
		if full {
			select {
			case <-d.space:
			case <-d.closed:
				return
			}
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Read returns one queued byte, waiting up to the timeout for one.
func (d *drainConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		d.mu.Lock()
		if d.off < len(d.buf) {
			p[0] = d.buf[d.off]
			d.off++
			if len(d.buf)-d.off == drainCap-1 {
				signal(d.space)
			}
			d.mu.Unlock()
			return 1, nil
		}
		err := d.err
		d.mu.Unlock()
		if err != nil {
			return 0, err
		}
		if timer == nil {
			timer = time.NewTimer(d.timeout)
		}
		select {
		case <-d.notify:
		case <-timer.C:
			return 0, fmt.Errorf("rtmp: %w", errDrainTimeout)
		}
	}
}

// Close closes the socket, which ends the drainer.
func (d *drainConn) Close() error {
	d.closeOnce.Do(func() { close(d.closed) })
	return d.Conn.Close()
}

// pending reports how many received bytes are not parsed yet.
func (d *drainConn) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.buf) - d.off
}

// received reports the bytes the server sent so far.
func (d *drainConn) received() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total
}

// readErr reports why the drainer stopped (nil while it runs).
func (d *drainConn) readErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// SetReadDeadline is a no-op: the drainer reads without a deadline (Close
// ends it), and Read has its own timeout.
func (d *drainConn) SetReadDeadline(time.Time) error { return nil }

// SetDeadline sets only the write deadline (see SetReadDeadline).
func (d *drainConn) SetDeadline(t time.Time) error { return d.Conn.SetWriteDeadline(t) }

// drainDialer dials drainConns and remembers them, so that their owner can
// wait for every drainer (gortmplib redials once per authentication round).
type drainDialer struct {
	timeout time.Duration
	mu      sync.Mutex
	conns   []*drainConn
}

func (dd *drainDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d := newDrainConn(nc, dd.timeout)
	dd.mu.Lock()
	dd.conns = append(dd.conns, d)
	dd.mu.Unlock()
	return d, nil
}

// last returns the most recent connection (nil before any dial).
func (dd *drainDialer) last() *drainConn {
	dd.mu.Lock()
	defer dd.mu.Unlock()
	if len(dd.conns) == 0 {
		return nil
	}
	return dd.conns[len(dd.conns)-1]
}

// closeAndWait closes every connection dialled and waits for the drainers.
func (dd *drainDialer) closeAndWait() {
	dd.mu.Lock()
	conns := dd.conns
	dd.mu.Unlock()
	for _, d := range conns {
		_ = d.Close()
		<-d.done
	}
}
