package media

import (
	"errors"
	"sync/atomic"
	"testing"
)

// TestReaderOnQueue: the hook the egress loop (RTMP, FLV) and the WHEP
// writers wait on fires once when the queue goes from empty to non-empty
// (not for every packet queued behind) and again after the queue was
// drained; the end of the reader is OnClose's.
func TestReaderOnQueue(t *testing.T) {
	h := newTestHub(t, Config{}, nil)
	pub, err := h.Publish(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.SetTracks(testVideo, nil)
	var calls, closes atomic.Int32
	rd, err := h.Subscribe(key, SubscribeOptions{OnQueue: func() { calls.Add(1) }, OnClose: func(error) { closes.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	write := func(p *Packet) {
		t.Helper()
		if err := pub.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		step  func()
		calls int32
	}{
		{"first packet", func() { write(vpkt(0, true)) }, 1},
		{"queued behind it", func() { write(vpkt(40, false)); write(vpkt(80, false)) }, 1},
		{"drained", func() {
			if got, _ := rd.TryNext(nil); len(got) != 3 {
				t.Fatalf("drained %d packets, want 3", len(got))
			}
		}, 1},
		{"next packet", func() { write(vpkt(120, false)) }, 2},
		{"ended", func() { rd.End(errTestEnd) }, 2},
	} {
		c.step()
		if got := calls.Load(); got != c.calls {
			t.Fatalf("after %s: %d calls, want %d", c.name, got, c.calls)
		}
	}
	if n := closes.Load(); n != 1 {
		t.Fatalf("OnClose called %d times, want 1", n)
	}
	if got, err := rd.TryNext(nil); len(got) != 1 || err != nil {
		t.Fatalf("after the end: %d packets, %v; want the queued one first", len(got), err)
	}
	if _, err := rd.TryNext(nil); !errors.Is(err, errTestEnd) {
		t.Fatalf("then %v, want the end reason", err)
	}
}

var errTestEnd = errors.New("test: ended")
