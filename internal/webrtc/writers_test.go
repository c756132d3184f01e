package webrtc

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
)

// gateWriter is a fakeWriter whose writes wait while its gate is closed.
type gateWriter struct {
	fakeWriter
	mu   sync.Mutex
	open *sync.Cond
	shut bool
}

func newGateWriter() *gateWriter {
	g := &gateWriter{fakeWriter: fakeWriter{log: true}}
	g.open = sync.NewCond(&g.mu)
	return g
}

func (g *gateWriter) set(shut bool) {
	g.mu.Lock()
	g.shut = shut
	g.mu.Unlock()
	g.open.Broadcast()
}

func (g *gateWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	g.mu.Lock()
	for g.shut {
		g.open.Wait()
	}
	g.mu.Unlock()
	return g.fakeWriter.WriteRTP(h, payload)
}

// frameTimestamps returns the RTP timestamps of the frames w has sent.
func frameTimestamps(w *fakeWriter) []uint32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	ts := make([]uint32, len(w.logs))
	for i, m := range w.logs {
		ts[i] = m.ts
	}
	return ts
}

// waitFrames waits until w has sent n frames.
func waitFrames(t *testing.T, w *fakeWriter, n int) []uint32 {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		ts := frameTimestamps(w)
		if len(ts) >= n {
			return ts
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d frames sent", len(ts), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWHEPWritersDeliverEveryFrameInOrder(t *testing.T) {
	tests := []struct {
		name     string
		sessions int
		frames   int
	}{
		{"one session", 1, 30},
		{"more sessions than writers", 37, 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, hub, stop := benchServer(t)
			defer stop()
			key := media.Key{AppID: "a", Channel: "c", UID: "1"}
			pub, vt, _ := h264Publisher(t, hub, key, false)
			defer pub.Close(nil)
			if err := pub.Write(&media.Packet{Track: vt, Keyframe: true, Payload: testAU(0)}); err != nil {
				t.Fatal(err)
			}
			var vws []*fakeWriter
			for range tc.sessions {
				vw := &fakeWriter{log: true}
				vws = append(vws, vw)
				s := benchSession(t, srv, key, vw, &fakeWriter{})
				defer s.close(nil)
			}
			for i := 1; i < tc.frames; i++ {
				pts := time.Duration(i) * 40 * time.Millisecond
				if err := pub.Write(&media.Packet{Track: vt, DTS: pts, PTS: pts, Keyframe: i%10 == 0, Payload: testAU(i)}); err != nil {
					t.Fatal(err)
				}
			}
			for i, vw := range vws {
				ts := waitFrames(t, vw, tc.frames)
				if len(ts) != tc.frames {
					t.Fatalf("session %d: %d frames, want %d", i, len(ts), tc.frames)
				}
				for j := 1; j < len(ts); j++ {
					if d := ts[j] - ts[j-1]; d != 3600 {
						t.Fatalf("session %d: frame %d is %d ticks after the previous, want 3600 (order or loss)", i, j, d)
					}
				}
			}
		})
	}
}

// A session whose writes stall drops frames once its queue is full and
// resumes at a keyframe; the frames it sends are in order.
func TestWHEPWriterFullQueueSkipsToKeyframe(t *testing.T) {
	const queueSize = 4 // the session's hub reader queue
	srv, hub, stop := benchServerQueue(t, queueSize)
	defer stop()
	key := media.Key{AppID: "a", Channel: "c", UID: "1"}
	pub, vt, _ := h264Publisher(t, hub, key, false)
	defer pub.Close(nil)
	write := func(i int, key bool) {
		pts := time.Duration(i) * 40 * time.Millisecond
		if err := pub.Write(&media.Packet{Track: vt, DTS: pts, PTS: pts, Keyframe: key, Payload: testAU(i)}); err != nil {
			t.Fatal(err)
		}
	}
	write(0, true)
	vw := newGateWriter()
	sess := benchSession(t, srv, key, vw, &fakeWriter{})
	defer sess.close(nil)
	waitFrames(t, &vw.fakeWriter, 1)
	vw.set(true)
	for i := 1; i <= 9; i++ { // testAU makes every tenth frame an IDR
		write(i, false)
	}
	// The hub has queued what fits (one frame may be in the stalled write).
	for deadline := time.Now().Add(10 * time.Second); ; {
		if sess.rd.Load().Drops() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a full queue dropped nothing")
		}
		time.Sleep(time.Millisecond)
	}
	vw.set(false)
	// Once the writer took the queue, there is room again.
	eventually(t, "the writer never took the queue", func() bool {
		ss := hub.Streams()
		return len(ss) == 1 && len(ss[0].Readers) == 1 && ss[0].Readers[0].Queued == 0
	})
	write(11, false) // still waiting for a keyframe: dropped
	write(20, true)
	write(21, false)
	var ts []uint32
	eventually(t, "frame 21 never sent", func() bool {
		ts = frameTimestamps(&vw.fakeWriter)
		return len(ts) > 0 && ts[len(ts)-1]-ts[0] == 21*3600
	})
	// Sent: 0, then 1..k (what the stalled write's batch and the queue
	// held: the loop may have taken several frames out of the queue before
	// the write stalled, so k is not bounded by the queue), then 20, 21.
	// The queue did overflow, so at least frame 9 is missing: k < 9.
	k := len(ts) - 3
	if k < 1 || k >= 9 {
		t.Fatalf("%d frames sent before the gap, queue of %d (timestamps %v)", k, queueSize, ts)
	}
	for j := 0; j < len(ts); j++ {
		want := uint32(j)
		if j > k {
			want = uint32(20 + j - k - 1)
		}
		if ts[j]-ts[0] != want*3600 {
			t.Fatalf("frame %d of the session is frame %d of the stream, want %d", j, (ts[j]-ts[0])/3600, want)
		}
	}
}

// Only io.ErrClosedPipe on a connection that is not closed or failed is
// the ICE restart's transient write error.
func TestRestartWriteError(t *testing.T) {
	open, err := clientAPI(t, false).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	closed, err := clientAPI(t, false).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	_ = closed.Close()
	cases := []struct {
		name string
		err  error
		pc   *pion.PeerConnection
		want bool
	}{
		{"closed socket, live connection", fmt.Errorf("srtp: %w", io.ErrClosedPipe), open, true},
		{"closed connection", io.ErrClosedPipe, closed, false},
		{"other error", errors.New("boom"), open, false},
		{"no connection", io.ErrClosedPipe, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := restartWriteError(c.err, c.pc); got != c.want {
				t.Fatalf("got %v", got)
			}
		})
	}
}

// WHEP sessions are written by the server's egress group (the write loop
// of the RTMP and FLV viewers): each attached session is joined to one of
// its loops, round robin, and leaves the group when it ends.
func TestWHEPSessionsRunOnEgress(t *testing.T) {
	srv, hub, stop := benchServer(t)
	defer stop()
	key := media.Key{AppID: "a", Channel: "c", UID: "1"}
	pub, vt, _ := h264Publisher(t, hub, key, false)
	defer pub.Close(nil)
	if err := pub.Write(&media.Packet{Track: vt, Keyframe: true, Payload: testAU(0)}); err != nil {
		t.Fatal(err)
	}
	const sessions = 5
	var ss []*whepSession
	var vws []*fakeWriter
	for range sessions {
		vw := &fakeWriter{log: true}
		ss = append(ss, benchSession(t, srv, key, vw, &fakeWriter{}))
		vws = append(vws, vw)
	}
	srv.mu.Lock()
	eg := srv.egress
	srv.mu.Unlock()
	if eg == nil {
		t.Fatal("no egress group after attaching sessions")
	}
	if n := eg.Len(); n != sessions {
		t.Fatalf("%d sessions in the egress group, want %d", n, sessions)
	}
	for _, vw := range vws {
		waitFrames(t, vw, 1) // the GOP cache's keyframe, written by the group
	}
	for _, s := range ss[:2] {
		s.close(nil)
	}
	eventually(t, "closed sessions stayed in the egress group", func() bool { return eg.Len() == sessions-2 })
	if err := pub.Write(&media.Packet{Track: vt, DTS: 40 * time.Millisecond, PTS: 40 * time.Millisecond, Payload: testAU(1)}); err != nil {
		t.Fatal(err)
	}
	for _, vw := range vws[2:] {
		waitFrames(t, vw, 2)
	}
	for _, s := range ss[2:] {
		s.close(nil)
	}
	eventually(t, "closed sessions stayed in the egress group", func() bool { return eg.Len() == 0 })
}
