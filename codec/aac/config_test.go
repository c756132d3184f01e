package aac

import (
	"bytes"
	"errors"
	"testing"
)

// ascCases feeds TestParseAudioSpecificConfig and the fuzz seeds.
var ascCases = []struct {
	name string
	asc  []byte
	want Config
	err  error
}{
	{"lc-44100-stereo", []byte{0x12, 0x10}, Config{ObjectType: 2, SampleRate: 44100, SampleRateIndex: 4, ChannelConfig: 2, Channels: 2, FrameLength: 1024}, nil},
	{"lc-48000-stereo", []byte{0x11, 0x90}, Config{ObjectType: 2, SampleRate: 48000, SampleRateIndex: 3, ChannelConfig: 2, Channels: 2, FrameLength: 1024}, nil},
	{"lc-8000-mono", []byte{0x15, 0x88}, Config{ObjectType: 2, SampleRate: 8000, SampleRateIndex: 11, ChannelConfig: 1, Channels: 1, FrameLength: 1024}, nil},
	{"lc-7350-mono", []byte{0x16, 0x08}, Config{ObjectType: 2, SampleRate: 7350, SampleRateIndex: 12, ChannelConfig: 1, Channels: 1, FrameLength: 1024}, nil},
	// Explicit 24-bit rate (index 15): 44056 Hz = 0x00ac18.
	{"lc-explicit-44056", []byte{0x17, 0x80, 0x56, 0x0c, 0x10}, Config{ObjectType: 2, SampleRate: 44056, SampleRateIndex: 15, ChannelConfig: 2, Channels: 2, FrameLength: 1024}, nil},
	{"lc-960", []byte{0x11, 0x94}, Config{ObjectType: 2, SampleRate: 48000, SampleRateIndex: 3, ChannelConfig: 2, Channels: 2, FrameLength: 960}, nil},
	{"lc-5.1", []byte{0x11, 0xb0}, Config{ObjectType: 2, SampleRate: 48000, SampleRateIndex: 3, ChannelConfig: 6, Channels: 6, FrameLength: 1024}, nil},
	{"main", []byte{0x0a, 0x10}, Config{ObjectType: 1, SampleRate: 44100, SampleRateIndex: 4, ChannelConfig: 2, Channels: 2, FrameLength: 1024}, nil},
	{"sbr-hierarchical", []byte{0x2b, 0x11, 0x88, 0x00}, Config{ObjectType: 2, SampleRate: 24000, SampleRateIndex: 6, ChannelConfig: 2, Channels: 2, FrameLength: 1024, SBR: true, ExtensionSampleRate: 48000}, nil},
	{"ps-hierarchical", []byte{0xeb, 0x11, 0x88, 0x00}, Config{ObjectType: 2, SampleRate: 24000, SampleRateIndex: 6, ChannelConfig: 2, Channels: 2, FrameLength: 1024, SBR: true, PS: true, ExtensionSampleRate: 48000}, nil},
	{"sbr-backward-compatible", []byte{0x13, 0x10, 0x56, 0xe5, 0x98}, Config{ObjectType: 2, SampleRate: 24000, SampleRateIndex: 6, ChannelConfig: 2, Channels: 2, FrameLength: 1024, SBR: true, ExtensionSampleRate: 48000}, nil},
	// channelConfiguration 0 with a PCE: one front CPE (stereo), no comment.
	{"pce-stereo", []byte{0x12, 0x00, 0x05, 0x00, 0x80, 0x00, 0x00, 0x10, 0x00}, Config{ObjectType: 2, SampleRate: 44100, SampleRateIndex: 4, ChannelConfig: 0, Channels: 2, FrameLength: 1024}, nil},
	{"empty", nil, Config{}, ErrInvalid},
	{"one-byte", []byte{0x12}, Config{}, ErrInvalid},
	{"reserved-rate-13", []byte{0x16, 0x90}, Config{}, ErrInvalid},
	{"explicit-rate-truncated", []byte{0x17, 0x80, 0x56}, Config{}, ErrInvalid},
	{"pce-truncated", []byte{0x12, 0x00, 0x05}, Config{}, ErrInvalid},
	// 0 channels (issue #13 item 7): refused at parse, not at the first frame.
	// channelConfiguration 0 with a PCE that declares no element.
	{"pce-no-channels", []byte{0x12, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00}, Config{}, ErrInvalid},
	// Reserved channelConfiguration 8 and 15.
	{"reserved-channel-config-8", []byte{0x12, 0x40}, Config{}, ErrInvalid},
	{"reserved-channel-config-15", []byte{0x12, 0x78}, Config{}, ErrInvalid},
	// A PCE without channel elements (found by FuzzParseAudioSpecificConfig:
	// NewDecoder accepted it with 0 channels).
	{"pce-no-channels-fuzzed", []byte{0x10, 0x00, 0x30, 0x80, 0x00, 0x20, 0x30, 0x00}, Config{}, ErrInvalid},
}

func TestParseAudioSpecificConfig(t *testing.T) {
	for _, c := range ascCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAudioSpecificConfig(c.asc)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestConfigMarshalRoundTrip(t *testing.T) {
	for idx, rate := range sampleRates {
		for _, chConf := range []int{1, 2, 6, 7} {
			c := Config{ObjectType: ObjectTypeLC, SampleRate: rate, SampleRateIndex: idx, ChannelConfig: chConf,
				Channels: channelsOfConfig[chConf], FrameLength: FrameLength}
			b, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseAudioSpecificConfig(b)
			if err != nil || got != c {
				t.Fatalf("round trip of %+v: %x -> %+v, %v", c, b, got, err)
			}
		}
	}
	// The worked example of aac_lc_syntax.md, and a non-standard rate.
	b, err := Config{ObjectType: 2, SampleRate: 44100, Channels: 2}.Marshal()
	if err != nil || !bytes.Equal(b, []byte{0x12, 0x10}) {
		t.Fatalf("44.1 kHz stereo = %x, %v; want 1210", b, err)
	}
	b, err = Config{ObjectType: 2, SampleRate: 44056, Channels: 2}.Marshal()
	if err != nil || !bytes.Equal(b, []byte{0x17, 0x80, 0x56, 0x0c, 0x10}) {
		t.Fatalf("44056 Hz stereo = %x, %v", b, err)
	}
}

func TestConfigMarshalErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"sbr", Config{ObjectType: 2, SampleRate: 48000, Channels: 2, SBR: true}, ErrUnsupported},
		{"aot-5", Config{ObjectType: 5, SampleRate: 48000, Channels: 2}, ErrUnsupported},
		{"aot-0", Config{ObjectType: 0, SampleRate: 48000, Channels: 2}, ErrUnsupported},
		{"3-channels-no-config-7", Config{ObjectType: 2, SampleRate: 48000, Channels: 7}, ErrUnsupported},
		{"bad-config", Config{ObjectType: 2, SampleRate: 48000, ChannelConfig: 9}, ErrInvalid},
		{"rate-0", Config{ObjectType: 2, SampleRate: 0, Channels: 2}, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.cfg.Marshal(); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// TestExplicitSampleRate: a rate given explicitly (index 15) uses the band
// tables of the nearest standard rate, and an explicit 48000 decodes exactly
// like index 3.
func TestExplicitSampleRate(t *testing.T) {
	for _, c := range []struct{ rate, idx int }{
		{96000, 0}, {92017, 0}, {92016, 1}, {48000, 3}, {46009, 3}, {46008, 4},
		{44056, 4}, {11500, 10}, {9391, 10}, {9390, 11}, {7350, 11}, {1000, 11},
	} {
		if got := bandTableIndex(escapeRateIndex, c.rate); got != c.idx {
			t.Errorf("rate %d uses tables of index %d, want %d", c.rate, got, c.idx)
		}
	}
	frames := loadTestFrames(t, "testdata/stereo48k.aac")
	asc, err := Config{ObjectType: ObjectTypeLC, SampleRate: 48000, SampleRateIndex: escapeRateIndex, ChannelConfig: 2, Channels: 2, FrameLength: FrameLength}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	explicit, err := NewDecoder(asc)
	if err != nil {
		t.Fatal(err)
	}
	standard, _ := NewDecoder([]byte{0x11, 0x90})
	for i, fr := range frames {
		want, err1 := standard.Decode(fr.Payload)
		got, err2 := explicit.Decode(fr.Payload)
		if err1 != nil || err2 != nil || !slicesEqual(got, want) {
			t.Fatalf("frame %d: explicit rate decodes differently (%v, %v)", i, err1, err2)
		}
	}
}
