package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
)

// The API in a cluster (docs/rest-api.md, "In a cluster"). Any node answers
// for the whole cluster:
//
//   - a channel-scoped call (members, a member, its timeline and logs, a
//     kick) is served by the channel's owner: another node forwards it there
//     (a reverse proxy, same path, signed with the cluster credential);
//   - a listing (channels, streams, nodes) merges the node-local views of
//     every live node, asked concurrently within Config.PeerTimeout; nodes
//     that did not answer are reported, the others still answer;
//   - a banning rule change is applied by the node that took it and
//     announced to every other node, which applies it to its own sessions.
//
// Trust: the node that receives a client's call checks its API key and rate
// limit. A call carrying a valid cluster credential (cluster.AuthHeader) is
// a node's: it is served from the node-local view, never forwarded again,
// and the API key is not checked a second time (the credential is the
// proof). A call with that header and an invalid credential is refused
// (401) whatever else it carries; it never falls back to API-key auth.

// Peer is a node of the cluster as the API reaches it.
type Peer struct {
	ID string
	// URL is the base URL of the node's REST API root: "/v1/..." and
	// "/dev/v1/..." are appended to it (e.g. http://10.0.0.2:8080/rest).
	// Empty when the node is not live.
	URL string
}

// Peers is the cluster as the API sees it. Deps.Cluster nil is a single
// node. ClusterPeers builds it over internal/cluster.
type Peers interface {
	// Self is this node's id.
	Self() string
	// Peers lists the other live nodes (not this one).
	Peers(ctx context.Context) ([]Peer, error)
	// Owner is the node that owns the channel: ID "" when no node does, ID
	// Self() when this node does, URL "" when its owner is not live.
	Owner(ctx context.Context, app, channel string) (Peer, error)
	// Sign adds this node's cluster credential to h.
	Sign(h http.Header)
	// Verify checks r's cluster credential; it returns the sending node's id.
	Verify(r *http.Request) (string, error)
}

// Headers of the API in a cluster.
const (
	// HeaderNode names the node that served the call.
	HeaderNode = "X-Minirtc-Node"
	// HeaderMissingNodes lists (comma-separated) the nodes whose part of a
	// merged listing is missing because they did not answer in time; "*"
	// when the node registry itself did not answer (only this node's view).
	HeaderMissingNodes = "X-Minirtc-Missing-Nodes"
	// headerKey carries, on a call forwarded between nodes, the API key id
	// the receiving node authenticated (for log lines and rule records). It
	// is read only on a call with a valid cluster credential.
	headerKey = "X-Minirtc-Cluster-Key"
)

// defaultPeerTimeout bounds one call to another node.
const defaultPeerTimeout = 3 * time.Second

// callInfo is who made an authenticated call.
type callInfo struct {
	key  string // API key id ("" for a node's own call that forwarded none)
	node string // the calling node's id, for a call between nodes
}

type callKey struct{}

func withCall(r *http.Request, c callInfo) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), callKey{}, c))
}

func callOf(r *http.Request) (callInfo, bool) {
	c, ok := r.Context().Value(callKey{}).(callInfo)
	return c, ok
}

// fromNode reports whether r is another node's call (valid cluster
// credential): it is answered from this node's own view.
func fromNode(r *http.Request) bool {
	c, ok := callOf(r)
	return ok && c.node != ""
}

// clustered reports whether this call should be answered for the whole
// cluster (cluster mode, and a client's call rather than a node's).
func (s *Server) clustered(r *http.Request) bool {
	return s.deps.Cluster != nil && !fromNode(r)
}

// authenticateNode checks the cluster credential of a call that carries
// one.
func (s *Server) authenticateNode(r *http.Request) (callInfo, error) {
	node, err := s.deps.Cluster.Verify(r)
	if err != nil {
		return callInfo{}, errcode.Unauthorized("invalid cluster credential in " + cluster.AuthHeader +
			": only the nodes of this cluster may send it (clients authenticate with an API key)")
	}
	return callInfo{node: node, key: r.Header.Get(headerKey)}, nil
}

// clusterRoutes adds the endpoints other nodes call (cluster mode only).
func (s *Server) clusterRoutes() {
	s.mux.HandleFunc("GET /internal/v1/apps/{appId}/channels", s.nodeOnly(s.internalChannels))
	s.mux.HandleFunc("GET /internal/v1/streams", s.nodeOnly(s.internalStreams))
	s.mux.HandleFunc("POST /internal/v1/rules", s.nodeOnly(s.internalRules))
}

// nodeOnly refuses a client's call to an endpoint meant for nodes.
func (s *Server) nodeOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !fromNode(r) {
			WriteError(w, r, errcode.NoAuthorized("only the nodes of the cluster may call /internal/ endpoints"))
			return
		}
		h(w, r)
	}
}

// owned serves a channel-scoped call on the channel's owner: h here when
// this node owns it (or no node does), else the call is forwarded.
func (s *Server) owned(appKey, chKey string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.clustered(r) {
			h(w, r)
			return
		}
		app, ch := r.PathValue(appKey), r.PathValue(chKey)
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PeerTimeout)
		owner, err := s.deps.Cluster.Owner(ctx, app, ch)
		cancel()
		switch {
		case err != nil:
			s.log.Warn("channel owner lookup failed", "app", app, "channel", ch, "err", err)
			WriteError(w, r, errcode.ServiceLost("the cluster registry did not answer which node serves this channel: try again"))
		case owner.ID == "" || owner.ID == s.deps.Cluster.Self():
			h(w, r)
		case owner.URL == "":
			WriteError(w, r, errcode.ServiceLost(fmt.Sprintf("channel %q is served by node %s, which is not live: "+
				"its channels move to another node when its lease expires (cluster.leaseTTL); try again then", ch, owner.ID)))
		default:
			s.forward(w, r, owner)
		}
	}
}

// forward proxies a client's authenticated call to node to (same method,
// path, query and body), signed with this node's credential; the client's
// credentials are not passed on.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, to Peer) {
	target, err := url.Parse(to.URL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") {
		WriteError(w, r, fmt.Errorf("api: node %s has a bad API URL %q", to.ID, to.URL))
		return
	}
	key := keyID(r)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			for _, h := range []string{"Authorization", "Cookie", headerKey, cluster.AuthHeader} {
				pr.Out.Header.Del(h)
			}
			s.deps.Cluster.Sign(pr.Out.Header)
			pr.Out.Header.Set(headerKey, key)
		},
		Transport: s.peerClient.Transport,
		ErrorLog:  slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("forwarded call failed", "node", to.ID, "path", r.URL.Path, "err", err)
			WriteError(w, r, errcode.ServiceLost(fmt.Sprintf("node %s, which serves this channel, did not answer: try again", to.ID)))
		},
	}
	w.Header().Del(HeaderNode) // the owner's own answers it
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PeerTimeout)
	defer cancel()
	rp.ServeHTTP(w, r.WithContext(ctx))
}

// peerCall makes one signed call to a node and decodes its JSON answer into
// out (when not nil). A status other than 2xx is an error.
func (s *Server) peerCall(ctx context.Context, p Peer, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(p.URL, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	s.deps.Cluster.Sign(req.Header)
	resp, err := s.peerClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // read side: nothing to report
	if resp.StatusCode/100 != 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("node %s answered %s", p.ID, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxPeerAnswer)).Decode(out); err != nil {
		return fmt.Errorf("node %s: decode: %w", p.ID, err)
	}
	return nil
}

// maxPeerAnswer bounds one node's answer to a merged listing.
const maxPeerAnswer = 64 << 20

// missingRegistry is the missing-nodes mark when the registry did not answer.
const missingRegistry = "*"

// gather makes the same signed call to every other live node at once, each
// within Config.PeerTimeout, and returns their answers (by node id, in id
// order) and the ids of the nodes that did not answer.
func gather[T any](s *Server, r *http.Request, method, path string, body any) (answers []nodeAnswer[T], missing []string) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PeerTimeout)
	defer cancel()
	peers, err := s.deps.Cluster.Peers(ctx)
	if err != nil {
		s.log.Warn("cluster registry did not answer; answering with this node's view", "path", r.URL.Path, "err", err)
		return nil, []string{missingRegistry}
	}
	res := make([]nodeAnswer[T], len(peers))
	errs := make([]error, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() {
			res[i].Node = p.ID
			if p.URL == "" {
				errs[i] = errors.New("no URL")
				return
			}
			errs[i] = s.peerCall(ctx, p, method, path, body, &res[i].V)
		})
	}
	wg.Wait()
	for i, p := range peers {
		if errs[i] != nil {
			s.log.Warn("node did not answer", "node", p.ID, "path", path, "err", errs[i])
			missing = append(missing, p.ID)
			continue
		}
		answers = append(answers, res[i])
	}
	slices.SortFunc(answers, func(a, b nodeAnswer[T]) int { return cmp.Compare(a.Node, b.Node) })
	slices.Sort(missing)
	return answers, missing
}

type nodeAnswer[T any] struct {
	Node string
	V    T
}

// markMissing reports the nodes missing from a merged answer.
func markMissing(w http.ResponseWriter, missing []string) {
	if len(missing) > 0 {
		w.Header().Set(HeaderMissingNodes, strings.Join(missing, ","))
	}
}

// localChannels is this node's view of an app's channels, by name.
func (s *Server) localChannels(app string) []ChannelSummary {
	names := s.deps.Channels.Channels(app)
	out := make([]ChannelSummary, 0, len(names))
	for _, name := range names {
		out = append(out, s.channelSummary(app, name))
	}
	return out
}

// internalChannels: GET /internal/v1/apps/{appId}/channels, this node's
// channels of the app (all of them, unpaginated).
func (s *Server) internalChannels(w http.ResponseWriter, r *http.Request) {
	out := s.localChannels(r.PathValue("appId"))
	for i := range out {
		out[i].Node = s.deps.Cluster.Self()
	}
	WriteJSON(w, http.StatusOK, out)
}

// clusterChannels merges every node's channels of app, by name: a channel
// on several nodes at once (while it moves) sums its counts. Ordered by
// name.
func (s *Server) clusterChannels(r *http.Request, app string) ([]ChannelSummary, []string) {
	answers, missing := gather[[]ChannelSummary](s, r, http.MethodGet, "/internal/v1/apps/"+url.PathEscape(app)+"/channels", nil)
	byName := map[string]*ChannelSummary{}
	add := func(c ChannelSummary) {
		cur := byName[c.Name]
		if cur == nil {
			byName[c.Name] = &c
			return
		}
		cur.Members += c.Members
		cur.Broadcasters += c.Broadcasters
		cur.Publishing += c.Publishing
	}
	for _, c := range s.localChannels(app) {
		c.Node = s.deps.Cluster.Self()
		add(c)
	}
	for _, a := range answers {
		for _, c := range a.V {
			c.Node = a.Node
			add(c)
		}
	}
	out := make([]ChannelSummary, 0, len(byName))
	for _, c := range byName {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b ChannelSummary) int { return cmp.Compare(a.Name, b.Name) })
	return out, missing
}

// localStreams is this node's streams as the API shows them.
func (s *Server) localStreams() []Stream {
	out := []Stream{}
	if s.deps.Media != nil {
		for _, d := range s.deps.Media.Streams() {
			out = append(out, toStream(d))
		}
	}
	return out
}

// internalStreams: GET /internal/v1/streams, this node's streams.
func (s *Server) internalStreams(w http.ResponseWriter, r *http.Request) {
	out := s.localStreams()
	for i := range out {
		out[i].Node = s.deps.Cluster.Self()
	}
	WriteJSON(w, http.StatusOK, out)
}

// clusterStreams is every node's streams, ordered by app, channel, uid and
// node (an edge that relays a stream lists it too, with its own readers).
func (s *Server) clusterStreams(r *http.Request) ([]Stream, []string) {
	out := s.localStreams()
	for i := range out {
		out[i].Node = s.deps.Cluster.Self()
	}
	answers, missing := gather[[]Stream](s, r, http.MethodGet, "/internal/v1/streams", nil)
	for _, a := range answers {
		for _, st := range a.V {
			st.Node = a.Node
			out = append(out, st)
		}
	}
	slices.SortStableFunc(out, func(a, b Stream) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.UID, b.UID),
			cmp.Compare(a.Node, b.Node))
	})
	return out, missing
}

// peer finds a live node by id (this one: ok with an empty URL).
func (s *Server) peer(r *http.Request, id string) (Peer, bool, error) {
	if id == s.deps.Cluster.Self() {
		return Peer{ID: id}, true, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PeerTimeout)
	defer cancel()
	peers, err := s.deps.Cluster.Peers(ctx)
	if err != nil {
		return Peer{}, false, err
	}
	for _, p := range peers {
		if p.ID == id && p.URL != "" {
			return p, true, nil
		}
	}
	return Peer{}, false, nil
}

// RuleChange tells the other nodes that a banning rule was added, changed
// or deleted (POST /internal/v1/rules).
type RuleChange struct {
	ID      uint64 `json:"id"`
	Deleted bool   `json:"deleted,omitempty"`
	// Rule is the rule as the deciding node applied it. A node applies what
	// the store holds for ID; Rule is used only when the store has no
	// active rule ID (a kick-only rule, never kept), and then only as a
	// one-time kick.
	Rule *store.KickingRule `json:"rule,omitempty"`
}

// ApplyRuleChange applies a banning rule change made on another node to
// this node's sessions (through Deps.Bans, as a rule made here is): the
// rule ID as the shared store holds it now is applied (matching members
// kicked, or their publishing stopped, and the admission gate told); a rule
// the store no longer holds is lifted. It returns how many members were
// kicked or stopped. The node may also call it itself (e.g. from a Redis
// notification).
func (s *Server) ApplyRuleChange(ctx context.Context, c RuleChange) (int, error) {
	if s.deps.Bans == nil || c.ID == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	rule, err := s.deps.Store.KickingRule(ctx, c.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("api: load kicking rule %d: %w", c.ID, err)
	}
	if err == nil && s.now().Before(rule.Until) {
		// Whatever the notice says, the store's rule is the one in force.
		return s.deps.Bans.Ban(KickingBanRule(rule)), nil
	}
	s.deps.Bans.UnbanID(c.ID)
	if c.Deleted || c.Rule == nil || c.Rule.App == "" {
		return 0, nil
	}
	once := *c.Rule
	once.ID, once.Until = c.ID, s.now() // applied now, not kept
	return s.deps.Bans.Ban(KickingBanRule(once)), nil
}

// internalRules: POST /internal/v1/rules {RuleChange}.
func (s *Server) internalRules(w http.ResponseWriter, r *http.Request) {
	var c RuleChange
	if err := decodeBody(r, &c, false); err != nil {
		WriteError(w, r, err)
		return
	}
	n, err := s.ApplyRuleChange(r.Context(), c)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	caller, _ := callOf(r)
	s.log.Info("kicking rule change applied", "rule", c.ID, "deleted", c.Deleted, "from", caller.node, "members", n)
	WriteJSON(w, http.StatusOK, map[string]any{"applied": n})
}

// announceRule tells every other node about a rule change and waits for
// them (within Config.PeerTimeout), so that the change holds cluster-wide
// when the call answers; nodes that did not answer are reported in the
// answer's HeaderMissingNodes (they apply stored rules when they start).
//
// The node that makes a change announces it, also when it serves a call
// another node forwarded (a kick with a ban on the channel's owner).
func (s *Server) announceRule(w http.ResponseWriter, r *http.Request, rule store.KickingRule, deleted bool) {
	if s.deps.Cluster == nil {
		return
	}
	c := RuleChange{ID: rule.ID, Deleted: deleted}
	if !deleted {
		c.Rule = &rule
	}
	_, missing := gather[map[string]any](s, r, http.MethodPost, "/internal/v1/rules", c)
	if len(missing) > 0 {
		s.log.Warn("kicking rule change did not reach every node", "rule", rule.ID, "missing", missing)
	}
	markMissing(w, missing)
}

// nodesEntry is one node of GET /v1/nodes.
type nodesEntry struct {
	ID string `json:"id"`
	NodeOverview
}

// ClusterPeers is Peers over internal/cluster: the live nodes of the
// registry, the channel leases and auth's credential. apiURL gives a node's
// REST API base URL from its registry entry (e.g. its Internal address
// with the API's mount prefix).
func ClusterPeers(c *cluster.Cluster, auth *cluster.Auth, self string, apiURL func(cluster.NodeInfo) string) Peers {
	return &clusterPeers{c: c, auth: auth, self: self, apiURL: apiURL}
}

type clusterPeers struct {
	c      *cluster.Cluster
	auth   *cluster.Auth
	self   string
	apiURL func(cluster.NodeInfo) string
}

func (p *clusterPeers) Self() string                           { return p.self }
func (p *clusterPeers) Sign(h http.Header)                     { p.auth.Sign(h) }
func (p *clusterPeers) Verify(r *http.Request) (string, error) { return p.auth.Verify(r) }

func (p *clusterPeers) Peers(ctx context.Context) ([]Peer, error) {
	nodes, err := p.c.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Peer, 0, len(nodes))
	for _, n := range nodes {
		if n.ID != p.self {
			out = append(out, Peer{ID: n.ID, URL: p.apiURL(n)})
		}
	}
	return out, nil
}

func (p *clusterPeers) Owner(ctx context.Context, app, ch string) (Peer, error) {
	l, err := p.c.Owner(ctx, app, ch)
	if err != nil || l == nil {
		return Peer{}, err
	}
	if l.Owner == p.self {
		return Peer{ID: p.self}, nil
	}
	n, ok, err := p.c.Node(ctx, l.Owner)
	if err != nil {
		return Peer{}, err
	}
	if !ok {
		return Peer{ID: l.Owner}, nil
	}
	return Peer{ID: n.ID, URL: p.apiURL(n)}, nil
}

// channelSummary counts one channel's members on this node.
func (s *Server) channelSummary(app, name string) ChannelSummary {
	c := ChannelSummary{Name: name, Profile: channel.ProfileLive.String()}
	for _, m := range s.deps.Channels.Members(app, name) {
		c.Profile = m.Profile.String()
		c.Members++
		if m.Role == channel.RoleBroadcaster {
			c.Broadcasters++
		}
		if m.Publishing {
			c.Publishing++
		}
	}
	return c
}
