package flvtag

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
)

var (
	h264Track = &media.Track{Codec: media.CodecH264,
		SPS: [][]byte{{0x67, 0x64, 0x00, 0x1f, 0xac}}, PPS: [][]byte{{0x68, 0xeb}},
		Width: 320, Height: 240, FrameRate: 25}
	aacTrack  = &media.Track{Codec: media.CodecAAC, Config: []byte{0x12, 0x10}, SampleRate: 44100, Channels: 2}
	hevcTrack = &media.Track{Codec: media.CodecH265, Config: []byte{1, 2, 3}}
	opusTrack = &media.Track{Codec: media.CodecOpus, Config: []byte("OpusHead\x01\x02"), SampleRate: 48000, Channels: 2}
)

// tagCases feed the muxer round-trip test and the fuzz seeds.
var tagCases = []struct {
	name string
	p    *media.Packet
}{
	{"h264-key", &media.Packet{Track: h264Track, DTS: 40 * time.Millisecond, PTS: 80 * time.Millisecond, Keyframe: true, Payload: []byte{0, 0, 0, 2, 0x65, 0x88}}},
	{"h264-inter", &media.Packet{Track: h264Track, DTS: 80 * time.Millisecond, PTS: 80 * time.Millisecond, Payload: []byte{0, 0, 0, 2, 0x41, 0x9a}}},
	{"h264-ext-ts", &media.Packet{Track: h264Track, DTS: 5 * time.Hour, PTS: 5 * time.Hour, Payload: []byte{0, 0, 0, 1, 0x41}}},
	{"aac", &media.Packet{Track: aacTrack, DTS: 23 * time.Millisecond, PTS: 23 * time.Millisecond, Keyframe: true, Payload: []byte{0x21, 0x10, 0x05}}},
	{"hevc", &media.Packet{Track: hevcTrack, DTS: time.Second, PTS: time.Second + 40*time.Millisecond, Keyframe: true, Payload: []byte{0, 0, 0, 1, 0x26}}},
	{"opus", &media.Packet{Track: opusTrack, DTS: 20 * time.Millisecond, PTS: 20 * time.Millisecond, Keyframe: true, Payload: []byte{0xfc, 1, 2}}},
}

func TestPacketTagRoundTrip(t *testing.T) {
	for _, c := range tagCases {
		t.Run(c.name, func(t *testing.T) {
			raw := bytes.Join(PacketTag(c.p), nil)
			tag, rest, err := ParseTag(raw)
			if err != nil || len(rest) != 0 {
				t.Fatalf("parse: %v (rest %d)", err, len(rest))
			}
			if tag.Timestamp != uint32(c.p.DTS/time.Millisecond) {
				t.Errorf("timestamp %d, want %d", tag.Timestamp, c.p.DTS/time.Millisecond)
			}
			cts := int32((c.p.PTS - c.p.DTS) / time.Millisecond)
			switch c.p.Kind() {
			case media.KindVideo:
				v, err := ParseVideoBody(tag.Body)
				if err != nil {
					t.Fatal(err)
				}
				if v.Keyframe != c.p.Keyframe || v.CTS != cts || !bytes.Equal(v.Data, c.p.Payload) || v.PacketType != 1 {
					t.Errorf("video body %+v", v)
				}
				if tag.Type != TagVideo || v.Enhanced != (c.p.Track.Codec == media.CodecH265) {
					t.Errorf("type %d enhanced %v", tag.Type, v.Enhanced)
				}
			case media.KindAudio:
				a, err := ParseAudioBody(tag.Body)
				if err != nil {
					t.Fatal(err)
				}
				if tag.Type != TagAudio || a.PacketType != 1 || !bytes.Equal(a.Data, c.p.Payload) {
					t.Errorf("audio body %+v", a)
				}
			}
			// Built once: a second call returns the same buffers.
			first, second := PacketTag(c.p), PacketTag(c.p)
			if &first[0][0] != &second[0][0] {
				t.Error("tag bytes rebuilt")
			}
		})
	}
}

func TestSequenceHeaders(t *testing.T) {
	body, err := SequenceHeader(h264Track)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVideoBody(body)
	if err != nil || v.PacketType != 0 || !v.Keyframe || v.CodecID != 7 {
		t.Fatalf("AVC sequence header %+v %v", v, err)
	}
	// AVCDecoderConfigurationRecord: version 1, profile/compat/level from the SPS.
	rec := v.Data
	if rec[0] != 1 || rec[1] != 0x64 || rec[3] != 0x1f || rec[5]&0x1f != 1 {
		t.Fatalf("record % x", rec)
	}
	spsLen := int(binary.BigEndian.Uint16(rec[6:]))
	if !bytes.Equal(rec[8:8+spsLen], h264Track.SPS[0]) {
		t.Fatalf("record SPS % x", rec)
	}
	body, _ = SequenceHeader(aacTrack)
	a, _ := ParseAudioBody(body)
	if a.PacketType != 0 || !bytes.Equal(a.Data, aacTrack.Config) {
		t.Fatalf("AAC sequence header %+v", a)
	}
	if _, err := SequenceHeader(&media.Track{Codec: media.CodecAAC}); err == nil {
		t.Fatal("AAC without config accepted")
	}
}

func TestMetaData(t *testing.T) {
	vals, err := DecodeAMF0(MetaData(h264Track, aacTrack))
	if err != nil || len(vals) != 2 || vals[0] != "onMetaData" {
		t.Fatalf("metadata %v %v", vals, err)
	}
	o := vals[1].(Object)
	for k, want := range map[string]any{"width": 320.0, "height": 240.0, "framerate": 25.0,
		"videocodecid": 7.0, "audiocodecid": 10.0, "audiosamplerate": 44100.0, "stereo": true} {
		if got, _ := o.Get(k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	vals, _ = DecodeAMF0(MetaData(nil, aacTrack))
	if _, ok := vals[1].(Object).Get("videocodecid"); ok {
		t.Error("audio-only metadata names a video codec")
	}
}

func TestHeader(t *testing.T) {
	for _, c := range []struct{ v, a bool }{{true, true}, {true, false}, {false, true}} {
		hv, ha, rest, err := ParseHeader(Header(c.v, c.a))
		if err != nil || hv != c.v || ha != c.a || len(rest) != 0 {
			t.Errorf("%v: %v %v %v %v", c, hv, ha, len(rest), err)
		}
	}
}

func TestAMF0RoundTrip(t *testing.T) {
	in := Object{{"a", 1.5}, {"b", "x"}, {"c", true}, {"d", nil}, {"e", Object{{"f", 2.0}}}}
	b, err := AppendAMF0(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeAMF0(b)
	if err != nil || len(out) != 1 {
		t.Fatal(err)
	}
	o := out[0].(Object)
	if len(o) != 5 || o[4].Value.(Object)[0].Value != 2.0 {
		t.Fatalf("%#v", o)
	}
}

func FuzzParseTag(f *testing.F) {
	for _, c := range tagCases {
		f.Add(bytes.Join(PacketTag(c.p), nil))
	}
	f.Add(AppendTag(nil, TagScript, 0, MetaData(h264Track, aacTrack)))
	f.Fuzz(func(t *testing.T, b []byte) {
		tag, _, err := ParseTag(b)
		if err != nil {
			return
		}
		switch tag.Type {
		case TagVideo:
			_, _ = ParseVideoBody(tag.Body)
		case TagAudio:
			_, _ = ParseAudioBody(tag.Body)
		case TagScript:
			_, _ = DecodeAMF0(tag.Body)
		}
		// Re-muxing the parsed tag parses back to the same tag.
		again, rest, err := ParseTag(AppendTag(nil, tag.Type, tag.Timestamp, tag.Body))
		if err != nil || len(rest) != 0 || again.Type != tag.Type || again.Timestamp != tag.Timestamp || !bytes.Equal(again.Body, tag.Body) {
			t.Fatalf("round trip: %+v -> %+v (%v)", tag, again, err)
		}
	})
}

func FuzzDecodeAMF0(f *testing.F) {
	f.Add(MetaData(h264Track, aacTrack))
	f.Add([]byte{0x0a, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x05})
	f.Add([]byte{0x03, 0, 1, 'a', 0x03, 0, 0, 9, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := DecodeAMF0(b)
		if err != nil {
			return
		}
		// What we decode, we can encode and decode again to the same values.
		var enc []byte
		for _, v := range vals {
			if e, err := AppendAMF0(enc, v); err == nil {
				enc = e
			} else {
				return // strict arrays are decoded but never encoded
			}
		}
		if _, err := DecodeAMF0(enc); err != nil {
			t.Fatalf("re-encoded values do not decode: %v", err)
		}
	})
}

func BenchmarkPacketTag(b *testing.B) {
	payload := make([]byte, 2500) // 500 kbit/s at 25 fps
	tr := h264Track
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for i := 0; b.Loop(); i++ {
		p := &media.Packet{Track: tr, DTS: time.Duration(i) * 40 * time.Millisecond, Payload: payload}
		_ = PacketTag(p)
	}
}
