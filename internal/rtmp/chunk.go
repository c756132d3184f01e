package rtmp

import (
	"encoding/binary"

	"github.com/minirtc/minirtc/internal/flvtag"
	"github.com/minirtc/minirtc/internal/media"
)

// Play-side chunking (RTMP specification 1.0, section 5.3). Every message
// starts with a type-0 chunk (full header, absolute timestamp), so a
// message's chunks do not depend on what was sent before on the connection
// and can be shared by all viewers.
const (
	// playChunkSize is the outgoing chunk size; gortmplib's AcceptConn
	// announces it with Set Chunk Size before any media is sent.
	playChunkSize = 65536
	// Chunk stream ids for play messages (gortmplib uses 2 for control and
	// 5 for stream status; any id 3..63 fits a one-byte basic header).
	csidAudio = 4
	csidData  = 5
	csidVideo = 6
	// playStreamID is the message stream id createStream returned (gortmplib: 1).
	playStreamID = 1

	msgTypeAudio = 8
	msgTypeVideo = 9
	msgTypeData  = 18

	extendedTimestamp = 0xFFFFFF
)

// appendType0 appends a type-0 chunk header (basic header, 11-byte message
// header, extended timestamp when ts does not fit 24 bits).
func appendType0(b []byte, csid byte, ts uint32, length int, typ byte) []byte {
	t := ts
	if ts >= extendedTimestamp {
		t = extendedTimestamp
	}
	//nolint:gosec // G115: 24-bit fields packed a byte at a time: t <= 0xFFFFFF above, length <= maxMessageSize (appendMessage)
	b = append(b, csid,
		byte(t>>16), byte(t>>8), byte(t),
		byte(length>>16), byte(length>>8), byte(length),
		typ)
	b = binary.LittleEndian.AppendUint32(b, playStreamID)
	if ts >= extendedTimestamp {
		b = binary.BigEndian.AppendUint32(b, ts)
	}
	return b
}

// continuation returns the header of the type-3 chunks that follow the first
// chunk of a message: the basic header, and the extended timestamp again
// when the message has one.
func continuation(csid byte, ts uint32) []byte {
	b := []byte{3<<6 | csid}
	if ts >= extendedTimestamp {
		b = binary.BigEndian.AppendUint32(b, ts)
	}
	return b
}

// appendMessage appends the chunks of a message whose body is prefix+payload
// to dst as buffers that reference payload (prefix must fit a chunk). A body
// longer than a message header can say (maxMessageSize, 24 bits) is left
// out: its length would wrap and the viewer would lose the chunk stream.
func appendMessage(dst [][]byte, csid byte, ts uint32, typ byte, prefix, payload []byte) [][]byte {
	size := len(prefix) + len(payload)
	if size > maxMessageSize {
		return dst
	}
	first := make([]byte, 0, 16+len(prefix))
	first = appendType0(first, csid, ts, size, typ)
	first = append(first, prefix...)
	n := min(playChunkSize-len(prefix), len(payload))
	if n == len(payload) && len(payload) < 512 {
		// Small messages (most audio): one buffer instead of two.
		return append(dst, append(first, payload...))
	}
	dst = append(dst, first, payload[:n])
	payload = payload[n:]
	var cont []byte
	for len(payload) > 0 {
		if cont == nil {
			cont = continuation(csid, ts)
		}
		n = min(playChunkSize, len(payload))
		dst = append(dst, cont, payload[:n])
		payload = payload[n:]
	}
	return dst
}

func csidFor(k media.Kind) (csid, typ byte) {
	if k == media.KindVideo {
		return csidVideo, msgTypeVideo
	}
	return csidAudio, msgTypeAudio
}

// packetChunks returns p's RTMP chunks, built once and shared by all RTMP
// viewers (media.WireRTMP slot). Callers must copy the slice headers before
// handing them to net.Buffers, which consumes its slice.
func packetChunks(p *media.Packet) [][]byte {
	return p.Wire(media.WireRTMP, func() [][]byte {
		var pre [16]byte
		prefix := flvtag.AppendBodyPrefix(pre[:0], p)
		csid, typ := csidFor(p.Kind())
		return appendMessage(nil, csid, flvtag.Timestamp(p.DTS), typ, prefix, p.Payload)
	})
}
