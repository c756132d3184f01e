package aac

import (
	"fmt"
	"math"
	"sync"
)

// Syntactic element ids of raw_data_block() (§4.4.2.1, table 4.85).
const (
	idSCE = 0
	idCPE = 1
	idCCE = 2
	idLFE = 3
	idDSE = 4
	idPCE = 5
	idFIL = 6
	idEND = 7
)

// maxPow43 bounds the table of |q|^(4/3): escape values reach 8191 and pulse
// data may add up to 15 to a line.
const maxPow43 = 8191 + 15

// pnsSeed starts the noise generator of PNS (any non-zero value; the
// generator is not normative).
const pnsSeed = 0x2545f491

// pcmScale turns the decoder's 16-bit PCM scale into [-1, 1).
const pcmScale = 1.0 / 32768

// decoderTables are the read-only tables every Decoder shares, built once on
// first use.
type decoderTables struct {
	pow43  [maxPow43 + 1]float64
	sfGain [256]float64               // 2^(0.25*(sf-100))
	long   [2][longWindowLen]float64  // [shape] full long windows
	short  [2][shortWindowLen]float64 // [shape] full short windows
}

var sharedDecoderTables = sync.OnceValue(func() *decoderTables {
	t := new(decoderTables)
	for i := range t.pow43 {
		t.pow43[i] = math.Pow(float64(i), 4.0/3.0)
	}
	for i := range t.sfGain {
		t.sfGain[i] = math.Exp2(0.25 * float64(i-100))
	}
	for shape := range 2 {
		copy(t.long[shape][:], aacWindow(shape, longWindowLen))
		copy(t.short[shape][:], aacWindow(shape, shortWindowLen))
	}
	return t
})

// channelState is what a channel carries from one frame to the next.
type channelState struct {
	overlap   [FrameLength]float64 // second half of the previous windowed IMDCT output
	prevShape int
}

// decodeStats counts coding tools seen, so tests can prove a stream
// exercised what it was made for.
type decodeStats struct {
	frames, shortFrames, kbdFrames        int
	msBands, isBands, pnsBands, tnsFilter int
	escapes                               int
}

// Decoder decodes AAC-LC access units of one stream (mono or stereo) to PCM.
//
// A Decoder is not safe for concurrent use. It allocates everything it
// needs in NewDecoder; Decode does not allocate.
type Decoder struct {
	cfg         Config
	channels    int
	bandIdx     int // sampling frequency index of the band tables
	swbLong     []uint16
	swbShort    []uint16
	numSwbLong  int
	numSwbShort int
	tnsMaxLong  int
	tnsMaxShort int

	tab    *decoderTables
	br     bitReader
	cs     [maxChannels]channelStream
	state  [maxChannels]channelState
	long   *imdct
	short  *imdct
	buf    [longWindowLen]float64 // windowed IMDCT output of one frame
	tmp    [longWindowLen]float64
	msMode int
	msUsed [maxWindows * maxBandsPerWin]bool
	rng    uint32
	out    []float32
	stats  decodeStats
	endBit int // bit position of the last END element (tests splice elements there)
}

// NewDecoder returns a decoder for the stream described by the
// AudioSpecificConfig asc. It fails with ErrUnsupported for anything but
// AAC-LC with one or two channels and 1024-sample frames (an HE-AAC stream
// signalled implicitly, whose config says AAC-LC, decodes to its core).
func NewDecoder(asc []byte) (*Decoder, error) {
	c, err := ParseAudioSpecificConfig(asc)
	if err != nil {
		return nil, err
	}
	return NewDecoderConfig(c)
}

// NewDecoderConfig returns a decoder for a parsed configuration, for example
// ADTSHeader.Config of a stream's first frame. With ChannelConfig 0 and no
// channel count (ADTS carrying the layout in-band), the channel count is
// taken from the first program_config_element in the stream.
func NewDecoderConfig(c Config) (*Decoder, error) {
	switch {
	case c.SBR && c.PS:
		return nil, fmt.Errorf("%w: HE-AAC v2 (SBR+PS) signalled explicitly", ErrUnsupported)
	case c.SBR:
		return nil, fmt.Errorf("%w: HE-AAC (SBR) signalled explicitly", ErrUnsupported)
	case c.ObjectType == ObjectTypeMain:
		return nil, fmt.Errorf("%w: AAC Main profile", ErrUnsupported)
	case c.ObjectType == ObjectTypeSSR:
		return nil, fmt.Errorf("%w: AAC SSR profile", ErrUnsupported)
	case c.ObjectType == ObjectTypeLTP:
		return nil, fmt.Errorf("%w: AAC LTP profile", ErrUnsupported)
	case c.ObjectType != ObjectTypeLC:
		return nil, fmt.Errorf("%w: audio object type %d, only AAC-LC (2)", ErrUnsupported, c.ObjectType)
	case c.FrameLength != FrameLength:
		return nil, fmt.Errorf("%w: frame length %d, only %d", ErrUnsupported, c.FrameLength, FrameLength)
	case c.ChannelConfig == 0 && c.Channels == 0:
		// ADTS with channel_configuration 0: the layout arrives in a PCE
		// inside the first access unit.
	case c.Channels < 1 || c.Channels > maxChannels:
		return nil, fmt.Errorf("%w: %d channels (channel configuration %d), only mono and stereo", ErrUnsupported, c.Channels, c.ChannelConfig)
	case c.SampleRate <= 0:
		return nil, fmt.Errorf("%w: sample rate %d", ErrInvalid, c.SampleRate)
	}
	idx := bandTableIndex(c.SampleRateIndex, c.SampleRate)
	d := &Decoder{
		cfg:         c,
		channels:    c.Channels,
		bandIdx:     idx,
		swbLong:     swbOffsetLong[idx],
		swbShort:    swbOffsetShort[idx],
		numSwbLong:  len(swbOffsetLong[idx]) - 1,
		numSwbShort: len(swbOffsetShort[idx]) - 1,
		tnsMaxLong:  int(tnsMaxBandsLong[idx]),
		tnsMaxShort: int(tnsMaxBandsShort[idx]),
		tab:         sharedDecoderTables(),
		long:        newIMDCT(longWindowLen),
		short:       newIMDCT(shortWindowLen),
		rng:         pnsSeed,
		out:         make([]float32, adtsMaxBlocks*FrameLength*maxChannels),
	}
	return d, nil
}

// Reset forgets the overlap carried from the previous frame, as after a
// seek or a gap in the stream: the next frame decodes as if it were the
// first.
func (d *Decoder) Reset() {
	for ch := range d.state {
		d.state[ch] = channelState{}
	}
	d.rng = pnsSeed
}

// Config returns the stream configuration the decoder was made for, with
// Channels as currently decoded (for a layout from an in-band PCE it is 0
// until the first access unit).
func (d *Decoder) Config() Config {
	c := d.cfg
	c.Channels = d.channels
	return c
}

// Decode decodes one access unit (a raw_data_block, as carried in MP4, FLV,
// RTP or the payload of a one-block ADTS frame) to 1024 interleaved samples
// per channel, scaled to [-1, 1) (full 16-bit scale / 32768; not clipped).
//
// The returned slice is owned by the decoder and valid until the next call.
// On error the decoder's overlap state is left as it was, so the next access
// unit decodes normally (with a glitch where the lost frame was).
func (d *Decoder) Decode(au []byte) ([]float32, error) {
	d.br.reset(au)
	if err := d.decodeBlock(0); err != nil {
		return nil, err
	}
	return d.out[:FrameLength*d.channels], nil
}

// DecodeADTS decodes one complete ADTS frame (header included) and returns
// 1024 interleaved samples per channel for each raw_data_block in it. The
// header must match the decoder's configuration. The slice is owned by the
// decoder and valid until the next call.
func (d *Decoder) DecodeADTS(frame []byte) ([]float32, error) {
	h, err := ParseADTSHeader(frame)
	if err != nil {
		return nil, err
	}
	if h.FrameLength > len(frame) {
		return nil, errInvalid("ADTS frame of %d bytes truncated to %d", h.FrameLength, len(frame))
	}
	if h.ObjectType != ObjectTypeLC {
		return nil, fmt.Errorf("%w: ADTS profile for object type %d", ErrUnsupported, h.ObjectType)
	}
	if h.SampleRateIndex != d.cfg.SampleRateIndex || h.ChannelConfig != d.cfg.ChannelConfig {
		return nil, errInvalid("ADTS header (rate index %d, channels %d) differs from the stream (%d, %d)",
			h.SampleRateIndex, h.ChannelConfig, d.cfg.SampleRateIndex, d.cfg.ChannelConfig)
	}
	if !h.ProtectionAbsent && h.RawBlocks > 1 {
		return nil, fmt.Errorf("%w: ADTS frame with CRC and %d raw data blocks", ErrUnsupported, h.RawBlocks)
	}
	d.br.reset(frame[h.HeaderLen():h.FrameLength])
	for b := range h.RawBlocks {
		if err := d.decodeBlock(b); err != nil {
			return nil, err
		}
	}
	return d.out[:h.RawBlocks*FrameLength*d.channels], nil
}

// decodeBlock parses one raw_data_block from d.br, then reconstructs and
// synthesizes every channel into block number b of d.out (interleaved).
func (d *Decoder) decodeBlock(b int) error {
	r := &d.br
	got := 0
	d.msMode = 0
	var isPair bool
parse:
	for {
		if r.overrun() {
			return errInvalid("access unit ends without an END element")
		}
		switch id := r.read(3); id {
		case idSCE:
			if got+1 > d.channels {
				return errInvalid("more channel elements than the %d configured channels", d.channels)
			}
			r.skip(4) // element_instance_tag
			if err := d.parseICS(&d.cs[got], false); err != nil {
				return err
			}
			got++
		case idCPE:
			if got+2 > d.channels {
				return errInvalid("channel pair in a stream with %d channels", d.channels)
			}
			if err := d.parseCPE(&d.cs[got], &d.cs[got+1]); err != nil {
				return err
			}
			got += 2
			isPair = true
		case idCCE:
			return fmt.Errorf("%w: coupling channel element", ErrUnsupported)
		case idLFE:
			return fmt.Errorf("%w: LFE channel element", ErrUnsupported)
		case idDSE:
			r.skip(4)
			align := r.readBit()
			n := int(r.read(8))
			if n == 255 {
				n += int(r.read(8))
			}
			if align {
				r.byteAlign()
			}
			r.skip(8 * n)
		case idPCE:
			n, err := skipPCE(r)
			if err != nil {
				return err
			}
			if d.cfg.ChannelConfig == 0 && got == 0 {
				// The PCE defines the layout when the config does not.
				if n < 1 || n > maxChannels {
					return fmt.Errorf("%w: program config element with %d channels, only mono and stereo", ErrUnsupported, n)
				}
				d.channels = n
			}
		case idFIL:
			// Extension payloads (SBR data of implicitly signalled HE-AAC,
			// dynamic range control, fill bytes) are skipped.
			n := int(r.read(4))
			if n == 15 {
				n += int(r.read(8)) - 1
			}
			r.skip(8 * n)
		case idEND:
			d.endBit = r.pos - 3
			break parse
		}
	}
	r.byteAlign()
	if r.overrun() {
		return errInvalid("access unit truncated")
	}
	if got != d.channels || got == 0 {
		return errInvalid("access unit carries %d channels, the configuration %d", got, d.channels)
	}
	n := FrameLength * d.channels
	out := d.out[b*n : (b+1)*n]
	for ch := range got {
		d.reconstruct(&d.cs[ch])
	}
	if isPair {
		d.stereo(&d.cs[0], &d.cs[1])
	}
	for ch := range got {
		cs := &d.cs[ch]
		if cs.tnsPresent {
			d.applyTNS(cs)
		}
		d.synthesize(cs, &d.state[ch], out, ch)
	}
	d.stats.frames++
	return nil
}

// parseCPE reads channel_pair_element() after its id.
func (d *Decoder) parseCPE(left, right *channelStream) error {
	r := &d.br
	r.skip(4) // element_instance_tag
	common := r.readBit()
	if common {
		if err := d.parseICSInfo(&left.info); err != nil {
			return err
		}
		right.info = left.info
		d.msMode = int(r.read(2))
		switch d.msMode {
		case 1:
			for g := range left.info.numGroups {
				for sfb := range left.info.maxSfb {
					d.msUsed[g*maxBandsPerWin+sfb] = r.readBit()
				}
			}
		case 2:
			for g := range left.info.numGroups {
				for sfb := range left.info.maxSfb {
					d.msUsed[g*maxBandsPerWin+sfb] = true
				}
			}
		case 3:
			return errInvalid("reserved ms_mask_present 3")
		}
	}
	if err := d.parseICS(left, common); err != nil {
		return err
	}
	return d.parseICS(right, common)
}
