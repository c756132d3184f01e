package node

import (
	"context"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/metrics"
)

// wireMetrics builds the node's Prometheus registry, hands each component
// its instruments and serves GET /metrics on the HTTP port
// (metrics.onHTTPPort) and behind the REST API's keys (docs/metrics.md). It
// runs after every component, the API included, is wired.
func (n *Node) wireMetrics(cfg config.Config) {
	if !cfg.Metrics.Enabled {
		return
	}
	mc := metrics.Config{Version: Version, PerAppLabels: cfg.Metrics.PerAppLabels}
	if n.cluster != nil {
		mc.Node = n.cluster.self.ID // every series gets node="<id>"
	}
	m := metrics.New(mc)
	n.metrics = m
	n.media.rtmp.SetMeter(m.Protocol(metrics.RTMP))
	n.media.flv.SetMeter(m.Protocol(metrics.FLV))
	if n.webrtc != nil {
		n.webrtc.SetMeter(m.Protocol(metrics.WebRTC))
	}
	// The hub's derived tracks (AAC <-> Opus) count as transcoders under the
	// same names the WebRTC adapter's bridges used (minirtc_transcoder_*).
	n.media.transcodeMeter.set(m.Protocol(metrics.WebRTC))
	n.gateway.SetMeter(m.Errors("gateway"))
	if n.webhooks != nil {
		n.webhooks.SetMeter(m)
	}
	hub, channels, gw, limit := n.media.hub, n.channels, n.gateway, n.connLimit
	m.SetSources(metrics.Sources{
		Apps: func() []metrics.AppCount {
			counts := channels.AppCounts()
			out := make([]metrics.AppCount, len(counts))
			for i, c := range counts {
				out[i] = metrics.AppCount{App: c.App, Channels: c.Channels, Members: c.Members}
			}
			return out
		},
		Media: func() metrics.MediaStats {
			st := hub.Stats()
			ms := metrics.MediaStats{Streams: st.Streams, Drops: st.Drops}
			for _, s := range hub.StreamStats() {
				ms.GOPBytes += s.GOPBytes
			}
			return ms
		},
		GatewaySessions: gw.Sessions,
		TCPConnections:  limit.Open,
		Listeners: func() []metrics.ListenerStat {
			var out []metrics.ListenerStat
			for name, l := range n.Listeners() {
				out = append(out, metrics.ListenerStat{Name: name, State: l.State, AcceptErrors: l.AcceptErrors})
			}
			return out
		},
	})
	// Joins and leaves (by leave reason), whoever made them: gateway
	// sessions, token pushers, grace expiry, kicks.
	stop := n.channels.Observe(func(ev channel.Event) {
		switch ev.Kind {
		case channel.EventMemberJoined:
			m.MemberJoined(ev.App)
		case channel.EventMemberLeft:
			m.MemberLeft(ev.App, int(ev.LeaveReason), ev.LeaveReason.String())
		}
	})
	n.services = append(n.services, service{name: "metrics", run: func(ctx context.Context) error {
		<-ctx.Done()
		stop()
		return nil
	}})
	if cfg.Metrics.OnHTTPPort {
		n.mux.Handle("GET /metrics", m.Handler())
	}
	if n.api != nil {
		// Behind the API keys: /metrics on api.addr, /rest/metrics on the HTTP port.
		n.api.srv.Handle("GET /metrics", m.Handler())
	}
}

// Metrics is the node's metrics registry (nil when metrics.enabled is off).
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }
