// Package flush is the write batching shared by the stream egress adapters
// (internal/rtmp, internal/flv): a Flusher goroutine that, every interval,
// drains each lent viewer's queue and tries one non-blocking writev for it,
// so that a viewer costs one syscall per interval and no goroutine wakeup.
// A viewer whose socket is full is handed back to its own goroutine, which
// finishes the write blocking, so a slow viewer never delays the others.
// Conn is that goroutine's side: blocking writes under a write deadline.
//
// It knows no protocol: the adapter's Viewer builds the bytes. It imports
// nothing from minirtc.
//
// Goroutine model: Run is the one goroutine of a Flusher, owned by the
// adapter's server, which waits for it. A viewer's goroutine calls Lend and
// blocks until the Flusher hands the viewer back or the context ends; Flush
// is called on the Flusher's goroutine only while the viewer is lent.
package flush

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"time"
)

// Viewer is what a Flusher writes for.
type Viewer interface {
	// Flush is the Flusher's turn: take what is queued and try one
	// non-blocking write (see Try). It reports whether the viewer stays
	// with the Flusher; false hands it back to the goroutine that lent it,
	// which must then finish what Flush left (a rest to write blocking, or
	// an error).
	Flush(now time.Time) bool
}

// Flusher writes for many viewers from one goroutine.
type Flusher struct {
	interval time.Duration

	mu      sync.Mutex // held during a sweep: Lend's removal waits for it
	viewers map[Viewer]chan<- struct{}
}

// New returns a Flusher sweeping every interval (> 0).
func New(interval time.Duration) *Flusher {
	return &Flusher{interval: interval, viewers: make(map[Viewer]chan<- struct{})}
}

// Interval is the time between two sweeps.
func (f *Flusher) Interval() time.Duration { return f.interval }

// Run sweeps until ctx is cancelled.
func (f *Flusher) Run(ctx context.Context) {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.sweep(time.Now())
	}
}

func (f *Flusher) sweep(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for v, back := range f.viewers {
		if !v.Flush(now) {
			delete(f.viewers, v)
			back <- struct{}{} // buffered (1): one handback per Lend
		}
	}
}

// Lend gives v to the Flusher and waits until the Flusher hands it back
// (nil) or ctx ends (ctx's error). Either way v is the caller's again when
// Lend returns. handback is v's own channel with a buffer of 1, empty
// between Lends. Called from v's goroutine.
func (f *Flusher) Lend(ctx context.Context, v Viewer, handback chan struct{}) error {
	f.mu.Lock()
	f.viewers[v] = handback
	f.mu.Unlock()
	select {
	case <-handback:
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		_, still := f.viewers[v]
		delete(f.viewers, v)
		f.mu.Unlock()
		if !still {
			<-handback // the Flusher was handing it back meanwhile
		}
		return ctx.Err()
	}
}

// Len is the number of viewers lent to the Flusher.
func (f *Flusher) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.viewers)
}

// MaxIovecs is IOV_MAX on Linux and Darwin: writev refuses more buffers.
const MaxIovecs = 1024

// Try makes one non-blocking writev of bufs on raw (at most MaxIovecs
// buffers). It returns nil, nil when everything was written; the unwritten
// rest (a suffix of bufs, its first buffer possibly shortened) when the
// socket is full; or the write error. bufs' slice headers are consumed.
func Try(raw syscall.RawConn, bufs [][]byte) (rest [][]byte, err error) {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	head := bufs
	if len(head) > MaxIovecs {
		head = head[:MaxIovecs] // the viewer's goroutine writes the rest
	}
	n, err := tryWritev(raw, head)
	if err != nil && !errors.Is(err, syscall.EAGAIN) {
		return nil, err
	}
	if n == total {
		return nil, nil
	}
	return Remainder(bufs, n), nil
}

// Write writes all of bufs on raw, blocking until the socket takes them (or
// its write deadline passes, or it is closed). It is net.Buffers.WriteTo
// without the iovec array the runtime keeps per socket after a large write
// (16 KiB for a GOP cache of 1024 buffers), which would stay with every
// viewer. bufs' slice headers are consumed. Only where Supported.
func Write(raw syscall.RawConn, bufs [][]byte) error { return writevBlocking(raw, bufs) }

// DrainTime is how long an adapter lets a viewer whose reader the hub ended
// (stream end, kick) write what is still queued before it cuts the
// connection: two batch intervals, within [50 ms, 1 s]. A viewer that is
// not blocked on a full socket finishes sooner on its own.
func DrainTime(interval time.Duration) time.Duration {
	return min(max(2*interval, 50*time.Millisecond), time.Second)
}

// KeepCap is the largest buffer list a viewer keeps between writes (see
// Recycle): a steady batch (one interval of packets) fits; a GOP cache
// write does not.
const KeepCap = 64

// Recycle empties s for the next batch and drops what it referenced; when s
// grew past max (the GOP cache write) it returns nil instead, so that an
// idle viewer keeps neither the large array nor old packets alive.
func Recycle[T any](s []T, max int) []T {
	if cap(s) > max {
		return nil
	}
	s = s[:cap(s)]
	clear(s)
	return s[:0]
}

// Remainder returns the part of bufs after the first n bytes.
func Remainder(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}
