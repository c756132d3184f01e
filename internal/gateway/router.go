package gateway

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
)

// Router tells a gateway of a cluster node where channels live
// (Config.Router). Without one the gateway is a single node: it answers its
// own address and serves every channel itself. Its methods are called
// concurrently.
type Router interface {
	// Route answers where the channel is served, placing it first when no
	// node owns it. An error means the placement cannot be known now (the
	// cluster store is unreachable): the allocation then answers this node,
	// and a join is refused with 502 cluster unavailable (or with the
	// catalogue error Route returned, e.g. errcode.Overloaded when no node
	// takes new channels). ctx is bounded (3 s).
	Route(ctx context.Context, app, channel string) (Route, error)
	// ForwardHeader is the header a forwarding gateway sends when it dials
	// an owner's WebSocket: the cluster credential TrustForwarded checks.
	// The gateway adds ForwardedForHeader itself.
	ForwardHeader() http.Header
	// TrustForwarded reports whether r comes from another node of the
	// cluster (it carries a valid cluster credential), so its
	// ForwardedForHeader names the real client.
	TrustForwarded(r *http.Request) bool
}

// PlayHoster is an optional interface of a Router: it sends readers of a
// busy stream to an edge node (cluster.edgeThreshold). The gateway checks
// for it with a type assertion when it answers subscribe; without it, or
// when PlayHost answers ok false, play URLs name this node.
type PlayHoster interface {
	// PlayHost answers the RTMP authority (host:port) and the HTTP base
	// URL (for HTTP-FLV) of the node that viewer should play target's
	// stream of app/channel from, or ok false for this node. It is called
	// on the channel's owner when a member subscribes; the URL is signed
	// here and must verify on the named node (the media-URL secret is
	// shared by the cluster). ctx is bounded (routeTimeout).
	PlayHost(ctx context.Context, app, channel, target, viewer string, flv bool) (rtmpHost, httpBase string, ok bool)
}

// Route is where one channel is served.
type Route struct {
	// Local: this node owns the channel (or has just taken it); it serves
	// the channel's members itself.
	Local bool
	// Node is the owner's node id (for logs).
	Node string
	// Address and Port are the owner's public gateway address and port,
	// answered by the allocation endpoint (servers[0]).
	Address string
	Port    int
	// WebSocketURL is the owner's gateway WebSocket (ws:// or wss://…/api)
	// as this node reaches it, for forwarding a client that joined here.
	WebSocketURL string
}

// ForwardedForHeader carries the client's address (host:port, as the
// forwarding node saw it) on a forwarded WebSocket. The owner believes it
// only when Router.TrustForwarded accepts the request; from anyone else it
// is ignored.
const ForwardedForHeader = "X-Minirtc-Forwarded-For"

// routeTimeout bounds one Route call: a cluster store that does not answer
// in this time counts as unreachable (the SDK's join gives up after 10 s).
const routeTimeout = 3 * time.Second

// route asks the router, bounded by routeTimeout.
func (g *Gateway) route(ctx context.Context, app, channel string) (Route, error) {
	ctx, cancel := context.WithTimeout(ctx, routeTimeout)
	defer cancel()
	return g.cfg.Router.Route(ctx, app, channel)
}

// forwardedFor returns the client address a trusted forwarding node put in
// r, or "" when r carries none or is not to be trusted.
func (g *Gateway) forwardedFor(r *http.Request) (addr string, ignored bool) {
	v := r.Header.Get(ForwardedForHeader)
	if v == "" {
		return "", false
	}
	if g.cfg.Router == nil || !g.cfg.Router.TrustForwarded(r) {
		return "", true
	}
	host := v
	if h, _, err := net.SplitHostPort(v); err == nil {
		host = h
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return "", true
	}
	return v, false
}

// Move tells every session joined to app/channel on this node to rejoin
// (501, the drain push) and closes it: the channel moved to another node
// (its lease was lost). The SDKs rejoin and are placed on the new owner.
// It returns how many sessions it told.
func (g *Gateway) Move(app, channel string) int {
	g.mu.Lock()
	var moved []*session
	for s := range g.sessions {
		s.mu.Lock()
		st := s.st
		s.mu.Unlock()
		if st != nil && st.ref.App == app && st.ref.Channel == channel {
			moved = append(moved, s)
		}
	}
	g.mu.Unlock()
	for _, s := range moved {
		s.terminate(drainPush(), 0, errcode.LeaveDrain)
	}
	return len(moved)
}

// playHost asks the router's PlayHoster, if it has one, where viewer plays
// target's stream; ok false: this node.
func (g *Gateway) playHost(app, channel, target, viewer string, flv bool) (playHost, bool) {
	ph, ok := g.cfg.Router.(PlayHoster)
	if !ok {
		return playHost{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), routeTimeout)
	defer cancel()
	rtmp, base, ok := ph.PlayHost(ctx, app, channel, target, viewer, flv)
	if !ok {
		return playHost{}, false
	}
	return playHost{rtmp: rtmp, httpBase: base}, true
}

// playHost is where a subscription's play URL points when it is not this
// node (an edge).
type playHost struct{ rtmp, httpBase string }
