package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/flv"
	"github.com/minirtc/minirtc/internal/rtmp"
	"github.com/minirtc/minirtc/internal/store"
)

// TestMediaConfigMapping: the rtmp and media keys reach the RTMP and FLV
// servers; zero timeouts leave the components' defaults, and the batch
// interval is the egress loop's least pass spacing (0: none, the adaptive
// default).
func TestMediaConfigMapping(t *testing.T) {
	for _, c := range []struct {
		name                       string
		handshake, read, write, iv time.Duration
		preAuth, maxMsg            int
		wantRTMP                   rtmp.Config
		wantFLV                    flv.Config
	}{
		{"set", 3 * time.Second, 4 * time.Second, 5 * time.Second, 40 * time.Millisecond, 32 << 10, 2 << 20,
			rtmp.Config{HandshakeTimeout: 3 * time.Second, ReadTimeout: 4 * time.Second, WriteTimeout: 5 * time.Second, BatchInterval: 40 * time.Millisecond,
				PreAuthMaxMessageSize: 32 << 10, MaxMessageSize: 2 << 20},
			flv.Config{WriteTimeout: 5 * time.Second, BatchInterval: 40 * time.Millisecond}},
		{"defaults", 0, 0, 0, 0, 0, 0,
			rtmp.Config{HandshakeTimeout: defaults.RTMPHandshakeTimeout, ReadTimeout: defaults.RTMPReadTimeout, WriteTimeout: defaults.MediaWriteTimeout, BatchInterval: defaults.MediaBatchInterval,
				PreAuthMaxMessageSize: defaults.RTMPPreAuthMaxMessageSize, MaxMessageSize: defaults.RTMPMaxMessageSize},
			flv.Config{WriteTimeout: defaults.MediaWriteTimeout, BatchInterval: defaults.MediaBatchInterval}},
		{"spaced passes", 0, 0, 0, 100 * time.Millisecond, 0, 0,
			rtmp.Config{HandshakeTimeout: defaults.RTMPHandshakeTimeout, ReadTimeout: defaults.RTMPReadTimeout, WriteTimeout: defaults.MediaWriteTimeout, BatchInterval: 100 * time.Millisecond,
				PreAuthMaxMessageSize: defaults.RTMPPreAuthMaxMessageSize, MaxMessageSize: defaults.RTMPMaxMessageSize},
			flv.Config{WriteTimeout: defaults.MediaWriteTimeout, BatchInterval: 100 * time.Millisecond}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.RTMP.HandshakeTimeout, cfg.RTMP.ReadTimeout = c.handshake, c.read
			cfg.Media.WriteTimeout, cfg.Media.BatchInterval = c.write, c.iv
			cfg.RTMP.PreAuthMaxMessageSize, cfg.RTMP.MaxMessageSize = c.preAuth, c.maxMsg
			n, err := NewWithStore(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), store.NewMemory())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- n.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("run: %v", err)
				}
			}()
			if got := n.media.rtmp.Config(); got != c.wantRTMP {
				t.Errorf("rtmp config %+v, want %+v", got, c.wantRTMP)
			}
			if got := n.media.flv.Config(); got != c.wantFLV {
				t.Errorf("flv config %+v, want %+v", got, c.wantFLV)
			}
			if got, want := n.media.hub.Config().StallTimeout, cfg.Media.PublisherStall; got != want {
				t.Errorf("hub stall timeout %s, want media.publisherStall %s", got, want)
			}
		})
	}
}
