package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/egress"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/flv"
	"github.com/minirtc/minirtc/internal/listen"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/rtmp"
	"github.com/minirtc/minirtc/internal/transcode"
)

// mediaPlane is the media hub with its RTMP and FLV adapters.
type mediaPlane struct {
	hub    *media.Hub
	rtmp   *rtmp.Server
	flv    *flv.Server
	rtmpLn net.Listener
	// rtmpRetry is the RTMP socket with its accept retry, below the
	// connection limits.
	rtmpRetry *listen.Listener
	// transcodeMeter meters the hub's derived tracks (wireMetrics sets it).
	transcodeMeter *lateMeter
}

// wireMedia builds the media hub, connects it to the channel model both ways
// (liveness reports in, stream stops and kicks out) and adds the RTMP server
// and the HTTP/WS-FLV route. The RTMP listener opens here so that RTMPAddr is
// known before Run.
func (n *Node) wireMedia(cfg config.Config) error {
	mc := cfg.Media
	tm := &lateMeter{}
	hub, err := media.NewHub(media.Config{
		QueueSize:           mc.ReaderQueue,
		GOPMaxPackets:       mc.GOPCacheFrames,
		GOPMaxBytes:         mc.GOPCacheBytes,
		Grace:               mc.PublisherGrace,
		StallTimeout:        mc.PublisherStall,
		HoldTimeout:         mc.HoldTimeout,
		AudioWait:           hubAudioWait(mc.AudioWait),
		MaxPublishers:       mc.MaxPublishers,
		MaxReadersPerStream: mc.MaxReadersPerStream,
		Derive:              transcode.NewDeriveFunc(deriveConfig(tm)),
	}, channelObserver{n.channels, n.log}, n.log)
	if err != nil {
		return fmt.Errorf("node: media hub: %w", err)
	}
	auth := n.admission
	// Zero durations mean the component's default.
	rs, err := rtmp.NewServer(rtmpConfig(cfg), hub, auth, n.log)
	if err != nil {
		return fmt.Errorf("node: rtmp: %w", err)
	}
	fs, err := flv.NewServer(flvConfig(cfg), hub, auth, n.log)
	if err != nil {
		return fmt.Errorf("node: flv: %w", err)
	}
	// One egress loop writes every RTMP and HTTP-FLV viewer of the node.
	eg := egress.New(egress.Options{MinPass: cfg.Media.BatchInterval})
	rs.SetEgress(eg)
	fs.SetEgress(eg)
	raw, err := net.Listen("tcp", cfg.RTMP.Addr)
	if err != nil {
		return &ListenError{Listener: "RTMP", Addr: cfg.RTMP.Addr, Key: "rtmp.addr", Flag: "--rtmp-addr", Err: err}
	}
	rtmpStats := &listen.Stats{}
	// Accept retries temporary failures on the socket itself; the
	// connection limits apply to what it accepts.
	retry := listen.Wrap(raw, rtmpStats, n.log.With("component", "rtmp", "listener", "rtmp"))
	ln := n.connLimit.Wrap(retry, "rtmp")
	n.listeners = append(n.listeners, listenerStats{"rtmp", raw.Addr().String(), rtmpStats})
	n.media = &mediaPlane{hub: hub, rtmp: rs, flv: fs, rtmpLn: ln, rtmpRetry: retry, transcodeMeter: tm}
	// URLs handed out by the gateway name the port really bound (port 0 in tests).
	if _, rtmpPort, err := net.SplitHostPort(ln.Addr().String()); err == nil {
		if p, err := strconv.Atoi(rtmpPort); err == nil {
			n.gateway.SetRTMPPort(p)
		}
	}
	fs.Register(n.mux)

	// Channel -> media: a stream that ends in the channel (unpublish, leave,
	// media start timeout) drops its ingest and players. A kicked or departed
	// member's own players and ingests are closed by the admission gate.
	stopObs := n.channels.Observe(func(ev channel.Event) {
		uid := strconv.FormatUint(uint64(ev.UID), 10)
		switch ev.Kind {
		case channel.EventStreamStopped:
			if ev.StopReason == channel.StopMediaEnded {
				// The hub ended it itself; a pusher already back on the
				// same key must not be cut by this late echo.
				break
			}
			reason := error(errcode.NotPublishing("the stream was unpublished"))
			if ev.StopReason == channel.StopBanned {
				reason = errcode.Banned("a server rule took the publish privilege")
			}
			hub.EndStream(media.Key{AppID: ev.App, Channel: ev.Channel, UID: uid}, reason)
		case channel.EventKicked, channel.EventMemberLeft:
			reason := error(errcode.NotPublishing("the member left the channel"))
			if ev.Err != nil {
				reason = ev.Err
			}
			hub.EndStream(media.Key{AppID: ev.App, Channel: ev.Channel, UID: uid}, reason)
		}
	})
	n.services = append(n.services,
		service{name: "egress", run: func(ctx context.Context) error {
			eg.Run(ctx)
			return nil
		}},
		service{name: "rtmp", run: func(ctx context.Context) error {
			if err := rs.Serve(ctx, ln); err != nil && ctx.Err() == nil {
				// The listener failed for good: it logged why, its stats
				// say stopped and /healthz answers unhealthy. WebRTC and
				// HTTP-FLV keep serving until the node is restarted.
				<-ctx.Done()
			}
			return nil
		}},
		service{name: "media", run: func(ctx context.Context) error {
			<-ctx.Done()
			stopObs()
			hub.Close() // ends every reader, so FLV handlers return
			fs.Close()
			return nil
		}})
	return nil
}

// deriveConfig configures the hub's derived audio tracks (AAC for RTMP/FLV
// readers of an Opus publisher, Opus for WHEP readers of an AAC one). The
// bridges' bit rates and AAC channel count have no configuration keys: their
// defaults apply (32 kbit/s Opus and 64 kbit/s AAC per channel, mono AAC),
// as they did for the WebRTC adapter's own bridges.
func deriveConfig(m transcode.Meter) transcode.DeriveConfig {
	return transcode.DeriveConfig{Meter: m}
}

// lateMeter is the derived tracks' transcode.Meter: the hub is built before
// the metrics registry (wireMetrics), which sets the real one later; until
// then, and without metrics, it counts nothing.
type lateMeter struct {
	m atomic.Pointer[transcode.Meter]
}

func (l *lateMeter) set(m transcode.Meter) { l.m.Store(&m) }

func (l *lateMeter) TranscodeStarted(dir string) {
	if m := l.m.Load(); m != nil {
		(*m).TranscodeStarted(dir)
	}
}

func (l *lateMeter) TranscodeEnded(dir string) {
	if m := l.m.Load(); m != nil {
		(*m).TranscodeEnded(dir)
	}
}

func (l *lateMeter) TranscodeTime(dir string, d time.Duration) {
	if m := l.m.Load(); m != nil {
		(*m).TranscodeTime(dir, d)
	}
}

// rtmpConfig maps the node configuration onto the RTMP server's.
func rtmpConfig(cfg config.Config) rtmp.Config {
	return rtmp.Config{
		HandshakeTimeout:      cfg.RTMP.HandshakeTimeout,
		ReadTimeout:           cfg.RTMP.ReadTimeout,
		WriteTimeout:          cfg.Media.WriteTimeout,
		BatchInterval:         cfg.Media.BatchInterval,
		PreAuthMaxMessageSize: cfg.RTMP.PreAuthMaxMessageSize,
		MaxMessageSize:        cfg.RTMP.MaxMessageSize,
	}
}

// flvConfig maps the node configuration onto the FLV server's.
func flvConfig(cfg config.Config) flv.Config {
	return flv.Config{WriteTimeout: cfg.Media.WriteTimeout, BatchInterval: cfg.Media.BatchInterval}
}

// RTMPAddr is the address the RTMP listener is bound to.
func (n *Node) RTMPAddr() string { return n.media.rtmpLn.Addr().String() }

// Media is the node's media hub.
func (n *Node) Media() *media.Hub { return n.media.hub }

// channelObserver reports stream liveness from the hub to the channel model.
type channelObserver struct {
	ch  *channel.Manager
	log interface {
		Debug(msg string, args ...any)
	}
}

func (o channelObserver) uid(k media.Key) (uint32, bool) {
	u, err := strconv.ParseUint(k.UID, 10, 32)
	return uint32(u), err == nil
}

func (o channelObserver) report(what string, k media.Key, f func(app, ch string, uid uint32) error) {
	u, ok := o.uid(k)
	if !ok {
		return
	}
	if err := f(k.AppID, k.Channel, u); err != nil && !errors.Is(err, context.Canceled) {
		// The member may have left meanwhile; the channel has already moved on.
		o.log.Debug("media report not applied", "event", what, "app", k.AppID, "channel", k.Channel, "uid", k.UID, "err", err)
	}
}

func (o channelObserver) MediaStarted(k media.Key, _ media.Info) {
	o.report("started", k, o.ch.MediaStarted)
}
func (o channelObserver) MediaPaused(k media.Key) { o.report("paused", k, o.ch.MediaPaused) }
func (o channelObserver) MediaResumed(k media.Key, _ media.Info) {
	o.report("resumed", k, o.ch.MediaResumed)
}
func (o channelObserver) MediaStopped(k media.Key, _ error) {
	o.report("stopped", k, o.ch.MediaStopped)
}

// hubAudioWait maps media.audioWait (0: off) to media.Config.AudioWait
// (0: the default, negative: off).
func hubAudioWait(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
