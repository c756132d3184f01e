package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/edge"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/gateway"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// relayPrefix is where a node serves its streams to the other nodes of its
// cluster (edge.Origin), on the HTTP port.
const relayPrefix = "/cluster"

// placement answers, in a cluster, where a channel is served: this node
// owns it (it holds the channel's lease), or another node does.
type placement struct {
	p *clusterPart
}

// own makes this node the channel's owner, or returns the catalogue error
// that names the owner.
func (pl placement) own(ctx context.Context, app, ch string) error {
	l, err := pl.p.agent.Own(ctx, app, ch)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrDraining):
		return errcode.ServiceLost("this node is shutting down and takes no new channels: rejoin, and publish to the URL the new answer gives")
	case errors.Is(err, cluster.ErrLeaseLost):
		owner := l.Owner
		if ni, ok, _ := pl.p.c.Node(ctx, l.Owner); ok {
			owner = ni.ID + " (" + ni.Gateway + ")"
		}
		return errcode.ServiceLost(fmt.Sprintf("channel %q is served by node %s: publish to the URL that node's publish answer gives", ch, owner))
	default:
		return errcode.ServiceLost("the cluster's Redis cannot be reached to place the channel; retry shortly: " + err.Error())
	}
}

// locate is the edge.Locator: a stream is pulled from the node that owns
// its channel; a channel this node owns, or that no node owns, is local.
func (pl placement) locate(ctx context.Context, k media.Key) (string, bool, error) {
	l, err := pl.p.c.Owner(ctx, k.AppID, k.Channel)
	if err != nil {
		return "", false, err
	}
	if l == nil || l.Owner == pl.p.self.ID {
		return "", true, nil
	}
	ni, ok, err := pl.p.c.Node(ctx, l.Owner)
	if err != nil {
		return "", false, err
	}
	if !ok {
		return "", false, fmt.Errorf("node %s owns channel %q but is not live (its lease has not expired yet)", l.Owner, k.Channel)
	}
	return strings.TrimSuffix(ni.Internal, "/"), false, nil
}

// wireEdge serves this node's streams to the other nodes and pulls the
// streams its readers want from the nodes that have them.
func (n *Node) wireEdge() error {
	p := n.cluster
	if p == nil {
		return nil
	}
	log := n.log.With("component", "edge")
	origin, err := edge.NewOrigin(n.media.hub, p.auth, relayPrefix, log)
	if err != nil {
		return err
	}
	n.mux.Handle(origin.Pattern(), origin)
	n.mux.HandleFunc(memberPattern, n.serveMember)
	cl := n.cfg.Cluster
	puller, err := edge.NewPuller(edge.PullerConfig{
		Hub: n.media.hub, Auth: p.auth, Prefix: relayPrefix, Self: p.self.Internal,
		Linger: cl.PullLinger, MinBackoff: cl.PullMinBackoff, MaxBackoff: cl.PullMaxBackoff, Log: log,
		Locate: placement{p}.locate,
	})
	if err != nil {
		return err
	}
	n.media.hub.SetOnWanted(puller.Wanted)
	if n.webrtc != nil {
		n.webrtc.SetRedirector(placement{p}.redirectWebRTC(n))
	}
	p.origin, p.puller = origin, puller
	n.services = append(n.services, service{name: "edge", run: func(ctx context.Context) error {
		<-ctx.Done()
		puller.Close()
		return nil
	}}, service{name: "placement", run: func(ctx context.Context) error {
		n.releaseIdleChannels(ctx, cl.LeaseTTL)
		return nil
	}})
	return nil
}

// releaseIdleChannels gives up, every period, the leases of channels that
// have had no member on this node for a whole period: the channel ended
// here (its last member left), or it was placed here and nobody came.
func (n *Node) releaseIdleChannels(ctx context.Context, period time.Duration) {
	p := n.cluster
	t := time.NewTicker(period)
	defer t.Stop()
	empty := map[[2]string]bool{} // empty at the last check
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := map[[2]string]bool{}
		for _, l := range p.agent.Owned() {
			id := [2]string{l.App, l.Channel}
			if len(n.channels.Members(l.App, l.Channel)) > 0 || (n.succ != nil && n.succ.waiting(l.App, l.Channel)) {
				continue
			}
			if empty[id] {
				if n.succ != nil {
					n.succ.drop(ctx, l)
				}
				if err := p.agent.Disown(ctx, l.App, l.Channel); err != nil {
					n.log.Warn("cluster: releasing an idle channel failed", "app", l.App, "channel", l.Channel, "err", err)
				}
				continue
			}
			now[id] = true
		}
		empty = now
	}
}

// handOverChannels, in a cluster, starts a drain: the node takes no new
// channels and gives its channels' leases up, so that its members, told to
// rejoin when the gateway drains, land on other nodes, and the readers
// other nodes pull from it find the new owner.
func (n *Node) handOverChannels() {
	p := n.cluster
	if p == nil || p.agent == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.agent.SetDraining(ctx, true); err != nil {
		n.log.Warn("cluster: could not mark the node draining", "err", err)
	}
	owned := p.agent.Owned()
	for _, l := range owned {
		if n.succ != nil {
			n.succ.handOver(ctx, l) // its members continue on the next owner
		}
		if err := p.agent.Disown(ctx, l.App, l.Channel); err != nil {
			n.log.Warn("cluster: could not hand a channel over", "app", l.App, "channel", l.Channel, "err", err)
		}
	}
	n.log.Info("cluster: draining, channels handed over", "channels", len(owned))
}

// edgeMarker is the query parameter a node adds when it sends a WHEP viewer
// to an edge: the edge serves it (pulling the stream) instead of sending
// it back to the owner.
const edgeMarker = "edge"

// redirectWebRTC is the WebRTC server's Redirector: a WHIP publish goes to
// its channel's owner; a WHEP play goes to the owner, and from the owner to
// an edge once the stream has cluster.edgeThreshold readers there. A
// channel nobody owns is served here (a publish takes it).
func (pl placement) redirectWebRTC(n *Node) func(ctx context.Context, action token.Action, key media.Key, r *http.Request) (string, bool) {
	return func(ctx context.Context, action token.Action, key media.Key, r *http.Request) (string, bool) {
		if action == token.ActionPlay && r.URL.Query().Get(edgeMarker) == "1" {
			return "", false
		}
		l, err := pl.p.c.Owner(ctx, key.AppID, key.Channel)
		if err != nil || l == nil {
			return "", false // no owner (or Redis down): served here, admission decides
		}
		if l.Owner != pl.p.self.ID {
			ni, ok, err := pl.p.c.Node(ctx, l.Owner)
			if err != nil || !ok {
				return "", false
			}
			return ni.Gateway, true
		}
		threshold := n.cfg.Cluster.EdgeThreshold
		if action != token.ActionPlay || threshold <= 0 {
			return "", false
		}
		readers := n.media.hub.ReaderCount(key)
		if readers < threshold {
			return "", false
		}
		nodes, err := pl.p.c.Nodes(ctx)
		if err != nil {
			return "", false
		}
		to := edge.Choose(key, pl.p.self.ID, readers, threshold, nodes)
		if to == pl.p.self.ID {
			return "", false
		}
		for _, ni := range nodes {
			if ni.ID == to {
				return ni.Gateway + "?" + edgeMarker + "=1", true
			}
		}
		return "", false
	}
}

// clusterApps is the app source of the gateway and of media admission in a
// cluster, where apps live in Redis: a lookup that fails for another
// reason than an unknown app (Redis unreachable) is the catalogue's 502
// cluster unavailable (HTTP 503), so the client retries, instead of a 500
// internal error.
type clusterApps struct{ st store.Store }

func (a clusterApps) App(ctx context.Context, id string) (store.App, error) {
	app, err := a.st.App(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return app, errcode.ClusterUnavailable("the cluster store cannot be reached to check the app; retry in a few seconds").WithCause(err)
	}
	return app, err
}

// gatewayRouter is the gateway's cluster.Router: it places channels with
// the registry and leases and tells the gateway which node serves one. It
// reads the node's cluster part when called (it is wired after the
// gateway).
type gatewayRouter struct{ n *Node }

// Route implements gateway.Router.
func (g gatewayRouter) Route(ctx context.Context, app, ch string) (gateway.Route, error) {
	p := g.n.cluster
	if p == nil || p.agent == nil {
		return gateway.Route{Local: true}, nil
	}
	l, ni, err := p.c.Place(ctx, app, ch)
	switch {
	case errors.Is(err, cluster.ErrNoNode):
		return gateway.Route{}, errcode.ClusterUnavailable("no node of the cluster takes new channels now (all are draining); retry the join in a few seconds")
	case err != nil:
		return gateway.Route{}, err
	}
	if l.Owner == p.self.ID {
		// Placed here (now or before): hold and renew the lease.
		if _, err := p.agent.Own(ctx, app, ch); err != nil {
			if errors.Is(err, cluster.ErrDraining) {
				return gateway.Route{}, errcode.ClusterUnavailable("this node is shutting down; rejoin to be placed on another node")
			}
			return gateway.Route{}, err
		}
		return gateway.Route{Local: true, Node: p.self.ID}, nil
	}
	if ni.Gateway == "" {
		return gateway.Route{}, errcode.ClusterUnavailable(fmt.Sprintf("node %s, which serves this channel, cannot be reached; rejoin in a few seconds (its channels move after cluster.leaseTTL)", l.Owner))
	}
	u, err := url.Parse(ni.Gateway)
	if err != nil {
		return gateway.Route{}, fmt.Errorf("node %s advertises a bad URL %q: %w", ni.ID, ni.Gateway, err)
	}
	port, _ := strconv.Atoi(u.Port())
	if port == 0 {
		port = 80
		if u.Scheme == "https" {
			port = 443
		}
	}
	ws := "ws"
	if u.Scheme == "https" {
		ws = "wss"
	}
	internal := ni.Internal
	if internal == "" {
		internal = ni.Gateway
	}
	iu, err := url.Parse(internal)
	if err != nil {
		return gateway.Route{}, fmt.Errorf("node %s advertises a bad URL %q: %w", ni.ID, internal, err)
	}
	if iu.Scheme == "https" {
		ws = "wss"
	}
	return gateway.Route{Node: ni.ID, Address: u.Hostname(), Port: port, WebSocketURL: ws + "://" + iu.Host + "/api"}, nil
}

// ForwardHeader implements gateway.Router.
func (g gatewayRouter) ForwardHeader() http.Header {
	h := http.Header{}
	if p := g.n.cluster; p != nil {
		p.auth.Sign(h)
	}
	return h
}

// TrustForwarded implements gateway.Router.
func (g gatewayRouter) TrustForwarded(r *http.Request) bool {
	p := g.n.cluster
	if p == nil {
		return false
	}
	_, err := p.auth.Verify(r)
	return err == nil
}
