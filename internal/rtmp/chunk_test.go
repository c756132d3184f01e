package rtmp

import (
	"bytes"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"

	"github.com/minirtc/minirtc/internal/flvtag"
	"github.com/minirtc/minirtc/internal/media"
)

var testH264 = &media.Track{Codec: media.CodecH264, SPS: [][]byte{{0x67, 0x42, 0, 0x1e}}, PPS: [][]byte{{0x68, 0xce}}}

// TestChunksReadByGortmplib: our shared play chunks, including messages
// larger than a chunk and timestamps past the 24-bit boundary (extended
// timestamps, repeated in continuation chunks), are read back by an
// independent RTMP chunk reader.
func TestChunksReadByGortmplib(t *testing.T) {
	big := bytes.Repeat([]byte{1, 2, 3, 4, 5}, 40000) // 200 kB: 4 chunks
	cases := []struct {
		name    string
		dts     time.Duration
		payload []byte
	}{
		{"small", 40 * time.Millisecond, []byte{0, 0, 0, 1, 0x41}},
		{"medium", time.Second, bytes.Repeat([]byte{9}, 3000)},
		{"multi-chunk", 2 * time.Second, big},
		{"extended-small", 4*time.Hour + 40*time.Minute, []byte{0, 0, 0, 1, 0x41}},
		{"extended-multi-chunk", 5 * time.Hour, big},
		{"extended-wrap-near", time.Duration(1<<32-1) * time.Millisecond, big[:70000]},
	}
	var stream bytes.Buffer
	var pkts []*media.Packet
	for _, c := range cases {
		p := &media.Packet{Track: testH264, DTS: c.dts, PTS: c.dts, Keyframe: true, Payload: c.payload}
		pkts = append(pkts, p)
		for _, b := range packetChunks(p) {
			stream.Write(b)
		}
	}
	r := rawmessage.NewReader(&stream, bytecounter.NewReader(&stream), func(uint32) error { return nil })
	if err := r.SetChunkSize(playChunkSize); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		msg, err := r.Read()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if msg.Timestamp != c.dts.Truncate(time.Millisecond) || msg.Type != msgTypeVideo || msg.MessageStreamID != gortmplibStreamID {
			t.Errorf("%s: ts %v type %d msid %d", c.name, msg.Timestamp, msg.Type, msg.MessageStreamID)
		}
		want := flvtag.AppendBodyPrefix(nil, pkts[i])
		want = append(want, c.payload...)
		if !bytes.Equal(msg.Body, want) {
			t.Errorf("%s: body differs (%d vs %d bytes)", c.name, len(msg.Body), len(want))
		}
	}
}

// gortmplib reads the message stream id big-endian, while the wire carries
// it little-endian (RTMP 1.0, 5.3.1.2.1): stream 1 reads as 0x1000000.
const gortmplibStreamID = 0x1000000

func TestStreamFromURL(t *testing.T) {
	cases := []struct {
		url, stream, sign string
		ok                bool
	}{
		{"rtmp://h/live/abc?expire=1&sign=x", "abc", "x", true},
		{"rtmp://h:1935/live/abc", "abc", "", true},
		{"rtmp://h/live?expire=1&sign=y/abc", "abc", "y", true},
		{"rtmp://h/other/abc?sign=x", "", "", false},
		{"rtmp://h/live/", "", "", false},
		{"rtmp://h/live/a/b", "", "", false},
	}
	for _, c := range cases {
		u, err := parseURL(c.url)
		if err != nil {
			t.Fatal(err)
		}
		s, q, err := streamFromURL(u)
		if (err == nil) != c.ok || s != c.stream || (c.ok && q.Get("sign") != c.sign) {
			t.Errorf("%s: %q %v %v", c.url, s, q, err)
		}
	}
}

func FuzzStreamFromURL(f *testing.F) {
	f.Add("rtmp://h/live/abc?expire=1&sign=x")
	f.Add("rtmp://h/live?expire=1&sign=y/abc")
	f.Add("rtmp://h/live/%zz")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseURL(s)
		if err != nil {
			return
		}
		name, _, err := streamFromURL(u)
		if err == nil && (name == "" || bytes.ContainsRune([]byte(name), '/')) {
			t.Fatalf("accepted stream name %q", name)
		}
	})
}

func FuzzAVCCWalk(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x67})
	f.Add([]byte{0, 0, 0, 9, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		avccHas(b, func(nal []byte) bool {
			if len(nal) == 0 {
				t.Fatal("empty NAL unit")
			}
			total += 4 + len(nal)
			return false
		})
		if total > len(b) {
			t.Fatalf("walked %d bytes of %d", total, len(b))
		}
	})
}

func BenchmarkPacketChunks(b *testing.B) {
	payload := make([]byte, 2500)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := &media.Packet{Track: testH264, DTS: time.Duration(i) * 40 * time.Millisecond, Payload: payload}
		_ = packetChunks(p)
	}
}
