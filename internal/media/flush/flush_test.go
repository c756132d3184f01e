package flush

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
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

// countViewer stays with the flusher for stay sweeps, then asks to go back.
type countViewer struct {
	stay  int
	calls atomic.Int32
}

func (v *countViewer) Flush(time.Time) bool { return int(v.calls.Add(1)) <= v.stay }

func TestLend(t *testing.T) {
	f := New(time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	// Handed back after its third sweep, then lent again.
	v := &countViewer{stay: 2}
	back := make(chan struct{}, 1)
	if err := f.Lend(context.Background(), v, back); err != nil {
		t.Fatal(err)
	}
	if got := v.calls.Load(); got != 3 {
		t.Fatalf("%d sweeps before the handback, want 3", got)
	}
	v.stay = 5
	if err := f.Lend(context.Background(), v, back); err != nil || v.calls.Load() != 6 {
		t.Fatalf("second lend: %v after %d sweeps", err, v.calls.Load())
	}

	// A viewer that stays is taken back when its context ends.
	stays := &countViewer{stay: 1 << 30}
	lctx, lcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Lend(lctx, stays, make(chan struct{}, 1)) }()
	for stays.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	lcancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("lend after cancel: %v", err)
	}
	if n := f.Len(); n != 0 {
		t.Fatalf("%d viewers still lent", n)
	}
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
