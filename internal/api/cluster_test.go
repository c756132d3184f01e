package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/redistest"
	"github.com/minirtc/minirtc/internal/store"
)

// world is the cluster the fake Peers of the test nodes see: which nodes
// are live (their API URL) and which node owns which channel.
type world struct {
	mu     sync.Mutex
	urls   map[string]string
	owners map[[2]string]string
	regErr error // the registry does not answer
}

func (w *world) setOwner(app, ch, node string) {
	w.mu.Lock()
	w.owners[[2]string{app, ch}] = node
	w.mu.Unlock()
}

// fakePeers is one node's view of the world, with a real cluster.Auth.
type fakePeers struct {
	self string
	w    *world
	auth *cluster.Auth
}

func (p *fakePeers) Self() string                           { return p.self }
func (p *fakePeers) Sign(h http.Header)                     { p.auth.Sign(h) }
func (p *fakePeers) Verify(r *http.Request) (string, error) { return p.auth.Verify(r) }

func (p *fakePeers) Peers(context.Context) ([]Peer, error) {
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	if p.w.regErr != nil {
		return nil, p.w.regErr
	}
	var out []Peer
	for id, u := range p.w.urls {
		if id != p.self {
			out = append(out, Peer{ID: id, URL: u})
		}
	}
	slices.SortFunc(out, func(a, b Peer) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (p *fakePeers) Owner(_ context.Context, app, ch string) (Peer, error) {
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	id := p.w.owners[[2]string{app, ch}]
	if id == "" || id == p.self {
		return Peer{ID: id}, nil
	}
	return Peer{ID: id, URL: p.w.urls[id]}, nil
}

// listMedia is a media hub with fixed streams that records closed readers.
type listMedia struct {
	mu      sync.Mutex
	streams []media.StreamDetail
	closed  []uint64
}

func (m *listMedia) Streams() []media.StreamDetail { return m.streams }
func (m *listMedia) CloseReader(id uint64, _ error) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = append(m.closed, id)
	return id == 9
}

// testNode is one node: its channel model, media, API server and what
// reached its listener.
type testNode struct {
	id    string
	mgr   *channel.Manager
	media *listMedia
	url   string
	calls atomic.Int32 // requests that reached it
	// authSeen: a request that reached it carried an Authorization header.
	authSeen atomic.Bool
	log      *syncBuf
}

type clusterFixture struct {
	t      *testing.T
	w      *world
	st     *store.Memory
	app    store.App
	keyID  string
	secret string
	nodes  map[string]*testNode
}

var clusterSecret = []byte("0123456789abcdef-test-secret")

// newClusterFixture starts one API server per id, each over its own running
// channel model, sharing one store (as the Redis store is shared).
func newClusterFixture(t *testing.T, ids ...string) *clusterFixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := &clusterFixture{t: t, w: &world{urls: map[string]string{}, owners: map[[2]string]string{}}, st: store.NewMemory(),
		nodes: map[string]*testNode{}}
	f.app, _ = store.NewApp("demo", time.Unix(1700000000, 0))
	f.st.PutApp(ctx, f.app)
	k, secret, _ := store.NewAPIKey("ops", time.Now())
	f.st.PutAPIKey(ctx, k)
	f.keyID, f.secret = k.ID, secret
	for _, id := range ids {
		n := &testNode{id: id, media: &listMedia{}, log: &syncBuf{}}
		log := slog.New(slog.NewTextHandler(n.log, nil))
		n.mgr = channel.NewManager(channel.Config{MediaStartTimeout: -1}, log)
		go n.mgr.Run(ctx)
		auth, err := cluster.NewAuth(clusterSecret, id)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := New(Config{RequestsPerSecond: 1000, PeerTimeout: 500 * time.Millisecond},
			Deps{Store: f.st, Channels: n.mgr, Bans: n.mgr, Media: n.media, Cluster: &fakePeers{self: id, w: f.w, auth: auth}}, log)
		if err != nil {
			t.Fatal(err)
		}
		events := NewEventLog(0, 0)
		if err := srv.EnableConsole(ConsoleDeps{Events: events, Kicker: n.mgr,
			Node: func() NodeOverview { return NodeOverview{Version: "test-" + id} }}); err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.calls.Add(1)
			if r.Header.Get("Authorization") != "" {
				n.authSeen.Store(true)
			}
			srv.ServeHTTP(w, r)
		}))
		t.Cleanup(ts.Close)
		t.Cleanup(events.Close)
		n.url = ts.URL
		f.w.urls[id] = ts.URL
		f.nodes[id] = n
	}
	return f
}

// hangingNode adds a live node that never answers.
func (f *clusterFixture) hangingNode(id string) {
	stop := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	f.t.Cleanup(ts.Close)
	f.t.Cleanup(func() { close(stop) })
	f.w.mu.Lock()
	f.w.urls[id] = ts.URL
	f.w.mu.Unlock()
}

// join puts uid in channel ch on node id, which owns the channel.
func (f *clusterFixture) join(id, ch string, uid uint32) error {
	f.w.setOwner(f.app.ID, ch, id)
	_, err := f.nodes[id].mgr.Join(channel.JoinRequest{App: f.app.ID, Channel: ch, UID: uid, Role: channel.RoleBroadcaster,
		Endpoint: nopEP{}})
	return err
}

func (f *clusterFixture) mustJoin(id, ch string, uid uint32) {
	f.t.Helper()
	if err := f.join(id, ch, uid); err != nil {
		f.t.Fatalf("join %s/%d on %s: %v", ch, uid, id, err)
	}
}

func (f *clusterFixture) in(id, ch string, uid uint32) bool {
	_, ok := f.nodes[id].mgr.Member(f.app.ID, ch, uid)
	return ok
}

// call makes a client's call to node id with the API key (auth true) and
// extra headers; it answers the status, the body and the headers.
func (f *clusterFixture) call(id, method, path, body string, auth bool, hdr map[string]string) (int, []byte, http.Header) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.nodes[id].url+path, rd)
	if auth {
		req.SetBasicAuth(f.keyID, f.secret)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func decodeInto(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

// TestClusterChannelList: a channel list asked at node A merges A's, B's
// and C's channels: sorted by name, each with its node and member count,
// totals and pages over the merged list (minirtc's and Agora's lists).
func TestClusterChannelList(t *testing.T) {
	f := newClusterFixture(t, "A", "B", "C")
	f.mustJoin("A", "a1", 1)
	f.mustJoin("B", "b1", 2)
	f.mustJoin("B", "b1", 3)
	f.mustJoin("B", "b2", 4)
	f.mustJoin("C", "c1", 5)
	base := "/v1/apps/" + f.app.ID + "/channels"

	var all list[ChannelSummary]
	st, b, h := f.call("A", "GET", base, "", true, nil)
	if st != 200 {
		t.Fatalf("list: %d %s", st, b)
	}
	decodeInto(t, b, &all)
	var got []string
	for _, c := range all.Items {
		got = append(got, fmt.Sprintf("%s@%s:%d", c.Name, c.Node, c.Members))
	}
	if want := []string{"a1@A:1", "b1@B:2", "b2@B:1", "c1@C:1"}; !slices.Equal(got, want) || all.Total != 4 {
		t.Fatalf("merged list %v total %d, want %v total 4", got, all.Total, want)
	}
	if len(all.MissingNodes) != 0 || h.Get(HeaderMissingNodes) != "" {
		t.Fatalf("missing nodes reported with all live: %v %q", all.MissingNodes, h.Get(HeaderMissingNodes))
	}

	var pg list[ChannelSummary]
	_, b, _ = f.call("A", "GET", base+"?page=2&pageSize=3", "", true, nil)
	decodeInto(t, b, &pg)
	if pg.Total != 4 || pg.Page != 2 || len(pg.Items) != 1 || pg.Items[0].Name != "c1" {
		t.Fatalf("page 2 of 3: %+v", pg)
	}

	// Agora's list, pages from 0.
	var ag struct {
		Data struct {
			Channels []agoraChannel `json:"channels"`
			Total    int            `json:"total_size"`
		} `json:"data"`
	}
	_, b, _ = f.call("A", "GET", "/dev/v1/channel/"+f.app.ID+"?page_no=0&page_size=2", "", true, nil)
	decodeInto(t, b, &ag)
	if ag.Data.Total != 4 || len(ag.Data.Channels) != 2 || ag.Data.Channels[1] != (agoraChannel{ChannelName: "b1", UserCount: 2}) {
		t.Fatalf("agora page 0 of 2: %s", b)
	}
}

// TestClusterMembersServedByOwner: members of a channel owned by B, asked
// at A, are B's (Agora's user list and user property, minirtc's members and
// member), answered by B; the client's credentials are not passed to B.
func TestClusterMembersServedByOwner(t *testing.T) {
	f := newClusterFixture(t, "A", "B", "C")
	f.mustJoin("B", "room", 11)
	f.mustJoin("B", "room", 12)
	f.mustJoin("A", "mine", 13)

	var ms list[Member]
	st, b, h := f.call("A", "GET", "/v1/apps/"+f.app.ID+"/channels/room/members", "", true, nil)
	if st != 200 {
		t.Fatalf("members: %d %s", st, b)
	}
	decodeInto(t, b, &ms)
	if ms.Total != 2 || ms.Items[0].UID != 11 || ms.Items[1].UID != 12 || h.Get(HeaderNode) != "B" {
		t.Fatalf("members of B's room asked at A: %s (node %q)", b, h.Get(HeaderNode))
	}
	st, b, h = f.call("A", "GET", "/v1/apps/"+f.app.ID+"/channels/room/members/12", "", true, nil)
	if st != 200 || !strings.Contains(string(b), `"uid":12`) || h.Get(HeaderNode) != "B" {
		t.Fatalf("member 12: %d %s %q", st, b, h.Get(HeaderNode))
	}
	_, b, _ = f.call("C", "GET", "/dev/v1/channel/user/"+f.app.ID+"/room", "", true, nil)
	if !strings.Contains(string(b), `"channel_exist":true`) || !strings.Contains(string(b), `"broadcasters":[11,12]`) {
		t.Fatalf("agora users at C: %s", b)
	}
	_, b, _ = f.call("C", "GET", "/dev/v1/channel/user/property/"+f.app.ID+"/11/room", "", true, nil)
	if !strings.Contains(string(b), `"in_channel":true`) {
		t.Fatalf("agora property at C: %s", b)
	}
	// A channel A owns is answered by A itself, B not asked.
	before := f.nodes["B"].calls.Load()
	_, b, h = f.call("A", "GET", "/v1/apps/"+f.app.ID+"/channels/mine/members", "", true, nil)
	if !strings.Contains(string(b), `"uid":13`) || h.Get(HeaderNode) != "A" || f.nodes["B"].calls.Load() != before {
		t.Fatalf("own channel: %s node %q", b, h.Get(HeaderNode))
	}
	if f.nodes["B"].authSeen.Load() {
		t.Fatal("the client's Authorization header was forwarded to B")
	}
	if !strings.Contains(f.nodes["B"].log.String(), "key=node:A/"+f.keyID) {
		t.Fatalf("B's log does not name the forwarding node and the key:\n%s", f.nodes["B"].log.String())
	}
}

// TestClusterKickReachesOwner: a kick asked at A removes the member on B
// (the owner); a kick with a ban also refuses the uid's rejoin on A and C.
func TestClusterKickReachesOwner(t *testing.T) {
	f := newClusterFixture(t, "A", "B", "C")
	f.mustJoin("B", "room", 21)
	f.mustJoin("B", "room", 22)
	member := "/v1/apps/" + f.app.ID + "/channels/room/members/"

	st, b, h := f.call("A", "POST", member+"21/kick", "", true, nil)
	if st != 200 || !strings.Contains(string(b), `"kicked":true`) || h.Get(HeaderNode) != "B" {
		t.Fatalf("kick at A: %d %s node %q", st, b, h.Get(HeaderNode))
	}
	if f.in("B", "room", 21) {
		t.Fatal("uid 21 still in B's room after a kick asked at A")
	}

	st, b, _ = f.call("C", "POST", member+"22/kick", `{"banSeconds":600}`, true, nil)
	if st != 200 || !strings.Contains(string(b), `"kicked":true`) {
		t.Fatalf("kick and ban at C: %d %s", st, b)
	}
	if f.in("B", "room", 22) {
		t.Fatal("uid 22 still in B's room")
	}
	for _, id := range []string{"A", "B", "C"} {
		err := f.join(id, "room", 22)
		if e, ok := errcode.As(err); !ok || e.Code != errcode.CodeRefused {
			t.Errorf("rejoin of banned uid 22 on %s: %v, want refused", id, err)
		}
	}
}

// TestClusterRuleAppliedEverywhere: a banning rule created at A is applied
// on B and C before the call answers (members matching it there are
// kicked), holds for new joins on every node, and its deletion at A lifts it
// everywhere; a kick-only update (time 0) kicks on every node.
func TestClusterRuleAppliedEverywhere(t *testing.T) {
	f := newClusterFixture(t, "A", "B", "C")
	f.mustJoin("B", "b", 7)
	f.mustJoin("C", "c", 7)
	f.mustJoin("C", "c", 8)

	st, b, _ := f.call("A", "POST", "/dev/v1/kicking-rule", fmt.Sprintf(`{"appid":%q,"uid":7,"time":5}`, f.app.ID), true, nil)
	if st != 200 {
		t.Fatalf("create rule at A: %d %s", st, b)
	}
	var created struct{ ID uint64 }
	decodeInto(t, b, &created)
	if f.in("B", "b", 7) || f.in("C", "c", 7) {
		t.Fatal("uid 7 not kicked on B and C when the rule's call answered")
	}
	if !f.in("C", "c", 8) {
		t.Fatal("uid 8 kicked by a rule for uid 7")
	}
	if err := f.join("B", "other", 7); err == nil {
		t.Fatal("uid 7 joins on B despite the rule")
	}

	st, b, _ = f.call("A", "DELETE", "/dev/v1/kicking-rule", fmt.Sprintf(`{"appid":%q,"id":%d}`, f.app.ID, created.ID), true, nil)
	if st != 200 {
		t.Fatalf("delete at A: %d %s", st, b)
	}
	for _, id := range []string{"B", "C"} {
		if err := f.join(id, "again", 7); err != nil {
			t.Fatalf("uid 7 still refused on %s after the rule was deleted at A: %v", id, err)
		}
	}

	// A rule updated to time 0 at A kicks now on every node and is gone.
	_, b, _ = f.call("A", "POST", "/dev/v1/kicking-rule", fmt.Sprintf(`{"appid":%q,"cname":"zero","time":5}`, f.app.ID), true, nil)
	decodeInto(t, b, &created)
	f.mustJoin("C", "other-room", 30) // not matching
	f.w.setOwner(f.app.ID, "zero", "B")
	if err := f.join("B", "zero", 31); err == nil {
		t.Fatal("join to a banned channel allowed")
	}
	st, b, _ = f.call("B", "PUT", "/dev/v1/kicking-rule", fmt.Sprintf(`{"appid":%q,"id":%d,"time":0}`, f.app.ID, created.ID), true, nil)
	if st != 200 {
		t.Fatalf("update to 0 at B: %d %s", st, b)
	}
	f.mustJoin("C", "zero", 32) // lifted on C (only B handled the call)
	if !f.in("C", "other-room", 30) {
		t.Fatal("a channel rule kicked a member of another channel")
	}
}

// TestClusterKickOnlyRuleReachesPeers: a kick-only rule (time 0, never
// stored) created at A kicks matching members on B once, and is not kept.
func TestClusterKickOnlyRuleReachesPeers(t *testing.T) {
	f := newClusterFixture(t, "A", "B")
	f.mustJoin("B", "b", 40)
	st, b, _ := f.call("A", "POST", "/dev/v1/kicking-rule", fmt.Sprintf(`{"appid":%q,"uid":40,"time":0}`, f.app.ID), true, nil)
	if st != 200 {
		t.Fatalf("kick-only rule: %d %s", st, b)
	}
	if f.in("B", "b", 40) {
		t.Fatal("kick-only rule made at A did not kick uid 40 on B")
	}
	f.mustJoin("B", "b", 40) // not kept
}

// TestClusterMissingNode: a node that does not answer is reported (field
// and header) and the others' channels are still listed; a rule change
// still holds on the nodes that answered; a registry that does not answer
// leaves this node's view, marked "*"; a dead channel owner is a clear 503.
func TestClusterMissingNode(t *testing.T) {
	f := newClusterFixture(t, "A", "B")
	f.hangingNode("D")
	f.mustJoin("A", "a", 1)
	f.mustJoin("B", "b", 2)

	start := time.Now()
	st, b, h := f.call("A", "GET", "/v1/apps/"+f.app.ID+"/channels", "", true, nil)
	var l list[ChannelSummary]
	decodeInto(t, b, &l)
	if st != 200 || l.Total != 2 || !slices.Equal(l.MissingNodes, []string{"D"}) || h.Get(HeaderMissingNodes) != "D" {
		t.Fatalf("list with D hanging: %d %s header %q", st, b, h.Get(HeaderMissingNodes))
	}
	t.Logf("list with a hanging node answered in %s (PeerTimeout 500ms)", time.Since(start).Round(time.Millisecond))

	_, b, h = f.call("A", "GET", "/dev/v1/channel/"+f.app.ID, "", true, nil)
	if !strings.Contains(string(b), `"total_size":2`) || h.Get(HeaderMissingNodes) != "D" {
		t.Fatalf("agora list with D hanging: %s %q", b, h.Get(HeaderMissingNodes))
	}

	f.mustJoin("B", "b", 3)
	st, b, h = f.call("A", "POST", "/dev/v1/kicking-rule", fmt.Sprintf(`{"appid":%q,"uid":3,"time":1}`, f.app.ID), true, nil)
	if st != 200 || h.Get(HeaderMissingNodes) != "D" || f.in("B", "b", 3) {
		t.Fatalf("rule with D hanging: %d %s missing %q, uid 3 on B %v", st, b, h.Get(HeaderMissingNodes), f.in("B", "b", 3))
	}

	var streams list[Stream]
	_, b, _ = f.call("A", "GET", "/v1/streams", "", true, nil)
	decodeInto(t, b, &streams)
	if !slices.Equal(streams.MissingNodes, []string{"D"}) {
		t.Fatalf("streams: %s", b)
	}

	// The channel's owner is registered but not live.
	f.w.mu.Lock()
	f.w.urls["E"] = ""
	f.w.mu.Unlock()
	f.w.setOwner(f.app.ID, "gone", "E")
	st, b, _ = f.call("A", "GET", "/v1/apps/"+f.app.ID+"/channels/gone/members", "", true, nil)
	if st != 503 || !strings.Contains(string(b), "node E") {
		t.Fatalf("members of a dead owner's channel: %d %s", st, b)
	}

	f.w.mu.Lock()
	f.w.regErr = errors.New("redis down")
	f.w.mu.Unlock()
	_, b, h = f.call("A", "GET", "/v1/apps/"+f.app.ID+"/channels", "", true, nil)
	decodeInto(t, b, &l)
	if l.Total != 1 || l.Items[0].Name != "a" || h.Get(HeaderMissingNodes) != "*" {
		t.Fatalf("list with the registry down: %s %q", b, h.Get(HeaderMissingNodes))
	}
}

// TestClusterForgedCredential: a client that sends the cluster header
// without a valid credential is refused (401) whatever else it sends, and
// nothing it asked happens; the internal endpoints refuse clients with an
// API key (403); a call refused for its API key at A is never forwarded.
func TestClusterForgedCredential(t *testing.T) {
	f := newClusterFixture(t, "A", "B")
	f.mustJoin("B", "room", 50)
	kick := "/v1/apps/" + f.app.ID + "/channels/room/members/50/kick"
	otherAuth, _ := cluster.NewAuth([]byte("another-secret-of-16+-bytes"), "A")
	now := strconv.FormatInt(time.Now().Unix(), 10)
	for _, c := range []struct {
		name string
		cred string
		key  bool
	}{
		{"garbage", "A:" + now + ":AAAA", true},
		{"wrong secret", otherAuth.Credential(), true},
		{"wrong secret no key", otherAuth.Credential(), false},
		{"empty node", ":" + now + ":x", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, b, _ := f.call("B", "POST", kick, "", c.key, map[string]string{cluster.AuthHeader: c.cred, headerKey: f.keyID})
			if st != 401 {
				t.Fatalf("kick with a forged credential: %d %s", st, b)
			}
			rule := fmt.Sprintf(`{"id":999,"rule":{"appId":%q,"uid":50,"privileges":["join_channel"]}}`, f.app.ID)
			if st, b, _ = f.call("B", "POST", "/internal/v1/rules", rule, c.key, map[string]string{cluster.AuthHeader: c.cred}); st != 401 {
				t.Fatalf("rule notice with a forged credential: %d %s", st, b)
			}
			if !f.in("B", "room", 50) {
				t.Fatal("uid 50 removed by a forged call")
			}
		})
	}
	// An API key is not a node's credential.
	rule := fmt.Sprintf(`{"id":999,"rule":{"appId":%q,"uid":50,"privileges":["join_channel"]}}`, f.app.ID)
	if st, b, _ := f.call("B", "POST", "/internal/v1/rules", rule, true, nil); st != 403 {
		t.Fatalf("rule notice with an API key: %d %s", st, b)
	}
	if st, _, _ := f.call("B", "GET", "/internal/v1/streams", "", true, nil); st != 403 {
		t.Fatalf("internal streams with an API key: %d", st)
	}
	// The forwarded key header alone authenticates nothing.
	if st, _, _ := f.call("B", "POST", kick, "", false, map[string]string{headerKey: f.keyID}); st != 401 {
		t.Fatalf("kick with only %s: %d", headerKey, st)
	}
	// No valid key at A: refused there, B never asked.
	before := f.nodes["B"].calls.Load()
	if st, _, _ := f.call("A", "POST", kick, "", false, nil); st != 401 {
		t.Fatalf("kick without a key at A: %d", st)
	}
	if f.nodes["B"].calls.Load() != before || !f.in("B", "room", 50) {
		t.Fatal("an unauthenticated call at A reached B")
	}
	// A valid node credential is accepted (the same call, signed by A).
	good, _ := cluster.NewAuth(clusterSecret, "A")
	if st, b, _ := f.call("B", "POST", kick, "", false, map[string]string{cluster.AuthHeader: good.Credential()}); st != 200 {
		t.Fatalf("kick with A's credential: %d %s", st, b)
	}
	if f.in("B", "room", 50) {
		t.Fatal("uid 50 still there after a signed kick")
	}
}

// TestClusterStreamsAndNodes: streams of every node in one list (each with
// its node), a reader closed on the node named by ?node=, and every node's
// overview in GET /v1/nodes.
func TestClusterStreamsAndNodes(t *testing.T) {
	f := newClusterFixture(t, "A", "B", "C")
	f.nodes["B"].media.streams = []media.StreamDetail{{Key: media.Key{AppID: f.app.ID, Channel: "b", UID: "1"}, Live: true,
		Readers: []media.ReaderDetail{{ID: 9, Protocol: "rtmp"}}}}
	f.nodes["C"].media.streams = []media.StreamDetail{{Key: media.Key{AppID: f.app.ID, Channel: "a", UID: "2"}, Live: true}}
	var l list[Stream]
	_, b, _ := f.call("A", "GET", "/v1/streams", "", true, nil)
	decodeInto(t, b, &l)
	if l.Total != 2 || l.Items[0].Node != "C" || l.Items[1].Node != "B" || l.Items[1].Readers[0].ID != "9" {
		t.Fatalf("streams at A: %s", b)
	}
	_, b, _ = f.call("A", "GET", "/v1/streams?channel=b", "", true, nil)
	decodeInto(t, b, &l)
	if l.Total != 1 || l.Items[0].Node != "B" {
		t.Fatalf("streams of channel b: %s", b)
	}
	st, b, h := f.call("A", "DELETE", "/v1/readers/9?node=B", "", true, nil)
	if st != 204 || h.Get(HeaderNode) != "B" || !slices.Equal(f.nodes["B"].media.closed, []uint64{9}) || len(f.nodes["A"].media.closed) != 0 {
		t.Fatalf("close reader 9 on B at A: %d %s", st, b)
	}
	if st, _, _ := f.call("A", "DELETE", "/v1/readers/9?node=Z", "", true, nil); st != 404 {
		t.Fatalf("close on an unknown node: %d", st)
	}
	var nodes list[nodesEntry]
	_, b, _ = f.call("B", "GET", "/v1/nodes", "", true, nil)
	decodeInto(t, b, &nodes)
	var got []string
	for _, n := range nodes.Items {
		got = append(got, n.ID+"="+n.Version)
	}
	if want := []string{"B=test-B", "A=test-A", "C=test-C"}; !slices.Equal(got, want) {
		t.Fatalf("nodes at B: %v, want %v", got, want)
	}
}

// TestClusterPeersOverRedis: ClusterPeers over a real Redis lists the other
// live nodes with their API URL, maps a channel lease to its owner (this
// node, another live node, a registered owner gone from the registry, or
// none) and signs with the cluster credential.
func TestClusterPeersOverRedis(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	c, err := cluster.New(rdb, cluster.Config{NodeTTL: time.Minute, LeaseTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"n1", "n2", "n3"} {
		if err := c.Heartbeat(ctx, cluster.NodeInfo{ID: id, Internal: id + ".internal:8080"}); err != nil {
			t.Fatal(err)
		}
	}
	auth, _ := cluster.NewAuth(clusterSecret, "n1")
	p := ClusterPeers(c, auth, "n1", func(n cluster.NodeInfo) string { return "http://" + n.Internal + "/rest" })
	peers, err := p.Peers(ctx)
	if err != nil || !slices.Equal(peers, []Peer{{"n2", "http://n2.internal:8080/rest"}, {"n3", "http://n3.internal:8080/rest"}}) {
		t.Fatalf("peers of n1: %v %v", peers, err)
	}
	for _, c2 := range []struct{ ch, owner string }{{"mine", "n1"}, {"theirs", "n2"}, {"dead", "n9"}} {
		if _, _, err := c.Acquire(ctx, "app", c2.ch, c2.owner); err != nil {
			t.Fatal(err)
		}
	}
	for ch, want := range map[string]Peer{"mine": {ID: "n1"}, "theirs": {"n2", "http://n2.internal:8080/rest"},
		"dead": {ID: "n9"}, "none": {}} {
		if got, err := p.Owner(ctx, "app", ch); err != nil || got != want {
			t.Errorf("owner of %s: %+v %v, want %+v", ch, got, err, want)
		}
	}
	req := httptest.NewRequest("GET", "/", nil)
	p.Sign(req.Header)
	if node, err := p.Verify(req); err != nil || node != "n1" {
		t.Fatalf("verify own signature: %q %v", node, err)
	}
}

// TestClusterRuleNoticeUsesStore: a node applies the store's rule, not the
// notice's: a "deleted" notice for a rule still stored does not lift it,
// and a notice for a rule the store does not hold kicks once and is not
// kept.
func TestClusterRuleNoticeUsesStore(t *testing.T) {
	f := newClusterFixture(t, "A", "B")
	signed := func() map[string]string {
		a, _ := cluster.NewAuth(clusterSecret, "A")
		return map[string]string{cluster.AuthHeader: a.Credential()}
	}
	st, b, _ := f.call("A", "POST", "/dev/v1/kicking-rule", fmt.Sprintf(`{"appid":%q,"uid":60,"time":5}`, f.app.ID), true, nil)
	if st != 200 {
		t.Fatalf("rule: %d %s", st, b)
	}
	var created struct{ ID uint64 }
	decodeInto(t, b, &created)
	if st, b, _ = f.call("B", "POST", "/internal/v1/rules", fmt.Sprintf(`{"id":%d,"deleted":true}`, created.ID), false, signed()); st != 200 {
		t.Fatalf("deleted notice: %d %s", st, b)
	}
	if err := f.join("B", "room", 60); err == nil {
		t.Fatal("a deleted notice lifted a rule the store still holds")
	}
	f.mustJoin("B", "room", 61)
	notice := fmt.Sprintf(`{"id":4242,"rule":{"appId":%q,"uid":61,"privileges":["join_channel"],"until":"2100-01-01T00:00:00Z"}}`, f.app.ID)
	if st, b, _ = f.call("B", "POST", "/internal/v1/rules", notice, false, signed()); st != 200 || !strings.Contains(string(b), `"applied":1`) {
		t.Fatalf("notice of an unstored rule: %d %s", st, b)
	}
	if f.in("B", "room", 61) {
		t.Fatal("uid 61 not kicked by the notice")
	}
	f.mustJoin("B", "room", 61) // the unstored rule was not kept
}
