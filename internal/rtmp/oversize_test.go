package rtmp

import (
	"bytes"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"

	"github.com/minirtc/minirtc/internal/media"
)

// A packet whose RTMP message would be longer than the 24-bit length of a
// message header can say is left out of the play stream; the messages
// around it still read back (an independent chunk reader). Before, its
// length wrapped and the viewer lost the chunk stream from there on.
func TestOversizeMessageLeftOut(t *testing.T) {
	before := bytes.Repeat([]byte{7}, 3000)
	after := bytes.Repeat([]byte{8}, 70000)
	cases := []struct {
		name    string
		dts     time.Duration
		payload []byte
		sent    bool
	}{
		{"before", 40 * time.Millisecond, before, true},
		{"over 16 MiB", 80 * time.Millisecond, make([]byte, maxMessageSize), false},
		{"after", 120 * time.Millisecond, after, true},
	}
	var stream bytes.Buffer
	for _, c := range cases {
		p := &media.Packet{Track: testH264, DTS: c.dts, PTS: c.dts, Keyframe: true, Payload: c.payload}
		chunks := packetChunks(p)
		if sent := len(chunks) > 0; sent != c.sent {
			t.Errorf("%s: %d chunks, want sent=%v", c.name, len(chunks), c.sent)
		}
		for _, b := range chunks {
			stream.Write(b)
		}
	}
	r := rawmessage.NewReader(&stream, bytecounter.NewReader(&stream), func(uint32) error { return nil })
	if err := r.SetChunkSize(playChunkSize); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if !c.sent {
			continue
		}
		msg, err := r.Read()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if msg.Timestamp != c.dts || msg.Type != msgTypeVideo || !bytes.HasSuffix(msg.Body, c.payload) || len(msg.Body) != 5+len(c.payload) {
			t.Errorf("%s: ts %v type %d, %d body bytes (want %d)", c.name, msg.Timestamp, msg.Type, len(msg.Body), 5+len(c.payload))
		}
	}
	if stream.Len() != 0 {
		t.Errorf("%d bytes left after the last message", stream.Len())
	}
}
