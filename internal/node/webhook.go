package node

import (
	"context"
	"strconv"
	"strings"

	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/webhook"
)

// wireWebhooks delivers the channel model's events to each app's webhook
// endpoints (internal/webhook, docs/webhooks.md) and adds the webhook
// endpoints to the REST API. It runs after the API is wired.
func (n *Node) wireWebhooks(cfg config.Config) {
	wc := cfg.Webhooks
	hub, channels := n.media.hub, n.channels
	stream := func(app, ch string, uid uint32) webhook.StreamInfo {
		var si webhook.StreamInfo
		if m, ok := channels.Member(app, ch, uid); ok {
			switch {
			case strings.HasPrefix(m.PushURL, "rtmp"):
				si.Protocol = "rtmp"
			case m.Client.Kind != "":
				si.Protocol = m.Client.Kind
			}
		}
		u := strconv.FormatUint(uint64(uid), 10)
		for _, d := range hub.Streams() {
			if d.Key.AppID != app || d.Key.Channel != ch || d.Key.UID != u {
				continue
			}
			if d.Video != nil && d.Video.Codec != media.CodecUnknown {
				si.VideoCodec, si.Width, si.Height = d.Video.Codec.String(), d.Video.Width, d.Video.Height
			}
			if d.Audio != nil && d.Audio.Codec != media.CodecUnknown {
				si.AudioCodec = d.Audio.Codec.String()
			}
		}
		return si
	}
	whc := webhook.Config{RetryFor: wc.RetryFor, Timeout: wc.Timeout, Concurrency: wc.Concurrency,
		MinBackoff: wc.MinBackoff, MaxBackoff: wc.MaxBackoff, Retention: wc.Retention}
	if p := n.cluster; p != nil {
		// One delivery per event cluster-wide: this node sends its own
		// entries and adopts those of nodes gone from the registry.
		whc.Node, whc.SweepEvery = p.self.ID, cfg.Cluster.NodeTTL
		whc.Alive = func(ctx context.Context, id string) (bool, error) {
			_, ok, err := p.c.Node(ctx, id)
			return ok, err
		}
	}
	svc := webhook.New(whc, n.store, stream, n.log)
	n.webhooks = svc
	observe := svc.Observe
	if p := n.cluster; p != nil {
		if ms, ok := n.store.(memberStore); ok {
			// The grace of a dead owner's members: they lost their
			// connection when it died and rejoin once its lease expired
			// (cluster.leaseTTL), each within a step of the SDK's rejoin
			// backoff; one that is not back a whole lease period after the
			// takeover has been gone more than twice leaseTTL.
			n.succ = newSuccession(ms, p.c, func() *cluster.Agent { return p.agent }, n.channels.Members,
				svc.Observe, cfg.Cluster.LeaseTTL, n.log)
			observe = n.succ.observe
			n.services = append(n.services, service{name: "succession", run: func(ctx context.Context) error {
				swept := make(chan struct{})
				go func() { defer close(swept); n.succ.sweep(ctx, p.self.ID, cfg.Cluster.LeaseTTL) }()
				n.succ.run(ctx)
				<-swept
				return nil
			}})
		}
	}
	stop := n.channels.Observe(observe)
	n.services = append(n.services, service{name: "webhooks", run: func(ctx context.Context) error {
		defer stop()
		return svc.Run(ctx)
	}})
	if n.api != nil {
		svc.Register(n.api.srv)
	}
}

// Webhooks is the node's webhook service.
func (n *Node) Webhooks() *webhook.Service { return n.webhooks }
