package flvtag

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxTagBodySize bounds a tag body the reader accepts: the 24-bit size field
// allows 16 MiB, and no sane audio/video frame comes near it.
const MaxTagBodySize = 8 << 20

// Tag is one parsed FLV tag. Body aliases the input.
type Tag struct {
	Type      byte
	Timestamp uint32 // milliseconds, with the extension byte
	Body      []byte
}

var errShort = errors.New("flv: truncated input")

// ParseHeader parses the FLV file header and PreviousTagSize0 and returns
// the rest of b.
func ParseHeader(b []byte) (hasVideo, hasAudio bool, rest []byte, err error) {
	if len(b) < HeaderSize+trailerSize {
		return false, false, nil, errShort
	}
	if b[0] != 'F' || b[1] != 'L' || b[2] != 'V' {
		return false, false, nil, errors.New("flv: bad signature")
	}
	off := binary.BigEndian.Uint32(b[5:9])
	if off < HeaderSize || uint64(off)+trailerSize > uint64(len(b)) {
		return false, false, nil, fmt.Errorf("flv: header size %d out of range", off)
	}
	return b[4]&1 != 0, b[4]&4 != 0, b[off+trailerSize:], nil
}

// ParseTag parses one tag with its PreviousTagSize and returns the rest of b.
func ParseTag(b []byte) (Tag, []byte, error) {
	if len(b) < TagHeaderSize {
		return Tag{}, nil, errShort
	}
	size := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if size > MaxTagBodySize {
		return Tag{}, nil, fmt.Errorf("flv: tag body of %d bytes exceeds %d", size, MaxTagBodySize)
	}
	if len(b) < TagHeaderSize+size+trailerSize {
		return Tag{}, nil, errShort
	}
	t := Tag{
		Type:      b[0] & 0x1f,
		Timestamp: uint32(b[7])<<24 | uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6]),
		Body:      b[TagHeaderSize : TagHeaderSize+size],
	}
	prev := binary.BigEndian.Uint32(b[TagHeaderSize+size:])
	if prev != uint32(TagHeaderSize+size) {
		return Tag{}, nil, fmt.Errorf("flv: PreviousTagSize %d, want %d", prev, TagHeaderSize+size)
	}
	return t, b[TagHeaderSize+size+trailerSize:], nil
}

// VideoBody is a parsed video tag body (legacy AVC or enhanced).
type VideoBody struct {
	Keyframe   bool
	Enhanced   bool
	CodecID    byte    // legacy codec id (7 = AVC)
	FourCC     [4]byte // enhanced codec
	PacketType byte    // AVC: 0 sequence header, 1 NALU, 2 end; enhanced: its packet type
	CTS        int32   // composition time offset, ms
	Data       []byte
}

// ParseVideoBody parses a video tag body.
func ParseVideoBody(b []byte) (VideoBody, error) {
	if len(b) < 1 {
		return VideoBody{}, errShort
	}
	v := VideoBody{Keyframe: (b[0]>>4)&7 == 1}
	if b[0]&exVideoFlag != 0 {
		v.Enhanced = true
		v.PacketType = b[0] & 0x0f
		if len(b) < 5 {
			return VideoBody{}, errShort
		}
		copy(v.FourCC[:], b[1:5])
		b = b[5:]
		if v.PacketType == exPacketCodedFrames && (v.FourCC == fourCCHEVC || v.FourCC == [4]byte{'a', 'v', 'c', '1'}) {
			if len(b) < 3 {
				return VideoBody{}, errShort
			}
			v.CTS = int32(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8) >> 8
			b = b[3:]
		}
		v.Data = b
		return v, nil
	}
	v.CodecID = b[0] & 0x0f
	if v.CodecID != codecIDAVC {
		v.Data = b[1:]
		return v, nil
	}
	if len(b) < 5 {
		return VideoBody{}, errShort
	}
	v.PacketType = b[1]
	v.CTS = int32(uint32(b[2])<<24|uint32(b[3])<<16|uint32(b[4])<<8) >> 8
	v.Data = b[5:]
	return v, nil
}

// AudioBody is a parsed audio tag body.
type AudioBody struct {
	Format     byte // SoundFormat (10 = AAC, 9 = enhanced)
	FourCC     [4]byte
	PacketType byte // AAC: 0 config, 1 raw; enhanced: its packet type
	Data       []byte
}

// ParseAudioBody parses an audio tag body.
func ParseAudioBody(b []byte) (AudioBody, error) {
	if len(b) < 1 {
		return AudioBody{}, errShort
	}
	a := AudioBody{Format: b[0] >> 4}
	switch a.Format {
	case codecIDAAC:
		if len(b) < 2 {
			return AudioBody{}, errShort
		}
		a.PacketType = b[1]
		a.Data = b[2:]
	case 9:
		if len(b) < 5 {
			return AudioBody{}, errShort
		}
		a.PacketType = b[0] & 0x0f
		copy(a.FourCC[:], b[1:5])
		a.Data = b[5:]
	default:
		a.Data = b[1:]
	}
	return a, nil
}
