package synth

import (
	"bytes"
	"encoding/binary"
	"time"
)

// StampUUID identifies our SEI user_data_unregistered messages
// (uuid_iso_iec_11578, §D.2.7). It was drawn at random for minirtc bench.
var StampUUID = [16]byte{0x3c, 0x99, 0xd7, 0x67, 0x15, 0xcb, 0x91, 0x3f, 0x67, 0x99, 0xd8, 0xae, 0x8d, 0x14, 0x1e, 0x6c}

const (
	// seiUserDataUnregistered is payloadType 5 (§D.1.7).
	seiUserDataUnregistered = 5
	// stampPayloadLen is the UUID, an 8-byte sequence number and an 8-byte
	// send time.
	stampPayloadLen = 16 + 8 + 8
	// nalSEI is nal_unit_type 6.
	nalSEI = 6
)

// Stamp is what every synthetic access unit carries.
type Stamp struct {
	// Seq counts video frames from 0 at the publisher's start.
	Seq uint64
	// Sent is the publisher's wall clock when it wrote the frame.
	Sent time.Time
}

// AppendStampNAL appends an SEI NAL unit (with its one-byte header, without
// a start code or length prefix) that carries s.
func AppendStampNAL(dst []byte, s Stamp) []byte {
	var rbsp [2 + stampPayloadLen + 1]byte
	rbsp[0] = seiUserDataUnregistered
	rbsp[1] = stampPayloadLen
	copy(rbsp[2:18], StampUUID[:])
	binary.BigEndian.PutUint64(rbsp[18:26], s.Seq)
	binary.BigEndian.PutUint64(rbsp[26:34], uint64(s.Sent.UnixNano()))
	rbsp[34] = 0x80           // rbsp_trailing_bits
	dst = append(dst, nalSEI) // forbidden_zero_bit 0, nal_ref_idc 0, type 6
	return escapeRBSP(dst, rbsp[:])
}

// ParseStampNAL reads a stamp from a NAL unit (header included). ok is false
// for anything that is not one of our stamps; it never panics.
func ParseStampNAL(nal []byte) (s Stamp, ok bool) {
	if len(nal) < 1+2+stampPayloadLen || nal[0]&0x1f != nalSEI {
		return Stamp{}, false
	}
	// The first SEI message is ours; emulation prevention may have grown the
	// payload by a few bytes, so unescape a bounded prefix.
	var buf [64]byte
	limit := min(len(nal)-1, 2+stampPayloadLen+stampPayloadLen/2)
	p := unescapeRBSP(buf[:0], nal[1:1+limit])
	if len(p) < 2+stampPayloadLen || p[0] != seiUserDataUnregistered || p[1] != stampPayloadLen {
		return Stamp{}, false
	}
	if !bytes.Equal(p[2:18], StampUUID[:]) {
		return Stamp{}, false
	}
	s.Seq = binary.BigEndian.Uint64(p[18:26])
	s.Sent = time.Unix(0, int64(binary.BigEndian.Uint64(p[26:34]))) //nolint:gosec // G115: the bits of the int64 UnixNano the stamp was written with
	return s, true
}

// ParseStampAVCC looks for a stamp among the NAL units of an AVCC access
// unit (4-byte big-endian length prefixes, ISO/IEC 14496-15 §5.3.4.2.1) and
// also reports whether the unit holds an IDR slice, an SPS and a PPS. It
// stops at the first malformed length and never panics.
func ParseStampAVCC(au []byte) (s Stamp, hasStamp bool, info AUInfo) {
	for len(au) >= 4 {
		n := binary.BigEndian.Uint32(au)
		au = au[4:]
		if n == 0 || uint64(n) > uint64(len(au)) {
			info.Malformed = true
			return s, hasStamp, info
		}
		nal := au[:n]
		au = au[n:]
		switch nal[0] & 0x1f {
		case nalIDR:
			info.IDR = true
		case nalSPS:
			info.SPS = true
		case nalPPS:
			info.PPS = true
		case nalSEI:
			if !hasStamp {
				s, hasStamp = ParseStampNAL(nal)
			}
		}
	}
	if len(au) != 0 {
		info.Malformed = true
	}
	return s, hasStamp, info
}

// AUInfo describes the NAL unit types found in an access unit.
type AUInfo struct {
	IDR, SPS, PPS bool
	// Malformed is set when the length prefixes do not add up.
	Malformed bool
}
