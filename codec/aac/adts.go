package aac

import "fmt"

// ADTS limits (ISO/IEC 14496-3 §1.A.2.2).
const (
	adtsHeaderLen    = 7    // header without CRC
	adtsHeaderLenCRC = 9    // header with crc_check
	adtsMaxFrameLen  = 8191 // aac_frame_length is a 13-bit field
	adtsMaxBlocks    = 4    // number_of_raw_data_blocks_in_frame is 2 bits (+1)
	adtsVBRFullness  = 0x7ff
)

// ADTSHeader is the fixed plus variable part of an ADTS frame header.
type ADTSHeader struct {
	MPEG2            bool // id bit: true for MPEG-2 AAC, false for MPEG-4
	ProtectionAbsent bool // true when no CRC follows the header
	ObjectType       int  // profile + 1 (2 = AAC-LC)
	SampleRateIndex  int  // 0..12
	ChannelConfig    int  // 0..7
	FrameLength      int  // aac_frame_length: bytes of the whole frame, header included
	BufferFullness   int  // 0x7FF = variable bit rate
	RawBlocks        int  // raw_data_blocks in the frame, 1..4
}

// HeaderLen is the header size in bytes: 7, or 9 with a CRC.
func (h ADTSHeader) HeaderLen() int {
	if h.ProtectionAbsent {
		return adtsHeaderLen
	}
	return adtsHeaderLenCRC
}

// Config returns the AudioSpecificConfig equivalent of the header.
func (h ADTSHeader) Config() Config {
	c := Config{
		ObjectType:      h.ObjectType,
		SampleRateIndex: h.SampleRateIndex,
		ChannelConfig:   h.ChannelConfig,
		FrameLength:     FrameLength,
	}
	if h.SampleRateIndex < len(sampleRates) {
		c.SampleRate = sampleRates[h.SampleRateIndex]
	}
	if h.ChannelConfig < len(channelsOfConfig) {
		c.Channels = channelsOfConfig[h.ChannelConfig]
	}
	return c
}

// ParseADTSHeader decodes the ADTS header at the start of b. It checks the
// syncword and field ranges, and that b holds at least the header.
func ParseADTSHeader(b []byte) (ADTSHeader, error) {
	var h ADTSHeader
	if len(b) < adtsHeaderLen {
		return h, fmt.Errorf("%w: ADTS header needs %d bytes, have %d", ErrInvalid, adtsHeaderLen, len(b))
	}
	if b[0] != 0xff || b[1]&0xf0 != 0xf0 {
		return h, fmt.Errorf("%w: no ADTS syncword (%02x %02x)", ErrInvalid, b[0], b[1])
	}
	if layer := (b[1] >> 1) & 3; layer != 0 {
		return h, fmt.Errorf("%w: ADTS layer %d, must be 0", ErrInvalid, layer)
	}
	h.MPEG2 = b[1]&0x08 != 0
	h.ProtectionAbsent = b[1]&1 != 0
	h.ObjectType = int(b[2]>>6) + 1
	h.SampleRateIndex = int(b[2]>>2) & 0xf
	h.ChannelConfig = int(b[2]&1)<<2 | int(b[3]>>6)
	h.FrameLength = int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5]>>5)
	h.BufferFullness = int(b[5]&0x1f)<<6 | int(b[6]>>2)
	h.RawBlocks = int(b[6]&3) + 1
	if h.SampleRateIndex >= len(sampleRates) {
		return h, fmt.Errorf("%w: ADTS sampling frequency index %d", ErrInvalid, h.SampleRateIndex)
	}
	if h.FrameLength < h.HeaderLen() {
		return h, fmt.Errorf("%w: ADTS frame length %d shorter than its %d-byte header", ErrInvalid, h.FrameLength, h.HeaderLen())
	}
	if len(b) < h.HeaderLen() {
		return h, fmt.Errorf("%w: ADTS header needs %d bytes, have %d", ErrInvalid, h.HeaderLen(), len(b))
	}
	return h, nil
}

// AppendADTSHeader appends the 7-byte header (protection_absent must be set;
// no CRC is written) of a frame carrying payloadLen bytes of raw_data_block(s)
// and returns the extended slice. h.FrameLength is ignored and computed from
// payloadLen; a zero RawBlocks means 1 and a zero BufferFullness means VBR
// (0x7FF; a real fullness of 0 cannot be written, encoders never need it).
func AppendADTSHeader(dst []byte, h ADTSHeader, payloadLen int) ([]byte, error) {
	if !h.ProtectionAbsent {
		return dst, fmt.Errorf("%w: writing ADTS CRC", ErrUnsupported)
	}
	if h.ObjectType < 1 || h.ObjectType > 4 {
		return dst, fmt.Errorf("%w: ADTS cannot carry object type %d", ErrInvalid, h.ObjectType)
	}
	if h.SampleRateIndex < 0 || h.SampleRateIndex >= len(sampleRates) {
		return dst, fmt.Errorf("%w: ADTS sampling frequency index %d", ErrInvalid, h.SampleRateIndex)
	}
	if h.ChannelConfig < 0 || h.ChannelConfig > 7 {
		return dst, fmt.Errorf("%w: ADTS channel configuration %d", ErrInvalid, h.ChannelConfig)
	}
	n := payloadLen + adtsHeaderLen
	if payloadLen < 0 || n > adtsMaxFrameLen {
		return dst, fmt.Errorf("%w: ADTS frame of %d bytes exceeds %d", ErrInvalid, n, adtsMaxFrameLen)
	}
	blocks := h.RawBlocks
	if blocks == 0 {
		blocks = 1
	}
	if blocks < 1 || blocks > adtsMaxBlocks {
		return dst, fmt.Errorf("%w: ADTS with %d raw data blocks", ErrInvalid, blocks)
	}
	full := h.BufferFullness
	if full <= 0 || full > adtsVBRFullness {
		full = adtsVBRFullness
	}
	id := byte(0)
	if h.MPEG2 {
		id = 0x08
	}
	return append(dst,
		0xff,
		0xf0|id|0x01,
		byte(h.ObjectType-1)<<6|byte(h.SampleRateIndex)<<2|byte(h.ChannelConfig>>2),
		byte(h.ChannelConfig&3)<<6|byte(n>>11),
		byte(n>>3),
		byte(n&7)<<5|byte(full>>6),
		byte(full&0x3f)<<2|byte(blocks-1),
	), nil
}

// ADTSFrame is one frame of an ADTS stream.
type ADTSFrame struct {
	Header ADTSHeader
	// Payload holds the raw_data_block(s) after the header (and CRC); it
	// aliases the input.
	Payload []byte
}

// SplitADTS splits a complete ADTS stream into frames. It stops with an error
// at the first byte that does not start a valid frame or at a truncated last
// frame; the frames before it are returned.
func SplitADTS(data []byte) ([]ADTSFrame, error) {
	var frames []ADTSFrame
	for len(data) > 0 {
		h, err := ParseADTSHeader(data)
		if err != nil {
			return frames, err
		}
		if h.FrameLength > len(data) {
			return frames, fmt.Errorf("%w: ADTS frame of %d bytes truncated to %d", ErrInvalid, h.FrameLength, len(data))
		}
		frames = append(frames, ADTSFrame{Header: h, Payload: data[h.HeaderLen():h.FrameLength]})
		data = data[h.FrameLength:]
	}
	return frames, nil
}
