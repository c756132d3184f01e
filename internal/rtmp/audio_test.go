package rtmp

import (
	"testing"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/minirtc/minirtc/internal/media"
)

// TestPlayAudio: a viewer takes AAC (derived from Opus when the publisher
// sends Opus) unless its connect lists Opus among its enhanced-RTMP codecs.
func TestPlayAudio(t *testing.T) {
	cases := []struct {
		name  string
		list  amf0.StrictArray
		codec media.Codec
	}{
		{"legacy player (live-player, ffmpeg 5)", nil, media.CodecAAC},
		{"enhanced player without Opus", amf0.StrictArray{"avc1", "hvc1", "mp4a"}, media.CodecAAC},
		{"enhanced player with Opus", amf0.StrictArray{"hvc1", "Opus", "mp4a"}, media.CodecUnknown},
		{"odd entries", amf0.StrictArray{1.0, nil, "opus"}, media.CodecAAC},
	}
	for _, c := range cases {
		if got := playAudio(c.list); got != c.codec {
			t.Errorf("%s: %s, want %s", c.name, got, c.codec)
		}
	}
}
