package media

import (
	"testing"

	"github.com/minirtc/minirtc/internal/config"
)

// TestZeroConfigIsConfigDefault: a hub built with a zero Config (library and
// test use) runs with the documented defaults of config media.*, not values
// of its own.
func TestZeroConfigIsConfigDefault(t *testing.T) {
	got := newTestHub(t, Config{}, nil).Config()
	want := config.Default().Media
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"media.readerQueue", got.QueueSize, want.ReaderQueue},
		{"media.gopCacheFrames", got.GOPMaxPackets, want.GOPCacheFrames},
		{"media.gopCacheBytes", got.GOPMaxBytes, want.GOPCacheBytes},
		{"media.publisherGrace", got.Grace, want.PublisherGrace},
		{"media.publisherStall", got.StallTimeout, want.PublisherStall},
		{"media.holdTimeout", got.HoldTimeout, want.HoldTimeout},
		{"media.audioWait", got.AudioWait, want.AudioWait},
	} {
		if c.got != c.want {
			t.Errorf("%s: hub uses %v, config.Default() says %v", c.key, c.got, c.want)
		}
	}
}
