package flvtag

import (
	"bytes"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
)

// A packet whose tag body is longer than the 24-bit DataSize can say has no
// tag; the tags around it still parse back, with nothing left over. Before,
// its size wrapped and the viewer lost the tag stream from there on.
func TestOversizePacketHasNoTag(t *testing.T) {
	before := bytes.Repeat([]byte{7}, 3000)
	after := bytes.Repeat([]byte{8}, 70000)
	cases := []struct {
		name    string
		dts     time.Duration
		payload []byte
		sent    bool
	}{
		{"before", 40 * time.Millisecond, before, true},
		{"over 16 MiB", 80 * time.Millisecond, make([]byte, maxDataSize), false},
		{"after", 120 * time.Millisecond, after, true},
	}
	var stream []byte
	for _, c := range cases {
		p := &media.Packet{Track: h264Track, DTS: c.dts, PTS: c.dts, Keyframe: true, Payload: c.payload}
		bufs := PacketTag(p)
		if sent := len(bufs) > 0; sent != c.sent {
			t.Errorf("%s: %d buffers, want sent=%v", c.name, len(bufs), c.sent)
		}
		for _, b := range bufs {
			stream = append(stream, b...)
		}
	}
	for _, c := range cases {
		if !c.sent {
			continue
		}
		tag, rest, err := ParseTag(stream)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		stream = rest
		if tag.Type != TagVideo || tag.Timestamp != uint32(c.dts/time.Millisecond) || !bytes.HasSuffix(tag.Body, c.payload) || len(tag.Body) != 5+len(c.payload) {
			t.Errorf("%s: type %d ts %d, %d body bytes (want %d)", c.name, tag.Type, tag.Timestamp, len(tag.Body), 5+len(c.payload))
		}
	}
	if len(stream) != 0 {
		t.Errorf("%d bytes left after the last tag", len(stream))
	}
}

// A parameter set longer than the record's 16-bit length is refused, not
// written with a wrapped length.
func TestAVCRecordRefusesLongParameterSet(t *testing.T) {
	sps := []byte{0x67, 0x64, 0x00, 0x1f}
	long := append([]byte{0x68}, make([]byte, 1<<16)...)
	if _, err := AVCDecoderConfigurationRecord([][]byte{sps}, [][]byte{long}); err == nil {
		t.Error("a 65537-byte PPS was accepted")
	}
	if _, err := AVCDecoderConfigurationRecord([][]byte{append(sps, make([]byte, 1<<16)...)}, [][]byte{{0x68}}); err == nil {
		t.Error("a 65540-byte SPS was accepted")
	}
	if _, err := AVCDecoderConfigurationRecord([][]byte{sps}, [][]byte{make([]byte, 1<<16-1)}); err != nil {
		t.Errorf("a 65535-byte PPS: %v", err)
	}
}
