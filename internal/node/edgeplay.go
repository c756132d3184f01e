package node

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/edge"
	"github.com/minirtc/minirtc/internal/media"
)

// Readers of a busy stream that get their play URL from the gateway (RTMP
// and HTTP-FLV, the mini program's live-player) are sent to edge nodes: the
// owner's subscribe answer names an edge (gatewayRouter.PlayHost), the
// edge admits the signed URL after asking the owner whether its viewer is
// a member (memberPattern), and pulls the stream from the owner once.

// memberPattern is where a node answers the other nodes of its cluster
// whether a uid is a member of a channel it owns (204) or not (404):
// GET /cluster/member/{app}/{channel}/{uid}, with the cluster credential.
const memberPattern = "GET " + relayPrefix + "/member/{app}/{channel}/{uid}"

// memberCheckTimeout bounds an edge's membership question to the owner.
const memberCheckTimeout = 3 * time.Second

// serveMember answers memberPattern.
func (n *Node) serveMember(w http.ResponseWriter, r *http.Request) {
	p := n.cluster
	if p == nil {
		http.NotFound(w, r)
		return
	}
	if _, err := p.auth.Verify(r); err != nil {
		http.Error(w, fmt.Sprintf("cluster: %v: a membership question needs the node credential of the cluster", err), http.StatusUnauthorized)
		return
	}
	if n.admission.Present(r.PathValue("app"), r.PathValue("channel"), r.PathValue("uid")) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Error(w, "not a member of the channel on this node", http.StatusNotFound)
}

// memberElsewhere is the admission gate's Elsewhere: whether uid is a
// member of app/channel on the node that owns the channel, when that is
// another node. A channel nobody owns, or this node owns, has no such
// member. An error (Redis or the owner unreachable, the owner dead but its
// lease not yet expired) refuses a new session and keeps a running one.
func (n *Node) memberElsewhere(ctx context.Context, app, ch, uid string) (bool, error) {
	p := n.cluster
	if p == nil {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, memberCheckTimeout)
	defer cancel()
	l, err := p.c.Owner(ctx, app, ch)
	if err != nil {
		return false, err
	}
	if l == nil || l.Owner == p.self.ID {
		return false, nil
	}
	ni, ok, err := p.c.Node(ctx, l.Owner)
	if err != nil {
		return false, err
	}
	if !ok || ni.Internal == "" {
		return false, fmt.Errorf("node %s owns the channel but is not live", l.Owner)
	}
	u := strings.TrimSuffix(ni.Internal, "/") + relayPrefix + "/member/" +
		url.PathEscape(app) + "/" + url.PathEscape(ch) + "/" + url.PathEscape(uid)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	p.auth.Sign(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("asking node %s: %w", l.Owner, err)
	}
	_ = resp.Body.Close() // the answer is its status
	switch resp.StatusCode {
	case http.StatusNoContent:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("node %s answered %s to a membership question", l.Owner, resp.Status)
	}
}

// PlayHost implements gateway.PlayHoster: on the owner of a stream with
// cluster.edgeThreshold readers (or subscribers), a new subscriber gets a
// play URL at an edge (edge.Spread), which pulls the stream from here once.
func (g gatewayRouter) PlayHost(ctx context.Context, app, ch, target, viewer string, flv bool) (string, string, bool) {
	n := g.n
	p := n.cluster
	threshold := n.cfg.Cluster.EdgeThreshold
	if p == nil || p.agent == nil || threshold <= 0 {
		return "", "", false
	}
	key := media.Key{AppID: app, Channel: ch, UID: target}
	readers := n.media.hub.ReaderCount(key)
	subscribers := 0
	if u, err := strconv.ParseUint(target, 10, 32); err == nil {
		for _, m := range n.channels.Members(app, ch) {
			for _, s := range m.Subscriptions {
				if s == uint32(u) {
					subscribers++
				}
			}
		}
	}
	if readers < threshold && subscribers <= threshold {
		return "", "", false
	}
	nodes, err := p.c.Nodes(ctx)
	if err != nil {
		return "", "", false
	}
	to := edge.Spread(key, p.self.ID, readers, subscribers, threshold, viewer, nodes)
	if to == p.self.ID {
		return "", "", false
	}
	for _, ni := range nodes {
		if ni.ID != to {
			continue
		}
		if (flv && ni.Gateway == "") || (!flv && ni.RTMP == "") {
			return "", "", false
		}
		return ni.RTMP, strings.TrimSuffix(ni.Gateway, "/"), true
	}
	return "", "", false
}
