package aac

import (
	"bytes"
	"errors"
	"testing"
)

// adtsCases feeds TestParseADTSHeader and the fuzz seeds.
var adtsCases = []struct {
	name string
	hdr  []byte
	want ADTSHeader
	err  error
}{
	// An ffmpeg-style header: 44.1 kHz stereo AAC-LC, 371-byte frame, VBR.
	{"lc-44100-stereo", []byte{0xff, 0xf1, 0x50, 0x80, 0x2e, 0x7f, 0xfc},
		ADTSHeader{ProtectionAbsent: true, ObjectType: 2, SampleRateIndex: 4, ChannelConfig: 2, FrameLength: 371, BufferFullness: 0x7ff, RawBlocks: 1}, nil},
	{"mpeg2-crc-8000-mono", []byte{0xff, 0xf8, 0x6c, 0x40, 0x02, 0x00, 0x03, 0x12, 0x34},
		ADTSHeader{MPEG2: true, ObjectType: 2, SampleRateIndex: 11, ChannelConfig: 1, FrameLength: 16, BufferFullness: 0, RawBlocks: 4}, nil},
	{"short", []byte{0xff, 0xf1, 0x50}, ADTSHeader{}, ErrInvalid},
	{"no-sync", []byte{0xff, 0x71, 0x50, 0x80, 0x2e, 0x7f, 0xfc}, ADTSHeader{}, ErrInvalid},
	{"layer-1", []byte{0xff, 0xf3, 0x50, 0x80, 0x2e, 0x7f, 0xfc}, ADTSHeader{}, ErrInvalid},
	{"rate-index-13", []byte{0xff, 0xf1, 0x74, 0x80, 0x2e, 0x7f, 0xfc}, ADTSHeader{}, ErrInvalid},
	{"length-below-header", []byte{0xff, 0xf1, 0x50, 0x80, 0x00, 0xdf, 0xfc}, ADTSHeader{}, ErrInvalid},
	{"crc-header-truncated", []byte{0xff, 0xf0, 0x50, 0x80, 0x2e, 0x7f, 0xfc, 0x00}, ADTSHeader{}, ErrInvalid},
}

func TestParseADTSHeader(t *testing.T) {
	for _, c := range adtsCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseADTSHeader(c.hdr)
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

func TestAppendADTSHeaderRoundTrip(t *testing.T) {
	for idx := range sampleRates {
		for _, chConf := range []int{1, 2, 7} {
			for _, n := range []int{0, 1, 371, adtsMaxFrameLen - adtsHeaderLen} {
				h := ADTSHeader{ProtectionAbsent: true, ObjectType: ObjectTypeLC, SampleRateIndex: idx,
					ChannelConfig: chConf, BufferFullness: 0x123, RawBlocks: 2}
				b, err := AppendADTSHeader([]byte{0xaa}, h, n)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) != 1+adtsHeaderLen || b[0] != 0xaa {
					t.Fatalf("appended %x", b)
				}
				got, err := ParseADTSHeader(b[1:])
				h.FrameLength = n + adtsHeaderLen
				if err != nil || got != h {
					t.Fatalf("round trip: %+v -> %x -> %+v, %v", h, b[1:], got, err)
				}
				if got.Config().SampleRate != sampleRates[idx] {
					t.Fatalf("config rate %d", got.Config().SampleRate)
				}
			}
		}
	}
	// The ffmpeg header of adtsCases[0].
	b, err := AppendADTSHeader(nil, ADTSHeader{ProtectionAbsent: true, ObjectType: 2, SampleRateIndex: 4, ChannelConfig: 2}, 371-7)
	if err != nil || !bytes.Equal(b, adtsCases[0].hdr) {
		t.Fatalf("got %x, %v; want %x", b, err, adtsCases[0].hdr)
	}
}

func TestAppendADTSHeaderErrors(t *testing.T) {
	ok := ADTSHeader{ProtectionAbsent: true, ObjectType: 2, SampleRateIndex: 3, ChannelConfig: 2}
	for _, c := range []struct {
		name string
		mod  func(*ADTSHeader)
		n    int
		want error
	}{
		{"crc", func(h *ADTSHeader) { h.ProtectionAbsent = false }, 10, ErrUnsupported},
		{"he-aac", func(h *ADTSHeader) { h.ObjectType = 5 }, 10, ErrInvalid},
		{"rate", func(h *ADTSHeader) { h.SampleRateIndex = 13 }, 10, ErrInvalid},
		{"channels", func(h *ADTSHeader) { h.ChannelConfig = 8 }, 10, ErrInvalid},
		{"too-long", func(*ADTSHeader) {}, adtsMaxFrameLen, ErrInvalid},
		{"negative", func(*ADTSHeader) {}, -1, ErrInvalid},
		{"blocks", func(h *ADTSHeader) { h.RawBlocks = 5 }, 10, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := ok
			c.mod(&h)
			if _, err := AppendADTSHeader(nil, h, c.n); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestSplitADTS(t *testing.T) {
	h := ADTSHeader{ProtectionAbsent: true, ObjectType: 2, SampleRateIndex: 3, ChannelConfig: 2}
	var stream []byte
	for i := range 3 {
		stream, _ = AppendADTSHeader(stream, h, i+1)
		stream = append(stream, bytes.Repeat([]byte{byte(i)}, i+1)...)
	}
	frames, err := SplitADTS(stream)
	if err != nil || len(frames) != 3 {
		t.Fatalf("%d frames, %v", len(frames), err)
	}
	for i, f := range frames {
		if !bytes.Equal(f.Payload, bytes.Repeat([]byte{byte(i)}, i+1)) {
			t.Fatalf("frame %d payload %x", i, f.Payload)
		}
	}
	frames, err = SplitADTS(stream[:len(stream)-1])
	if !errors.Is(err, ErrInvalid) || len(frames) != 2 {
		t.Fatalf("truncated stream: %d frames, %v", len(frames), err)
	}
	frames, err = SplitADTS(append(stream[:len(stream):len(stream)], 0x00, 0x01))
	if !errors.Is(err, ErrInvalid) || len(frames) != 3 {
		t.Fatalf("trailing garbage: %d frames, %v", len(frames), err)
	}
}
