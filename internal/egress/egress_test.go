package egress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestRemainder(t *testing.T) {
	mk := func() [][]byte { return [][]byte{[]byte("abc"), []byte("de"), []byte("fghi")} }
	for _, c := range []struct {
		n    int
		want string
	}{{0, "abcdefghi"}, {2, "cdefghi"}, {3, "defghi"}, {4, "efghi"}, {5, "fghi"}, {8, "i"}, {9, ""}} {
		if got := string(bytes.Join(Remainder(mk(), c.n), nil)); got != c.want {
			t.Errorf("Remainder(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// countViewer stays with the loop for stay turns, then asks to go back;
// each turn it makes itself due again, as a viewer with a steady stream is.
type countViewer struct {
	slot  *Slot
	stay  int
	calls atomic.Int32
}

func (v *countViewer) Flush(time.Time) bool {
	if int(v.calls.Add(1)) <= v.stay {
		v.slot.Due()
		return true
	}
	return false
}

// runLoop runs l until the test ends.
func runLoop(t testing.TB, l *Loop) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func TestLend(t *testing.T) {
	l := New(Options{})
	runLoop(t, l)

	// Handed back after its third turn, then lent again.
	v := &countViewer{stay: 2}
	v.slot = l.Slot(v)
	if err := v.slot.Lend(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := v.calls.Load(); got != 3 {
		t.Fatalf("%d turns before the handback, want 3", got)
	}
	v.stay = 5
	if err := v.slot.Lend(context.Background()); err != nil || v.calls.Load() != 6 {
		t.Fatalf("second lend: %v after %d turns", err, v.calls.Load())
	}

	// A viewer that stays is taken back when its context ends.
	stays := &countViewer{stay: 1 << 30}
	stays.slot = l.Slot(stays)
	lctx, lcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- stays.slot.Lend(lctx) }()
	for stays.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	lcancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("lend after cancel: %v", err)
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("%d viewers still lent", n)
	}
}

// queueViewer is a minimal adapter viewer over a TCP socket: push queues a
// frame (and makes the viewer due when its queue was empty, as
// media.SubscribeOptions.OnQueue does); Flush writes the whole queue in one
// non-blocking writev; run is the viewer goroutine (lend, and finish a write
// the socket did not take, blocking).
type queueViewer struct {
	slot *Slot
	conn Conn

	mu    sync.Mutex
	queue [][]byte

	// Owned by the loop while lent, by run otherwise.
	pending       [][]byte
	pendingFrames int // frames whose bytes pending finishes
	werr          error

	writes  atomic.Int32     // non-blocking writevs that carried frames
	frames  atomic.Int32     // frames in them
	blocked atomic.Bool      // run is in a blocking write
	onWrite func(frames int) // if set, called after each complete non-blocking write
}

func newQueueViewer(t testing.TB, l *Loop, nc net.Conn) *queueViewer {
	v := &queueViewer{conn: NewConn(nc, time.Minute)}
	if v.conn.Raw == nil {
		t.Skip("no raw socket access on this platform")
	}
	v.slot = l.Slot(v)
	return v
}

func (v *queueViewer) push(b []byte) {
	v.mu.Lock()
	first := len(v.queue) == 0
	v.queue = append(v.queue, b)
	v.mu.Unlock()
	if first {
		v.slot.Due()
	}
}

func (v *queueViewer) Flush(time.Time) bool {
	v.mu.Lock()
	q := v.queue
	v.queue = nil
	v.mu.Unlock()
	if len(q) == 0 {
		return true
	}
	v.writes.Add(1)
	v.frames.Add(int32(len(q)))
	rest, err := Try(v.conn.Raw, q)
	if err != nil {
		v.werr = err
		return false
	}
	if len(rest) > 0 {
		v.pending, v.pendingFrames = rest, len(q)
		return false
	}
	if v.onWrite != nil {
		v.onWrite(len(q))
	}
	return true
}

func (v *queueViewer) run(ctx context.Context) error {
	for {
		if err := v.slot.Lend(ctx); err != nil {
			return err
		}
		if v.werr != nil {
			return v.werr
		}
		v.blocked.Store(true)
		err := v.conn.WriteBlocking(v.pending)
		v.blocked.Store(false)
		v.pending = nil
		if err != nil {
			return err
		}
		if v.onWrite != nil {
			v.onWrite(v.pendingFrames)
		}
	}
}

// start runs v's goroutine until the test ends.
func (v *queueViewer) start(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = v.run(ctx) }()
	// Closing the socket ends a blocking write (as the adapters' cancel does).
	t.Cleanup(func() { cancel(); v.conn.NC.Close(); <-done })
}

// passes returns Options whose OnPass reports each pass on the channel.
func passes() (Options, chan int) {
	ch := make(chan int, 64)
	return Options{OnPass: func(n int) { ch <- n }}, ch
}

// nextPass waits for the loop's next pass and returns how many viewers it
// visited; the timeout is a guard against a loop that never runs, not a
// measure.
func nextPass(t *testing.T, ch chan int) int {
	t.Helper()
	select {
	case n := <-ch:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no pass of the loop")
		return 0
	}
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("peer read: %v", err)
	}
	return b
}

// TestWriteInNextPass: a lent viewer that gets data is written in the very
// next pass of the loop, which its Due starts; there is no tick to wait for.
func TestWriteInNextPass(t *testing.T) {
	opt, passCh := passes()
	l := New(opt)
	runLoop(t, l)
	peer, nc := tcpPair(t)
	v := newQueueViewer(t, l, nc)
	v.start(t)
	nextPass(t, passCh) // Lend makes the viewer due: one pass, nothing to write
	for i := range 3 {
		frame := []byte{'f', byte('0' + i)}
		v.push(frame)
		if n := nextPass(t, passCh); n != 1 {
			t.Fatalf("frame %d: the pass visited %d viewers, want 1", i, n)
		}
		// That pass wrote it.
		if got := v.writes.Load(); got != int32(i+1) {
			t.Fatalf("frame %d: %d writes after the pass, want %d", i, got, i+1)
		}
		if got := readN(t, peer, 2); !bytes.Equal(got, frame) {
			t.Fatalf("peer read %q, want %q", got, frame)
		}
	}
}

// blockerViewer holds the loop inside its Flush until released.
type blockerViewer struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockerViewer) Flush(time.Time) bool {
	b.entered <- struct{}{}
	<-b.release
	return true
}

// TestCoalesceWhileBusy: frames queued while the loop is busy with a pass go
// out together in one writev in the next pass.
func TestCoalesceWhileBusy(t *testing.T) {
	opt, passCh := passes()
	l := New(opt)
	runLoop(t, l)
	peer, nc := tcpPair(t)
	v := newQueueViewer(t, l, nc)
	v.start(t)
	nextPass(t, passCh)

	blk := &blockerViewer{entered: make(chan struct{}), release: make(chan struct{})}
	bs := l.Slot(blk)
	go func() { _ = bs.Lend(context.Background()) }()
	<-blk.entered // the loop is busy in a pass
	const frames = 5
	var want []byte
	for i := range frames {
		f := []byte{'q', byte('0' + i)}
		want = append(want, f...)
		v.push(f)
	}
	if v.writes.Load() != 0 {
		t.Fatal("written while the loop was busy")
	}
	close(blk.release) // blk stays lent and passes through at once from now on
	for v.writes.Load() == 0 {
		nextPass(t, passCh)
	}
	if w, f := v.writes.Load(), v.frames.Load(); w != 1 || f != frames {
		t.Fatalf("%d writes carrying %d frames, want 1 write of %d", w, f, frames)
	}
	if got := readN(t, peer, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("peer read %q, want %q", got, want)
	}
}

// TestBlockedViewerDoesNotDelayOthers: a viewer whose peer stops reading is
// handed back to its goroutine when its socket is full, and blocks there;
// the other viewer keeps receiving every frame through the loop meanwhile,
// while the slow one is given ever more than its socket takes.
func TestBlockedViewerDoesNotDelayOthers(t *testing.T) {
	l := New(Options{})
	runLoop(t, l)
	_, slowNC := tcpPair(t) // its peer never reads
	if tc, ok := slowNC.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	slow := newQueueViewer(t, l, slowNC)
	slow.start(t)
	peer, fastNC := tcpPair(t)
	fast := newQueueViewer(t, l, fastNC)
	fast.start(t)

	big := make([]byte, 64<<10)
	for i := 0; !slow.blocked.Load(); i++ {
		if i > 100000 {
			t.Fatal("the slow viewer's socket never filled up")
		}
		slow.push(big)
		runtime.Gosched()
	}
	const frames = 200
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, frames*4)
		_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _ := io.ReadFull(peer, b)
		got <- b[:n]
	}()
	var want []byte
	for i := range frames {
		f := []byte{'F', byte(i), byte(i >> 8), '\n'}
		want = append(want, f...)
		fast.push(f)
		slow.push(big) // the slow viewer keeps having more than its socket takes
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("fast viewer received %d of %d bytes (or different)", len(b), len(want))
	}
}

// BenchmarkLoop: frames pushed to N viewers on loopback TCP (their peers
// drain) through one Loop. "paced" waits until every viewer's frame was
// written before pushing the next, as a live stream does between frames:
// one writev per frame and viewer, so ns/frame-viewer is the loop's cost of
// one write (the kernel's loopback TCP work, receiver side included, is most
// of it). "burst" pushes b.N frames without waiting: what queued while the
// loop was busy coalesces, and writes/frame says how much.
//
//	go test -run XXX -bench Loop -benchtime 2000x ./internal/egress
func BenchmarkLoop(b *testing.B) {
	if !Supported {
		b.Skip("no non-blocking writev on this platform")
	}
	for _, mode := range []string{"paced", "burst"} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/viewers=%d", mode, n), func(b *testing.B) {
				benchLoop(b, n, mode == "paced")
			})
		}
	}
}

func benchLoop(b *testing.B, n int, paced bool) {
	l := New(Options{})
	runLoop(b, l)
	var written, want atomic.Int64
	reached := make(chan struct{}, 1)
	onWrite := func(frames int) {
		if written.Add(int64(frames)) >= want.Load() {
			select {
			case reached <- struct{}{}:
			default:
			}
		}
	}
	vs := make([]*queueViewer, n)
	for i := range vs {
		peer, nc := tcpPair(b)
		go func() { _, _ = io.Copy(io.Discard, peer) }()
		vs[i] = newQueueViewer(b, l, nc)
		vs[i].onWrite = onWrite
		vs[i].start(b)
	}
	for l.Len() < n {
		runtime.Gosched()
	}
	// want is set before the frames are pushed, so the write that reaches
	// it always finds it.
	wait := func() {
		for written.Load() < want.Load() {
			<-reached
		}
	}
	frame := make([]byte, 1500)
	want.Store(int64(n * b.N))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if paced {
			want.Store(int64(n * (i + 1)))
		}
		for _, v := range vs {
			v.push(frame)
		}
		if paced {
			wait()
		}
	}
	want.Store(int64(n * b.N))
	wait()
	b.StopTimer()
	writes := 0
	for _, v := range vs {
		writes += int(v.writes.Load())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame-viewer")
	b.ReportMetric(float64(writes)/float64(b.N*n), "writes/frame")
}

// TestTry: a non-blocking write to a socket nobody reads returns the rest
// once the socket is full; the rest written afterwards completes the stream.
func TestTry(t *testing.T) {
	if !Supported {
		t.Skip("no non-blocking writev on this platform")
	}
	client, server := tcpPair(t)
	raw, err := server.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}

	var sent bytes.Buffer
	var rest [][]byte
	for i := 0; len(rest) == 0; i++ {
		if i > 10000 {
			t.Fatal("the socket never filled up")
		}
		b := bytes.Repeat([]byte{byte(i)}, 64<<10)
		sent.Write(b)
		rest, err = Try(raw, [][]byte{b[:100], b[100:]})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The socket is full: a blocking write fails at its deadline.
	_ = server.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	if err := Write(raw, [][]byte{{1}}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a full socket past its deadline: %v", err)
	}
	_ = server.SetWriteDeadline(time.Time{})
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	if err := Write(raw, rest); err != nil {
		t.Fatal(err)
	}
	// More buffers than writev takes: the rest comes back.
	bufs := make([][]byte, 0, MaxIovecs+1)
	for j := range MaxIovecs + 1 {
		bufs = append(bufs, []byte{byte(j), byte(j >> 8)})
		sent.Write(bufs[j])
	}
	if rest, err = Try(raw, bufs); err != nil || len(rest) == 0 {
		t.Fatalf("Try with %d buffers: rest %d, %v", len(bufs), len(rest), err)
	}
	if err := Write(raw, rest); err != nil {
		t.Fatal(err)
	}
	server.Close()
	if b := <-got; !bytes.Equal(b, sent.Bytes()) {
		t.Fatalf("received %d bytes, sent %d (or different)", len(b), sent.Len())
	}
}

func TestRecycle(t *testing.T) {
	small := make([]*int, 3, 8)
	x := 1
	small[2] = &x
	got := Recycle(small[:1], 8)
	if len(got) != 0 || cap(got) != 8 || got[:3][2] != nil {
		t.Fatalf("small slice not emptied and kept: len %d cap %d", len(got), cap(got))
	}
	if got := Recycle(make([]*int, 0, 9), 8); got != nil {
		t.Fatalf("large slice kept (cap %d)", cap(got))
	}
}

func TestDrainTime(t *testing.T) {
	for _, c := range []struct{ minPass, want time.Duration }{
		{0, 200 * time.Millisecond},
		{-1, 200 * time.Millisecond},
		{100 * time.Millisecond, 200 * time.Millisecond},
		{300 * time.Millisecond, 600 * time.Millisecond},
		{time.Second, time.Second},
	} {
		if got := DrainTime(c.minPass); got != c.want {
			t.Errorf("DrainTime(%v) = %v, want %v", c.minPass, got, c.want)
		}
	}
}
