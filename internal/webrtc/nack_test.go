package webrtc

import (
	"bytes"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/token"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
)

// A WHEP session resends NACKed video packets unchanged: same sequence
// number, timestamp, marker, CVO extension and payload.
func TestWHEPAnswersNACK(t *testing.T) {
	e := newEnv(t)
	liveTestStream(t, e, 270)

	// A client that sends only the NACK below and accepts the copies.
	pc := rawVideoClient(t)
	defer pc.Close()
	var mu sync.Mutex
	pkts := map[uint16][]*rtp.Packet{} // every copy received, by sequence number
	var ssrc uint32
	var cvo uint8
	var readers sync.WaitGroup
	defer readers.Wait()
	defer pc.Close()
	pc.OnTrack(func(tr *pion.TrackRemote, rcv *pion.RTPReceiver) {
		readers.Add(1)
		defer readers.Done()
		for _, x := range rcv.GetParameters().HeaderExtensions {
			if x.URI == cvoURI {
				mu.Lock()
				cvo = uint8(x.ID)
				mu.Unlock()
			}
		}
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			mu.Lock()
			ssrc = p.SSRC
			pkts[p.SequenceNumber] = append(pkts[p.SequenceNumber], p)
			mu.Unlock()
		}
	})
	status, body, loc := e.post("whep", "room", "42", e.token("room", "1001", token.RoleSubscriber), offer(t, pc))
	if status != http.StatusCreated || loc == "" {
		t.Fatalf("WHEP: %d %s", status, body)
	}
	setAnswer(t, pc, body)

	// Wait for a frame's last packet (marker, CVO) and another packet.
	var marked, plain uint16
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no video packets")
		}
		mu.Lock()
		var haveM, haveP bool
		for seq, g := range pkts {
			if g[0].Marker && cvo != 0 && len(g[0].GetExtension(cvo)) == 1 {
				marked, haveM = seq, true
			} else if !g[0].Marker {
				plain, haveP = seq, true
			}
		}
		mu.Unlock()
		if haveM && haveP {
			break
		}
	}
	mu.Lock()
	mediaSSRC := ssrc
	mu.Unlock()
	nack := &rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: mediaSSRC, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{marked, plain})}
	if err := pc.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		done := len(pkts[marked]) > 1 && len(pkts[plain]) > 1
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the NACKed packets were not resent")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, seq := range []uint16{marked, plain} {
		orig, again := pkts[seq][0], pkts[seq][1]
		if again.Timestamp != orig.Timestamp || again.Marker != orig.Marker || again.PayloadType != orig.PayloadType ||
			!bytes.Equal(again.Payload, orig.Payload) || !bytes.Equal(again.GetExtension(cvo), orig.GetExtension(cvo)) {
			t.Errorf("packet %d resent as %v, was %v", seq, again, orig)
		}
	}
	if x := pkts[marked][1].GetExtension(cvo); len(x) != 1 || cvoDegrees(x[0]) != 270 {
		t.Errorf("resent frame end has CVO %v, want 270 degrees", x)
	}
}
