package aac

import (
	"errors"
	"math"
	"os"
	"testing"
)

// fuzzConfigs are the stream layouts FuzzDecode picks from with its first
// input byte.
var fuzzConfigs = []Config{
	{ObjectType: 2, SampleRate: 22050, SampleRateIndex: 7, ChannelConfig: 1, Channels: 1, FrameLength: 1024},
	{ObjectType: 2, SampleRate: 48000, SampleRateIndex: 3, ChannelConfig: 2, Channels: 2, FrameLength: 1024},
	{ObjectType: 2, SampleRate: 8000, SampleRateIndex: 11, ChannelConfig: 1, Channels: 1, FrameLength: 1024},
	{ObjectType: 2, SampleRate: 96000, SampleRateIndex: 0, ChannelConfig: 2, Channels: 2, FrameLength: 1024},
}

// testStreams are the committed ADTS streams (made by ffmpeg's encoder) and
// the fuzzConfigs entry matching each.
var testStreams = []struct {
	file string
	cfg  byte
}{
	{"testdata/mono22k.aac", 0},
	{"testdata/stereo48k.aac", 1},
}

func loadTestFrames(tb testing.TB, file string) []ADTSFrame {
	tb.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	frames, err := SplitADTS(data)
	if err != nil {
		tb.Fatal(err)
	}
	return frames
}

// checkDecodeResult is what must hold for any input: an error from the
// documented set, or exactly one frame of finite samples per channel.
func checkDecodeResult(t *testing.T, d *Decoder, out []float32, err error, blocks int) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("error outside the documented set: %v", err)
		}
		return
	}
	if len(out) != blocks*FrameLength*d.channels {
		t.Fatalf("%d samples for %d blocks", len(out), blocks)
	}
	for i, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("sample %d is %v", i, v)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range testStreams {
		for i, fr := range loadTestFrames(f, s.file) {
			if i%4 == 0 {
				f.Add(append([]byte{s.cfg}, fr.Payload...))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		d, err := NewDecoderConfig(fuzzConfigs[int(data[0])%len(fuzzConfigs)])
		if err != nil {
			t.Fatal(err)
		}
		// Twice, so the second call runs with state left by the first.
		for range 2 {
			out, err := d.Decode(data[1:])
			checkDecodeResult(t, d, out, err, 1)
		}
		if h, err := ParseADTSHeader(data[1:]); err == nil {
			out, err := d.DecodeADTS(data[1:])
			checkDecodeResult(t, d, out, err, h.RawBlocks)
		}
	})
}

func FuzzParseAudioSpecificConfig(f *testing.F) {
	for _, c := range ascCases {
		f.Add(c.asc)
	}
	f.Fuzz(func(t *testing.T, asc []byte) {
		c, err := ParseAudioSpecificConfig(asc)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error outside the documented set: %v", err)
			}
			return
		}
		if d, err := NewDecoder(asc); err == nil && (d.channels < 1 || d.channels > maxChannels) {
			t.Fatalf("decoder with %d channels", d.channels)
		}
		if c.SBR || c.ChannelConfig == 0 || c.ChannelConfig > 7 || c.ObjectType >= 31 {
			return
		}
		switch c.ObjectType {
		case 1, 2, 3, 4, 6, 7:
		default:
			return // not written by Marshal, or ER types with fields Config drops
		}
		b, err := c.Marshal()
		if err != nil {
			t.Fatalf("marshal %+v: %v", c, err)
		}
		c2, err := ParseAudioSpecificConfig(b)
		if err != nil || c2 != c {
			t.Fatalf("round trip %x: %+v -> %x -> %+v, %v", asc, c, b, c2, err)
		}
	})
}

func FuzzParseADTS(f *testing.F) {
	for _, c := range adtsCases {
		f.Add(c.hdr)
	}
	for _, s := range testStreams {
		data, err := os.ReadFile(s.file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 600)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, err := SplitADTS(data)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error outside the documented set: %v", err)
		}
		total := 0
		for _, fr := range frames {
			total += fr.Header.FrameLength
		}
		if total > len(data) || (err == nil && total != len(data)) {
			t.Fatalf("frames cover %d of %d bytes (err %v)", total, len(data), err)
		}
		h, err := ParseADTSHeader(data)
		if err != nil || !h.ProtectionAbsent {
			return
		}
		b, err := AppendADTSHeader(nil, h, h.FrameLength-adtsHeaderLen)
		if err != nil {
			t.Fatalf("append %+v: %v", h, err)
		}
		h2, err := ParseADTSHeader(b)
		if h.BufferFullness == 0 {
			h.BufferFullness = adtsVBRFullness // AppendADTSHeader: zero means VBR
		}
		if err != nil || h2 != h {
			t.Fatalf("round trip %+v -> %x -> %+v, %v", h, b, h2, err)
		}
	})
}

// TestDecodeCorruptInput truncates and bit-flips every access unit of the
// committed streams: the decoder must return an error or a frame, never
// panic, and keep decoding the intact stream afterwards.
func TestDecodeCorruptInput(t *testing.T) {
	for _, s := range testStreams {
		frames := loadTestFrames(t, s.file)
		d, err := NewDecoderConfig(fuzzConfigs[s.cfg])
		if err != nil {
			t.Fatal(err)
		}
		errs := 0
		seed := uint32(12345)
		for _, fr := range frames {
			au := fr.Payload
			for n := 0; n < len(au); n += 1 + len(au)/16 {
				out, err := d.Decode(au[:n])
				checkDecodeResult(t, d, out, err, 1)
				if err != nil {
					errs++
				}
			}
			bad := make([]byte, len(au))
			for range 16 {
				copy(bad, au)
				for range 3 {
					seed = seed*1664525 + 1013904223
					bit := int(seed>>8) % (8 * len(bad))
					bad[bit/8] ^= 0x80 >> (bit % 8)
				}
				out, err := d.Decode(bad)
				checkDecodeResult(t, d, out, err, 1)
			}
			if _, err := d.Decode(au); err != nil {
				t.Fatalf("%s: intact access unit after corrupt ones: %v", s.file, err)
			}
		}
		if errs == 0 {
			t.Fatalf("%s: no truncated access unit was rejected", s.file)
		}
		t.Logf("%s: %d frames, %d truncations rejected", s.file, len(frames), errs)
	}
}
