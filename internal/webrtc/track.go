package webrtc

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
)

// localTrack is a TrackLocal for one WHEP session: it remembers what the
// PeerConnection negotiated (SSRC, payload type, CVO extension id) and
// writes RTP payloads with its own sequence numbers. Only the session's
// egress loop calls write.
type localTrack struct {
	id, streamID string
	kind         pion.RTPCodecType
	codec        pion.RTPCodecCapability

	mu    sync.Mutex
	bound *binding

	seq uint16
	// hdr is the header of every packet written (the egress loop only):
	// nothing keeps it past WriteRTP, so no packet allocates one.
	hdr rtp.Header
	cvo [1]byte // hdr's CVO extension payload

	// hist keeps the last nackHistory packets sent (video; nil for audio)
	// for retransmission on a NACK. histMu: the writer adds, the RTCP
	// reader resends.
	histMu sync.Mutex
	hist   []sentPacket
	budget resendBudget // histMu

	// now is the clock of the per-packet resend interval (resend.go),
	// read as the time since epoch; refused counts the packets a NACK
	// asked for that the limits refused, serverRefused (if set) sums them
	// over a server's tracks. Set before the track is bound.
	now           func() time.Time
	epoch         time.Time
	refused       atomic.Uint64
	serverRefused *atomic.Uint64
}

// sentPacket is what a track's NACK history keeps of a packet: the payload
// (shared, never modified) and what rebuilds its header.
type sentPacket struct {
	payload []byte
	ts      uint32
	seq     uint16
	marker  bool
	cvo     int16 // the CVO byte, or -1
	// resentAt is when the packet was last resent, in nanoseconds since
	// the track's epoch (0: never).
	resentAt int64
}

type binding struct {
	ssrc   uint32
	pt     uint8
	cvoID  uint8 // 0 when not negotiated
	writer pion.TrackLocalWriter
}

var errCodecNotNegotiated = errors.New("webrtc: codec not negotiated")

func newLocalTrack(kind pion.RTPCodecType, codec pion.RTPCodecCapability, id, streamID string, seq uint16) *localTrack {
	t := &localTrack{id: id, streamID: streamID, kind: kind, codec: codec, seq: seq, now: time.Now}
	if kind == pion.RTPCodecTypeVideo {
		t.hist = make([]sentPacket, nackHistory)
		t.budget = newResendBudget()
	}
	t.epoch = t.now()
	return t
}

// Bind implements pion.TrackLocal.
func (t *localTrack) Bind(ctx pion.TrackLocalContext) (pion.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, t.codec.MimeType) {
			continue
		}
		if t.kind == pion.RTPCodecTypeVideo && !h264FmtpOK(c.SDPFmtpLine) {
			continue
		}
		b := &binding{ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), writer: ctx.WriteStream()}
		for _, e := range ctx.HeaderExtensions() {
			if e.URI == cvoURI && e.ID > 0 && e.ID < 15 {
				b.cvoID = uint8(e.ID)
			}
		}
		t.mu.Lock()
		t.bound = b
		t.mu.Unlock()
		return c, nil
	}
	return pion.RTPCodecParameters{}, errCodecNotNegotiated
}

// Unbind implements pion.TrackLocal.
func (t *localTrack) Unbind(pion.TrackLocalContext) error {
	t.mu.Lock()
	t.bound = nil
	t.mu.Unlock()
	return nil
}

func (t *localTrack) ID() string              { return t.id }
func (t *localTrack) RID() string             { return "" }
func (t *localTrack) StreamID() string        { return t.streamID }
func (t *localTrack) Kind() pion.RTPCodecType { return t.kind }

func (t *localTrack) binding() *binding {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bound
}

// writeFrame sends one frame's payloads with RTP timestamp ts; the marker is
// set on the last one (the end of a video access unit; every Opus packet).
// rotation >= 0 adds the CVO extension to the last packet when negotiated.
// Video packets are kept in the NACK history.
func (t *localTrack) writeFrame(b *binding, payloads [][]byte, ts uint32, rotation int) error {
	if t.hist != nil {
		t.histMu.Lock()
		for i, p := range payloads {
			seq := t.seq + uint16(i)
			sp := sentPacket{payload: p, ts: ts, seq: seq, marker: i == len(payloads)-1, cvo: -1}
			if sp.marker && rotation >= 0 && b.cvoID != 0 {
				sp.cvo = int16(cvoByte(rotation))
			}
			t.hist[int(seq)%len(t.hist)] = sp
			t.budget.sent += uint64(len(p))
		}
		t.histMu.Unlock()
	}
	h := &t.hdr
	for i, p := range payloads {
		cvo := -1
		if i == len(payloads)-1 && rotation >= 0 && b.cvoID != 0 {
			cvo = int(cvoByte(rotation))
		}
		t.setHeader(b, t.seq, ts, i == len(payloads)-1, cvo)
		t.seq++
		if _, err := b.writer.WriteRTP(h, p); err != nil {
			return err
		}
	}
	return nil
}

// setHeader makes t.hdr the header of a packet; cvo >= 0 adds the CVO
// extension.
func (t *localTrack) setHeader(b *binding, seq uint16, ts uint32, marker bool, cvo int) {
	h := &t.hdr
	ext := h.Extensions[:0]
	*h = rtp.Header{Version: 2, PayloadType: b.pt, SequenceNumber: seq, Timestamp: ts, SSRC: b.ssrc, Marker: marker}
	h.Extensions = ext
	if cvo >= 0 {
		t.cvo[0] = byte(cvo) //nolint:gosec // G115: cvo is cvoByte's byte or -1 (checked)
		_ = h.SetExtension(b.cvoID, t.cvo[:])
	}
}

// resend writes the packets of a NACK that are still in the history, with
// their original headers, as far as the resend limits allow (resend.go).
// It runs on the session's RTCP reader, beside the writer, so it builds its
// own headers.
func (t *localTrack) resend(b *binding, nack *rtcp.TransportLayerNack) {
	if t.hist == nil || nack.MediaSSRC != b.ssrc {
		return
	}
	now := max(int64(t.now().Sub(t.epoch)), 1)
	var cvo [1]byte
	var refused uint64
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			t.histMu.Lock()
			slot := &t.hist[int(seq)%len(t.hist)]
			sp := *slot
			if sp.payload == nil || sp.seq != seq {
				t.histMu.Unlock()
				return true // not sent, or too old
			}
			ok := t.budget.allow(&slot.resentAt, now, len(sp.payload))
			t.histMu.Unlock()
			if !ok {
				refused++
				return true
			}
			h := rtp.Header{Version: 2, PayloadType: b.pt, SequenceNumber: seq, Timestamp: sp.ts, SSRC: b.ssrc, Marker: sp.marker}
			if sp.cvo >= 0 {
				cvo[0] = byte(sp.cvo) //nolint:gosec // G115: sp.cvo is cvoByte's byte or -1 (checked)
				_ = h.SetExtension(b.cvoID, cvo[:])
			}
			_, err := b.writer.WriteRTP(&h, sp.payload)
			return err == nil
		})
	}
	if refused > 0 {
		t.refused.Add(refused)
		if t.serverRefused != nil {
			t.serverRefused.Add(refused)
		}
	}
}

// cvoByte encodes a clockwise rotation in degrees as the CVO payload (R1R0).
func cvoByte(degrees int) byte {
	return byte(((degrees%360+360)%360)/90) & 3
}

// cvoDegrees decodes a CVO payload byte.
func cvoDegrees(b byte) int { return int(b&3) * 90 }
