package flvtag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/minirtc/minirtc/internal/media"
)

// FLV tag types (FLV 10.1, E.4.1).
const (
	TagAudio  = 8
	TagVideo  = 9
	TagScript = 18
)

// Sizes of the fixed parts (FLV 10.1, E.2 and E.4.1).
const (
	HeaderSize    = 9         // FLV file header
	TagHeaderSize = 11        // tag header
	trailerSize   = 4         // PreviousTagSize after each tag
	maxDataSize   = 1<<24 - 1 // the tag header's 24-bit DataSize
)

// Legacy codec ids (FLV 10.1, E.4.2.1 and E.4.3.1).
const (
	codecIDAVC = 7
	codecIDAAC = 10
)

// Enhanced RTMP/FLV (v1) constants.
const (
	exVideoFlag           = 0x80 // IsExHeader bit of the video tag's first byte
	exPacketSequenceStart = 0
	exPacketCodedFrames   = 1
	exAudioMarker         = 9 << 4 // SoundFormat 9 = ExHeader
)

var (
	fourCCHEVC = [4]byte{'h', 'v', 'c', '1'}
	fourCCOpus = [4]byte{'O', 'p', 'u', 's'}
)

// Header returns the FLV file header followed by PreviousTagSize0.
func Header(hasVideo, hasAudio bool) []byte {
	var flags byte
	if hasAudio {
		flags |= 0x04
	}
	if hasVideo {
		flags |= 0x01
	}
	return []byte{'F', 'L', 'V', 1, flags, 0, 0, 0, HeaderSize, 0, 0, 0, 0}
}

// Timestamp converts hub time to the 32-bit millisecond FLV/RTMP timestamp
// (it wraps after 49.7 days, as both formats do).
func Timestamp(d time.Duration) uint32 { return uint32(d / time.Millisecond) }

// TagType is the FLV tag type for a track kind.
func TagType(k media.Kind) byte {
	if k == media.KindVideo {
		return TagVideo
	}
	return TagAudio
}

func appendSI24(b []byte, v int32) []byte {
	return append(b, byte(v>>16), byte(v>>8), byte(v))
}

// AppendBodyPrefix appends the codec bytes that precede p's payload in an FLV
// tag body (and in an RTMP audio/video message, which has the same layout).
func AppendBodyPrefix(b []byte, p *media.Packet) []byte {
	switch p.Track.Codec {
	case media.CodecH264:
		ft := byte(2)
		if p.Keyframe {
			ft = 1
		}
		b = append(b, ft<<4|codecIDAVC, 1)
		return appendSI24(b, int32((p.PTS-p.DTS)/time.Millisecond))
	case media.CodecH265:
		ft := byte(2)
		if p.Keyframe {
			ft = 1
		}
		b = append(b, exVideoFlag|ft<<4|exPacketCodedFrames)
		b = append(b, fourCCHEVC[:]...)
		return appendSI24(b, int32((p.PTS-p.DTS)/time.Millisecond))
	case media.CodecAAC:
		return append(b, aacSoundFlags, 1)
	case media.CodecOpus:
		b = append(b, exAudioMarker|exPacketCodedFrames)
		return append(b, fourCCOpus[:]...)
	default:
		return b
	}
}

// aacSoundFlags: SoundFormat 10 (AAC), rate 44 kHz, 16 bit, stereo — the spec
// requires these fixed values for AAC whatever the real configuration.
const aacSoundFlags = codecIDAAC<<4 | 3<<2 | 1<<1 | 1

var errNoConfig = errors.New("flv: track has no codec configuration")

// SequenceHeader returns the tag body that carries t's codec configuration
// (AVC/HEVC decoder configuration record, AudioSpecificConfig, Opus header).
func SequenceHeader(t *media.Track) ([]byte, error) {
	switch t.Codec {
	case media.CodecH264:
		rec := t.Config
		if len(rec) == 0 {
			var err error
			if rec, err = AVCDecoderConfigurationRecord(t.SPS, t.PPS); err != nil {
				return nil, err
			}
		}
		b := make([]byte, 0, 5+len(rec))
		b = append(b, 1<<4|codecIDAVC, 0, 0, 0, 0)
		return append(b, rec...), nil
	case media.CodecH265:
		if len(t.Config) == 0 {
			return nil, errNoConfig
		}
		b := append([]byte{exVideoFlag | 1<<4 | exPacketSequenceStart}, fourCCHEVC[:]...)
		return append(b, t.Config...), nil
	case media.CodecAAC:
		if len(t.Config) == 0 {
			return nil, errNoConfig
		}
		return append([]byte{aacSoundFlags, 0}, t.Config...), nil
	case media.CodecOpus:
		if len(t.Config) == 0 {
			return nil, errNoConfig
		}
		b := append([]byte{exAudioMarker | exPacketSequenceStart}, fourCCOpus[:]...)
		return append(b, t.Config...), nil
	default:
		return nil, fmt.Errorf("flv: codec %s has no sequence header", t.Codec)
	}
}

// AVCDecoderConfigurationRecord builds the record of ISO/IEC 14496-15
// 5.3.3.1 from parameter sets (without start codes).
func AVCDecoderConfigurationRecord(sps, pps [][]byte) ([]byte, error) {
	if len(sps) == 0 || len(sps[0]) < 4 || len(pps) == 0 {
		return nil, errors.New("flv: H.264 track needs an SPS (>= 4 bytes) and a PPS")
	}
	if len(sps) > 31 || len(pps) > 255 {
		return nil, fmt.Errorf("flv: %d SPS / %d PPS exceed the record's counts", len(sps), len(pps))
	}
	b := []byte{1, sps[0][1], sps[0][2], sps[0][3], 0xFC | 3, 0xE0 | byte(len(sps))}
	for _, s := range slices.Concat(sps, pps) {
		if len(s) > math.MaxUint16 {
			return nil, fmt.Errorf("flv: a parameter set of %d bytes exceeds the record's 16-bit length", len(s))
		}
	}
	for _, s := range sps {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	b = append(b, byte(len(pps)))
	for _, p := range pps {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return b, nil
}

// MetaData returns the script tag body "onMetaData" describing the tracks.
func MetaData(video, audio *media.Track) []byte {
	o := Object{{"duration", 0.0}}
	if video != nil {
		if video.Width > 0 {
			o = append(o, Property{"width", float64(video.Width)}, Property{"height", float64(video.Height)})
		}
		if video.FrameRate > 0 {
			o = append(o, Property{"framerate", video.FrameRate})
		}
		switch video.Codec {
		case media.CodecH264:
			o = append(o, Property{"videocodecid", float64(codecIDAVC)})
		case media.CodecH265:
			o = append(o, Property{"videocodecid", float64(binary.BigEndian.Uint32(fourCCHEVC[:]))})
		}
	}
	if audio != nil {
		switch audio.Codec {
		case media.CodecAAC:
			o = append(o, Property{"audiocodecid", float64(codecIDAAC)})
		case media.CodecOpus:
			o = append(o, Property{"audiocodecid", float64(binary.BigEndian.Uint32(fourCCOpus[:]))})
		}
		if audio.SampleRate > 0 {
			o = append(o, Property{"audiosamplerate", float64(audio.SampleRate)})
		}
		if audio.Channels > 0 {
			o = append(o, Property{"audiochannels", float64(audio.Channels)}, Property{"stereo", audio.Channels > 1})
		}
	}
	o = append(o, Property{"encoder", "minirtc"})
	b := appendAMF0String(nil, "onMetaData")
	b, _ = AppendAMF0(b, o) // only encodable types above
	return b
}

// AppendTagHeader appends an 11-byte tag header.
func AppendTagHeader(b []byte, typ byte, ts uint32, bodySize int) []byte {
	return append(b, typ,
		byte(bodySize>>16), byte(bodySize>>8), byte(bodySize),
		byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24),
		0, 0, 0)
}

// AppendTag appends a whole tag (header, body, PreviousTagSize).
func AppendTag(b []byte, typ byte, ts uint32, body []byte) []byte {
	b = AppendTagHeader(b, typ, ts, len(body))
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, uint32(TagHeaderSize+len(body)))
}

// PacketTag returns p's FLV tag as three buffers (header and codec prefix,
// the payload itself, PreviousTagSize), built once and shared by every FLV
// viewer of p; nil when the body is longer than a tag header can say
// (16 MiB): its size would wrap and the viewer would lose the tag stream.
func PacketTag(p *media.Packet) [][]byte {
	return p.Wire(media.WireFLV, func() [][]byte { return buildPacketTag(p) })
}

// tagWire is one allocation holding a packet's tag buffers.
type tagWire struct {
	bufs  [3][]byte
	bytes [TagHeaderSize + 8 + trailerSize]byte
}

func buildPacketTag(p *media.Packet) [][]byte {
	w := new(tagWire)
	var pre [8]byte
	prefix := AppendBodyPrefix(pre[:0], p)
	size := len(prefix) + len(p.Payload)
	if size > maxDataSize {
		return nil
	}
	buf := AppendTagHeader(w.bytes[:0], TagType(p.Kind()), Timestamp(p.DTS), size)
	buf = append(buf, prefix...)
	head := buf[:len(buf):len(buf)]
	trailer := binary.BigEndian.AppendUint32(buf[len(buf):len(buf):cap(buf)], uint32(TagHeaderSize+size))
	w.bufs = [3][]byte{head, p.Payload, trailer}
	return w.bufs[:]
}

// CachedSequenceHeader is SequenceHeader built once per track and shared by
// FLV and RTMP viewers; nil when t has no usable configuration.
func CachedSequenceHeader(t *media.Track) []byte {
	b := t.Wire(media.WireFLV, func() [][]byte {
		body, err := SequenceHeader(t)
		if err != nil {
			return [][]byte{nil}
		}
		return [][]byte{body}
	})
	return b[0]
}
