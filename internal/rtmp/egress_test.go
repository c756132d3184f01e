package rtmp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/minirtc/minirtc/internal/egress"
	"github.com/minirtc/minirtc/internal/media"
)

// batchMeter counts write batches (BytesOut is called once per batch).
type batchMeter struct {
	noMeter
	batches atomic.Int64
}

func (m *batchMeter) BytesOut(int) { m.batches.Add(1) }

// TestViewerWrittenInNextPass: once a viewer is lent to the egress loop, a
// packet the publisher writes makes the loop run a pass at once (the
// reader's OnQueue hook), and that very pass writes the packet in one batch:
// no tick to wait for. The loop is shared through SetEgress, as the node
// shares one between RTMP and HTTP-FLV.
func TestViewerWrittenInNextPass(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	srv, err := NewServer(Config{}, hub, allowAll{}, log)
	if err != nil {
		t.Fatal(err)
	}
	meter := &batchMeter{}
	srv.SetMeter(meter)
	passes := make(chan int, 256)
	loop := egress.New(egress.Options{OnPass: func(n int) { passes <- n }})
	srv.SetEgress(loop)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); loop.Run(ctx) }()
	go func() { defer wg.Done(); _ = srv.Serve(ctx, ln) }()
	defer func() { hub.Close(); cancel(); wg.Wait() }()

	pub, err := hub.Publish(media.Key{AppID: "bench", Channel: "room", UID: "1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.SetTracks(benchVideo, nil)
	payload := []byte{0, 0, 0, 2, 0x65, 0x88}
	write := func(i int) {
		t.Helper()
		d := time.Duration(i) * 40 * time.Millisecond
		if err := pub.Write(&media.Packet{Track: benchVideo, DTS: d, PTS: d, Keyframe: i == 0, Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	write(0)

	u, _ := url.Parse("rtmp://" + ln.Addr().String() + "/live/bench")
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	viewer := playViewer(rctx, t, hub, u)
	_ = viewer.NetConn().SetReadDeadline(time.Now().Add(25 * time.Second))
	readAU := func() time.Duration {
		t.Helper()
		for {
			msg, err := viewer.Read()
			if err != nil {
				t.Fatalf("viewer: %v", err)
			}
			if v, ok := msg.(*message.Video); ok && v.Type == message.VideoTypeAU {
				return v.DTS
			}
		}
	}
	readAU() // the GOP cache, written by the viewer's goroutine
	for loop.Len() != 1 {
		time.Sleep(time.Millisecond) // until the viewer is lent
	}
	timeout := time.NewTimer(20 * time.Second) // a guard against hanging, not a measure
	defer timeout.Stop()
	for i := 1; i <= 5; i++ {
		for len(passes) > 0 {
			<-passes
		}
		before := meter.batches.Load()
		write(i)
		// The pass the packet starts writes it. One more pass may come
		// first: the one the viewer's Lend started (nothing to write).
		n := 0
		for meter.batches.Load() == before {
			select {
			case <-passes:
				n++
			case <-timeout.C:
				t.Fatalf("packet %d: not written by the egress loop", i)
			}
		}
		if got := meter.batches.Load() - before; got != 1 || n > 2 {
			t.Fatalf("packet %d: %d batches after %d passes, want 1 batch in the first pass after the packet", i, got, n)
		}
		if dts, want := readAU(), time.Duration(i)*40*time.Millisecond; dts != want {
			t.Fatalf("packet %d: viewer got DTS %v, want %v", i, dts, want)
		}
	}
}
