package media

import (
	"sync/atomic"
	"time"
)

// Kind says whether a track carries video or audio.
type Kind uint8

// Track kinds.
const (
	KindVideo Kind = iota
	KindAudio
)

// String names the kind for logs.
func (k Kind) String() string {
	if k == KindVideo {
		return "video"
	}
	return "audio"
}

// Codec identifies the payload format of a track.
type Codec uint8

// Codecs the hub carries. H.264 and AAC are what mini programs decode; H.265
// and Opus (enhanced RTMP) pass through to readers that can take them.
const (
	CodecUnknown Codec = iota
	CodecH264
	CodecH265
	CodecAAC
	CodecOpus
)

// String names the codec for logs.
func (c Codec) String() string {
	switch c {
	case CodecH264:
		return "H264"
	case CodecH265:
		return "H265"
	case CodecAAC:
		return "AAC"
	case CodecOpus:
		return "Opus"
	default:
		return "unknown"
	}
}

// Kind is the kind of track the codec belongs to.
func (c Codec) Kind() Kind {
	switch c {
	case CodecAAC, CodecOpus:
		return KindAudio
	default:
		return KindVideo
	}
}

// Wire slots: the per-protocol caches of bytes built from a packet or track.
// The hub never reads them; the adapter named by the slot owns its format.
const (
	WireRTMP = iota // RTMP chunks for the play chunk size (internal/rtmp)
	WireFLV         // FLV tag (internal/flv)
	WireRTP         // RTP payloads for the WebRTC MTU (internal/webrtc)
	numWire
)

// wireCache holds the lazily built wire bytes of a packet or a track. Several
// readers may build the same slot at once; the first stored result wins and
// the bytes are identical anyway.
type wireCache [numWire]atomic.Pointer[[][]byte]

// get returns slot's bytes, building them with build on first use.
func (w *wireCache) get(slot int, build func() [][]byte) [][]byte {
	if b := w[slot].Load(); b != nil {
		return *b
	}
	b := build()
	if w[slot].CompareAndSwap(nil, &b) {
		return b
	}
	return *w[slot].Load()
}

// Track describes one elementary stream and its codec configuration. A Track
// is immutable once a packet that points to it was written; a configuration
// change (new SPS/PPS, another sample rate) makes a new *Track, so a reader
// sees the change as a different pointer and re-sends the sequence header.
type Track struct {
	Codec Codec

	// Video: H.264 SPS/PPS (VPS too for H.265) without start codes.
	VPS, SPS, PPS [][]byte
	// Config is the codec configuration record: the AudioSpecificConfig for
	// AAC, the Opus ID header, the HEVCDecoderConfigurationRecord for H.265.
	// For H.264 it may be empty: adapters build the AVC record from SPS/PPS.
	Config []byte

	Width, Height int     // pixels, from the SPS (0 = unknown)
	FrameRate     float64 // frames per second, from the SPS timing (0 = unknown)
	SampleRate    int     // Hz (audio)
	Channels      int     // audio channel count

	wire wireCache
}

// Kind is the track's kind.
func (t *Track) Kind() Kind { return t.Codec.Kind() }

// Wire returns the bytes cached in slot, building them with build on first use.
// build must be deterministic in the track's contents.
func (t *Track) Wire(slot int, build func() [][]byte) [][]byte { return t.wire.get(slot, build) }

// Packet is one access unit of one track.
//
// Payload forms: H.264 and H.265 as AVCC (4-byte length-prefixed NAL units),
// AAC as one raw access unit, Opus as one packet. Timestamps are in hub time
// once Publisher.Write returns: monotonic per track and continuous across
// publisher reconnects. After Write the packet is immutable and shared.
type Packet struct {
	Track    *Track // the configuration in force; never nil
	DTS      time.Duration
	PTS      time.Duration // >= DTS
	Keyframe bool          // an IDR / random access point (always true for audio)
	// derived: made by a derivation (the hub sets it; see Stream.takesLocked).
	// Here, beside Keyframe, it takes no room of its own.
	derived bool
	Payload []byte

	wire wireCache
}

// Kind is the packet's track kind.
func (p *Packet) Kind() Kind { return p.Track.Codec.Kind() }

// Size is the payload size in bytes.
func (p *Packet) Size() int { return len(p.Payload) }

// Wire returns the bytes cached in slot, building them with build on first use.
// build must be deterministic in the packet's contents.
func (p *Packet) Wire(slot int, build func() [][]byte) [][]byte { return p.wire.get(slot, build) }
