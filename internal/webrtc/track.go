package webrtc

import (
	"errors"
	"strings"
	"sync"

	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
)

// localTrack is a TrackLocal for one WHEP session: it remembers what the
// PeerConnection negotiated (SSRC, payload type, CVO extension id) and
// writes RTP payloads with its own sequence numbers. Only the session's
// writer goroutine calls write.
type localTrack struct {
	id, streamID string
	kind         pion.RTPCodecType
	codec        pion.RTPCodecCapability

	mu    sync.Mutex
	bound *binding

	seq uint16
}

type binding struct {
	ssrc   uint32
	pt     uint8
	cvoID  uint8 // 0 when not negotiated
	writer pion.TrackLocalWriter
}

var errCodecNotNegotiated = errors.New("webrtc: codec not negotiated")

func newLocalTrack(kind pion.RTPCodecType, codec pion.RTPCodecCapability, id, streamID string, seq uint16) *localTrack {
	return &localTrack{id: id, streamID: streamID, kind: kind, codec: codec, seq: seq}
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
//
// Every packet gets its own header: the NACK responder keeps a reference to
// it (and to the payload, which callers never modify) for retransmission.
func (t *localTrack) writeFrame(b *binding, payloads [][]byte, ts uint32, rotation int) error {
	for i, p := range payloads {
		h := &rtp.Header{
			Version:        2,
			PayloadType:    b.pt,
			SequenceNumber: t.seq,
			Timestamp:      ts,
			SSRC:           b.ssrc,
			Marker:         i == len(payloads)-1,
		}
		if h.Marker && rotation >= 0 && b.cvoID != 0 {
			_ = h.SetExtension(b.cvoID, []byte{cvoByte(rotation)})
		}
		t.seq++
		if _, err := b.writer.WriteRTP(h, p); err != nil {
			return err
		}
	}
	return nil
}

// cvoByte encodes a clockwise rotation in degrees as the CVO payload (R1R0).
func cvoByte(degrees int) byte {
	return byte(((degrees%360+360)%360)/90) & 3
}

// cvoDegrees decodes a CVO payload byte.
func cvoDegrees(b byte) int { return int(b&3) * 90 }
