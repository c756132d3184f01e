package webrtc

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
)

// seqWriter records the sequence numbers written to it.
type seqWriter struct {
	mu   sync.Mutex
	seqs []uint16
}

func (w *seqWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.mu.Lock()
	w.seqs = append(w.seqs, h.SequenceNumber)
	w.mu.Unlock()
	return len(payload), nil
}

func (w *seqWriter) Write(b []byte) (int, error) { return len(b), nil }

func (w *seqWriter) take() []uint16 {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.seqs
	w.seqs = nil
	return s
}

// The resend limits, step by step on a track with a fake clock: each step
// advances the clock, sends frames (one packet each), then NACKs seqs.
func TestResendLimits(t *testing.T) {
	const pkt = 1000 // payload bytes of every packet
	burstPkts := resendBurst / pkt
	seqRange := func(from, n int) []uint16 {
		s := make([]uint16, n)
		for i := range s {
			s[i] = uint16(from + i)
		}
		return s
	}
	type step struct {
		advance time.Duration
		send    int      // packets sent before the NACK
		nack    []uint16 // offsets from the first sequence number
		resent  int      // packets resent by this step's NACK
		refused uint64   // refused by this step's NACK
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"genuine NACK answered", []step{
			{send: 50, nack: []uint16{10, 11, 40}, resent: 3},
		}},
		{"not sent or too old is neither resent nor refused", []step{
			{send: 10, nack: []uint16{10, 11}},
			{send: nackHistory, nack: []uint16{0, 5}},
		}},
		{"repeat within the interval refused, after it resent", []step{
			{send: 20, nack: []uint16{3, 4}, resent: 2},
			{advance: resendInterval / 2, nack: []uint16{3, 4, 5}, resent: 1, refused: 2},
			{advance: resendInterval / 2, nack: []uint16{3, 4, 5}, resent: 2, refused: 1},
		}},
		{"flood bounded by the burst, then by half of what is sent", []step{
			{send: nackHistory, nack: seqRange(0, nackHistory), resent: burstPkts, refused: uint64(nackHistory - burstPkts)},
			// The clock alone earns nothing.
			{advance: time.Second, nack: seqRange(0, nackHistory), refused: nackHistory},
			// 40 packets sent earn 20 packets' worth.
			{advance: time.Second, send: 40, nack: seqRange(40, nackHistory), resent: 20, refused: nackHistory - 20},
		}},
		{"credit capped at the burst", []step{
			{send: 10 * nackHistory, nack: seqRange(9*nackHistory, nackHistory), resent: burstPkts, refused: uint64(nackHistory - burstPkts)},
		}},
		{"small losses repaired for long", []step{
			{send: 100, nack: []uint16{90, 95}, resent: 2},
			{advance: time.Second, send: 100, nack: []uint16{190, 195}, resent: 2},
			{advance: time.Second, send: 100, nack: []uint16{290, 295}, resent: 2},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := time.Unix(1000, 0)
			tr := newLocalTrack(pion.RTPCodecTypeVideo, pion.RTPCodecCapability{MimeType: pion.MimeTypeH264}, "v", "s", 65000)
			tr.now = func() time.Time { return clock }
			tr.epoch = clock.Add(-time.Hour)
			w := &seqWriter{}
			b := &binding{ssrc: 7, pt: 96, writer: w}
			payload := make([]byte, pkt)
			var refused uint64
			for i, st := range tc.steps {
				clock = clock.Add(st.advance)
				for range st.send {
					if err := tr.writeFrame(b, [][]byte{payload}, 0, -1); err != nil {
						t.Fatal(err)
					}
				}
				w.take()
				seqs := make([]uint16, len(st.nack))
				for j, o := range st.nack {
					seqs[j] = 65000 + o
				}
				tr.resend(b, &rtcp.TransportLayerNack{MediaSSRC: 7, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)})
				if got := len(w.take()); got != st.resent {
					t.Errorf("step %d: %d packets resent, want %d", i, got, st.resent)
				}
				refused += st.refused
				if got := tr.refused.Load(); got != refused {
					t.Errorf("step %d: %d refused in all, want %d", i, got, refused)
				}
			}
		})
	}
}

// A NACK for another SSRC or an audio track resends nothing.
func TestResendIgnoresOthers(t *testing.T) {
	w := &seqWriter{}
	b := &binding{ssrc: 7, pt: 96, writer: w}
	for _, kind := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		tr := newLocalTrack(kind, pion.RTPCodecCapability{MimeType: pion.MimeTypeH264}, "v", "s", 0)
		if err := tr.writeFrame(b, [][]byte{{1, 2, 3}}, 0, -1); err != nil {
			t.Fatal(err)
		}
		w.take()
		ssrc := uint32(8)
		if kind == pion.RTPCodecTypeAudio {
			ssrc = 7
		}
		tr.resend(b, &rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{0})})
		if got := w.take(); len(got) != 0 {
			t.Errorf("%s: resent %v", kind, got)
		}
	}
}
