package aac

import "fmt"

// Audio object types (ISO/IEC 14496-3 table 1.17).
const (
	ObjectTypeMain = 1
	ObjectTypeLC   = 2
	ObjectTypeSSR  = 3
	ObjectTypeLTP  = 4
	ObjectTypeSBR  = 5
	ObjectTypePS   = 29
)

// Frame lengths (GASpecificConfig frameLengthFlag).
const (
	FrameLength     = 1024 // samples per channel per access unit in AAC-LC
	frameLength960  = 960
	maxChannels     = 2  // this decoder outputs mono or stereo only
	escapeRateIndex = 15 // samplingFrequencyIndex escape: 24-bit rate follows
)

// Config is the decoded AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) of a
// general audio stream.
type Config struct {
	// ObjectType is the audio object type of the core coder (2 = AAC-LC).
	// For explicitly signalled HE-AAC it is the core type, and SBR is set.
	ObjectType int
	// SampleRate is the core sampling rate in Hz.
	SampleRate int
	// SampleRateIndex is the 4-bit samplingFrequencyIndex: 0..12, or 15 when
	// the rate is given explicitly.
	SampleRateIndex int
	// ChannelConfig is the channelConfiguration field (0 = from a PCE).
	ChannelConfig int
	// Channels is the number of output channels ChannelConfig stands for.
	Channels int
	// FrameLength is the number of samples per channel in one access unit
	// (1024, or 960 with frameLengthFlag set).
	FrameLength int
	// SBR and PS report explicit HE-AAC (v2) signalling; ExtensionSampleRate is
	// then the SBR output rate.
	SBR, PS             bool
	ExtensionSampleRate int
}

// channelsOfConfig maps channelConfiguration 1..7 to a channel count.
var channelsOfConfig = [8]int{0, 1, 2, 3, 4, 5, 6, 8}

// ParseAudioSpecificConfig decodes an AudioSpecificConfig as carried in MP4
// (esds), RTMP/FLV AAC sequence headers, SDP "config" and LATM. Fields this
// package has no use for (ER tools, core coder delay) are skipped; SBR/PS
// extensions are reported in Config.
func ParseAudioSpecificConfig(asc []byte) (Config, error) {
	var c Config
	if len(asc) < 2 {
		return c, fmt.Errorf("%w: AudioSpecificConfig is %d bytes, need at least 2", ErrInvalid, len(asc))
	}
	var r bitReader
	r.reset(asc)
	readAOT := func() int {
		aot := int(r.read(5))
		if aot == 31 {
			aot = 32 + int(r.read(6))
		}
		return aot
	}
	readRate := func() (idx, rate int, err error) {
		idx = int(r.read(4))
		switch {
		case idx == escapeRateIndex:
			rate = int(r.read(24))
			if rate == 0 {
				return idx, 0, fmt.Errorf("%w: explicit sampling frequency 0", ErrInvalid)
			}
		case idx < len(sampleRates):
			rate = sampleRates[idx]
		default:
			return idx, 0, fmt.Errorf("%w: reserved sampling frequency index %d", ErrInvalid, idx)
		}
		return idx, rate, nil
	}
	var err error
	c.ObjectType = readAOT()
	if c.SampleRateIndex, c.SampleRate, err = readRate(); err != nil {
		return c, err
	}
	c.ChannelConfig = int(r.read(4))
	if c.ChannelConfig < len(channelsOfConfig) {
		c.Channels = channelsOfConfig[c.ChannelConfig]
	}
	if c.ObjectType == ObjectTypeSBR || c.ObjectType == ObjectTypePS {
		c.SBR = true
		c.PS = c.ObjectType == ObjectTypePS
		if _, c.ExtensionSampleRate, err = readRate(); err != nil {
			return c, err
		}
		c.ObjectType = readAOT()
	}
	c.FrameLength = FrameLength
	switch c.ObjectType {
	case 1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23:
		if r.readBit() {
			c.FrameLength = frameLength960
		}
		if r.readBit() { // dependsOnCoreCoder
			r.skip(14) // coreCoderDelay
		}
		extensionFlag := r.readBit()
		if c.ChannelConfig == 0 {
			n, err := skipPCE(&r)
			if err != nil {
				return c, err
			}
			if n == 0 {
				// Nothing to decode; a decoder would wait for a layout
				// that an AudioSpecificConfig stream never sends in band.
				return c, fmt.Errorf("%w: program_config_element describes no channels", ErrInvalid)
			}
			c.Channels = n
		}
		if c.ObjectType == 6 || c.ObjectType == 20 {
			r.skip(3) // layerNr
		}
		if extensionFlag {
			switch c.ObjectType {
			case 22:
				r.skip(5 + 11)
			case 17, 19, 20, 23:
				r.skip(3)
			}
			r.skip(1) // extensionFlag3
		}
	default:
		// Not general audio: nothing more we can interpret.
		if r.overrun() {
			return c, fmt.Errorf("%w: AudioSpecificConfig truncated", ErrInvalid)
		}
		return c, nil
	}
	if r.overrun() {
		return c, fmt.Errorf("%w: AudioSpecificConfig truncated (%d bytes)", ErrInvalid, len(asc))
	}
	// Backward-compatible explicit SBR/PS signalling (§1.6.5.2).
	if !c.SBR && r.bitsLeft() >= 16 && r.peek(11) == 0x2b7 {
		r.skip(11)
		if ext := readAOT(); ext == ObjectTypeSBR && r.readBit() {
			c.SBR = true
			if _, c.ExtensionSampleRate, err = readRate(); err != nil {
				return c, err
			}
			if r.bitsLeft() >= 12 && r.read(11) == 0x548 && r.readBit() {
				c.PS = true
			}
		}
	}
	return c, nil
}

// skipPCE reads a program_config_element (§4.4.1.2) and returns the number
// of channels it describes.
func skipPCE(r *bitReader) (int, error) {
	r.skip(4 + 2 + 4) // element_instance_tag, object_type, sampling_frequency_index
	front, side, back := int(r.read(4)), int(r.read(4)), int(r.read(4))
	lfe, assoc, cc := int(r.read(2)), int(r.read(3)), int(r.read(4))
	if r.readBit() {
		r.skip(4)
	}
	if r.readBit() {
		r.skip(4)
	}
	if r.readBit() {
		r.skip(3)
	}
	channels := lfe
	for range front + side + back {
		if r.readBit() {
			channels += 2
		} else {
			channels++
		}
		r.skip(4)
	}
	r.skip(4*lfe + 4*assoc + 5*cc)
	r.byteAlign()
	r.skip(8 * int(r.read(8)))
	if r.overrun() {
		return 0, fmt.Errorf("%w: program_config_element truncated", ErrInvalid)
	}
	return channels, nil
}

// Marshal writes c as an AudioSpecificConfig. Only general audio object
// types without extensions are written (ObjectType, rate, ChannelConfig,
// frameLengthFlag); SBR/PS fields and PCE layouts are not supported.
func (c Config) Marshal() ([]byte, error) {
	if c.ObjectType < 1 || c.ObjectType > 30 || c.ObjectType == ObjectTypeSBR {
		return nil, fmt.Errorf("%w: cannot write object type %d", ErrUnsupported, c.ObjectType)
	}
	if c.SBR || c.PS {
		return nil, fmt.Errorf("%w: cannot write SBR/PS signalling", ErrUnsupported)
	}
	chConf := c.ChannelConfig
	if chConf == 0 {
		switch c.Channels {
		case 1, 2, 3, 4, 5, 6:
			chConf = c.Channels
		case 8:
			chConf = 7
		default:
			return nil, fmt.Errorf("%w: no channel configuration for %d channels", ErrUnsupported, c.Channels)
		}
	}
	if chConf < 1 || chConf > 7 {
		return nil, fmt.Errorf("%w: channel configuration %d", ErrInvalid, chConf)
	}
	idx := c.SampleRateIndex
	if idx != escapeRateIndex {
		idx = -1
		for i, r := range sampleRates {
			if r == c.SampleRate {
				idx = i
				break
			}
		}
		if idx < 0 {
			idx = escapeRateIndex
		}
	}
	if idx == escapeRateIndex && (c.SampleRate <= 0 || c.SampleRate >= 1<<24) {
		return nil, fmt.Errorf("%w: sample rate %d", ErrInvalid, c.SampleRate)
	}
	var w uint64
	n := 0
	put := func(v uint64, bits int) { w = w<<bits | v; n += bits }
	put(uint64(c.ObjectType), 5)
	put(uint64(idx), 4)
	if idx == escapeRateIndex {
		put(uint64(c.SampleRate), 24)
	}
	put(uint64(chConf), 4)
	frameFlag := uint64(0)
	if c.FrameLength == frameLength960 {
		frameFlag = 1
	}
	put(frameFlag, 1)
	put(0, 1) // dependsOnCoreCoder
	put(0, 1) // extensionFlag
	if c.ObjectType == 6 || c.ObjectType == 20 {
		put(0, 3) // layerNr
	}
	pad := (8 - n%8) % 8
	put(0, pad)
	out := make([]byte, n/8)
	for i := range out {
		out[i] = byte(w >> (8 * (len(out) - 1 - i)))
	}
	return out, nil
}

// bandTableIndex returns the sampling frequency index whose scalefactor band
// and TNS tables apply to rate (§4.5.1.1: non-standard rates use the table of
// the nearest standard rate).
func bandTableIndex(idx, rate int) int {
	if idx >= 0 && idx < len(sampleRates) {
		return idx
	}
	for i, lo := range rateMapMin {
		if rate >= lo {
			return i
		}
	}
	return len(rateMapMin) - 1
}
