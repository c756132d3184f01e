package webrtc

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/token"
	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"
)

// seqCopies is what a NACK-flooding client received: the copies and
// payload size of every sequence number, and the last sequence number.
type seqCopies struct {
	mu     sync.Mutex
	copies map[uint16]int
	size   map[uint16]int
	last   uint16
	n      int // packets received
	ssrc   uint32
}

// totals returns the payload bytes of first copies and of further copies.
func (c *seqCopies) totals() (orig, again, againPkts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for seq, n := range c.copies {
		orig += c.size[seq]
		again += (n - 1) * c.size[seq]
		againPkts += n - 1
	}
	return orig, again, againPkts
}

// A WHEP client flooding NACKs for the whole history gets resends bounded
// by the resend budget (resend.go), and another reader of the stream keeps
// receiving frames meanwhile.
func TestWHEPNACKFloodBounded(t *testing.T) {
	e := newEnv(t)
	liveTestStream(t, e, 0)

	bystander, frames := newWHEPClient(t)
	status, body, _ := e.post("whep", "room", "42", e.token("room", "1001", token.RoleSubscriber), offer(t, bystander))
	if status != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", status, body)
	}
	setAnswer(t, bystander, body)
	frames.waitAbove(t, -1, 5, "bystander before the flood")

	// The flooder: no interceptors, accepts packets it already got.
	pc := rawVideoClient(t)
	got := &seqCopies{copies: map[uint16]int{}, size: map[uint16]int{}}
	readTracks(t, pc, func(tr *pion.TrackRemote) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			got.mu.Lock()
			if got.copies[p.SequenceNumber] == 0 {
				got.last = p.SequenceNumber
				got.size[p.SequenceNumber] = len(p.Payload)
			}
			got.copies[p.SequenceNumber]++
			got.n++
			got.ssrc = p.SSRC
			got.mu.Unlock()
		}
	})
	status, body, _ = e.post("whep", "room", "42", e.token("room", "1002", token.RoleSubscriber), offer(t, pc))
	if status != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", status, body)
	}
	setAnswer(t, pc, body)
	waitPackets := func(n int, what string) {
		t.Helper()
		for deadline := time.Now().Add(waitLong); ; time.Sleep(10 * time.Millisecond) {
			got.mu.Lock()
			have := got.n
			got.mu.Unlock()
			if have >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d packets, want %d", what, have, n)
			}
		}
	}
	waitPackets(20, "flooder before the flood")

	// Flood: NACKs for the last nackHistory sequence numbers, at least 200
	// of them and until the bystander got 25 more frames (it keeps
	// receiving meanwhile; no timing is asserted).
	const minNACKs = 200
	from := frames.last()
	bystanderFrames := func() int {
		frames.mu.Lock()
		defer frames.mu.Unlock()
		n := 0
		for _, f := range frames.frames {
			if f > from {
				n++
			}
		}
		return n
	}
	seqs := make([]uint16, nackHistory)
	sent := 0
	for deadline := time.Now().Add(waitLong); sent < minNACKs || bystanderFrames() < 25; sent++ {
		if time.Now().After(deadline) {
			t.Fatalf("bystander during the flood: %d frames after frame %d, want 25", bystanderFrames(), from)
		}
		got.mu.Lock()
		last, ssrc := got.last, got.ssrc
		got.mu.Unlock()
		for i := range seqs {
			seqs[i] = last - uint16(nackHistory-1-i)
		}
		nack := &rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}
		if err := pc.WriteRTCP([]rtcp.Packet{nack}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Let resends written for the last NACKs arrive: 20 packets more.
	got.mu.Lock()
	have := got.n
	got.mu.Unlock()
	waitPackets(have+20, "flooder after the flood")

	// The client's count first, then the server's: every resend the client
	// got was written before the server's media count is read, and media
	// sent only grows, so the budget's bound holds exactly.
	orig, again, againPkts := got.totals()
	var flooder *localTrack
	e.srv.mu.Lock()
	for _, ss := range e.srv.sessions {
		if w, ok := ss.(*whepSession); ok && w.video != nil && w.video.refused.Load() > 0 {
			flooder = w.video
		}
	}
	e.srv.mu.Unlock()
	if flooder == nil {
		t.Fatal("no WHEP session refused a resend")
	}
	flooder.histMu.Lock()
	media := flooder.budget.sent
	flooder.histMu.Unlock()
	limit := resendBurst + int(media)/resendShare
	t.Logf("%d NACKs of %d packets: %d packets (%d bytes) resent for %d bytes of media (%d received), limit %d bytes; %d refused",
		sent, nackHistory, againPkts, again, media, orig, limit, e.srv.Stats().ResendsRefused)
	if againPkts == 0 {
		t.Error("nothing was resent")
	}
	if again > limit {
		t.Errorf("%d bytes resent for %d bytes of media, want at most %d", again, media, limit)
	}
	if r := e.srv.Stats().ResendsRefused; r < flooder.refused.Load() {
		t.Errorf("server counts %d refused resends, the flooder's track %d", r, flooder.refused.Load())
	}
}
