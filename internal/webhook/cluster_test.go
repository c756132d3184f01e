package webhook_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/redistest"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/webhook"
	"github.com/redis/go-redis/v9"
)

// The tests below run several webhook Services as the nodes of a cluster:
// each with its own Redis connection, store.Redis and cluster registry
// handle on one real redis-server, its own channel model, and heartbeats
// with a one-second node TTL; one Agora-style receiver on loopback counts
// what arrives by noticeId.

const clusterPrefix = "whtest"

type clusterRig struct {
	t   *testing.T
	srv *redistest.Server
	st  *store.Redis // the test's own view of the shared store
	app string
}

func newClusterRig(t *testing.T) *clusterRig {
	t.Helper()
	r := &clusterRig{t: t, srv: redistest.Start(t)}
	r.st, _ = r.open()
	a, _ := store.NewApp("cluster", time.Now())
	must(t, r.st.PutApp(context.Background(), a))
	r.app = a.ID
	return r
}

// open connects a new client to the shared Redis.
func (r *clusterRig) open() (*store.Redis, redis.UniversalClient) {
	r.t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: r.srv.Addr()})
	r.t.Cleanup(func() { _ = rdb.Close() })
	st, err := store.OpenRedis(context.Background(), rdb, clusterPrefix)
	if err != nil {
		r.t.Fatal(err)
	}
	return st, rdb
}

func (r *clusterRig) endpoint(url string) {
	r.t.Helper()
	if _, err := webhook.AddEndpoint(context.Background(), r.st, r.app, url, secret); err != nil {
		r.t.Fatal(err)
	}
}

// outbox returns the stored entries, oldest first.
func (r *clusterRig) outbox() []store.OutboxEntry {
	r.t.Helper()
	es, err := r.st.RecentOutbox(context.Background(), r.app, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es
}

type clusterNode struct {
	id        string
	ch        *channel.Manager
	svc       *webhook.Service
	m         *meter
	stopBeat  func() // stops the heartbeats without leaving: the node looks dead after the TTL
	stopNode  func() // stops the Service and the channel model
	app       string
	t         *testing.T
	beatEvery time.Duration
}

// node starts node id: registered in the registry (first heartbeat done)
// and its Service running with cfg (Node and Alive set here).
func (r *clusterRig) node(id string, cfg webhook.Config) *clusterNode {
	r.t.Helper()
	st, rdb := r.open()
	cl, err := cluster.New(rdb, cluster.Config{Prefix: clusterPrefix, NodeTTL: time.Second, LeaseTTL: time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	n := &clusterNode{id: id, m: &meter{}, app: r.app, t: r.t, beatEvery: 200 * time.Millisecond}
	must(r.t, cl.Heartbeat(context.Background(), cluster.NodeInfo{ID: id}))
	beatCtx, beatCancel := context.WithCancel(context.Background())
	beatDone := make(chan struct{})
	go func() {
		defer close(beatDone)
		tk := time.NewTicker(n.beatEvery)
		defer tk.Stop()
		for {
			select {
			case <-beatCtx.Done():
				return
			case <-tk.C:
				_ = cl.Heartbeat(beatCtx, cluster.NodeInfo{ID: id})
			}
		}
	}()
	var beatOnce sync.Once
	n.stopBeat = func() { beatOnce.Do(func() { beatCancel(); <-beatDone }) }

	cfg.Node = id
	cfg.Alive = func(ctx context.Context, node string) (bool, error) {
		_, ok, err := cl.Node(ctx, node)
		return ok, err
	}
	n.svc = webhook.New(cfg, st, nil, quiet)
	n.svc.SetMeter(n.m)
	n.ch = channel.NewManager(channel.Config{}, quiet)
	n.ch.Observe(n.svc.Observe)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); n.ch.Run(ctx) }()
	go func() { defer wg.Done(); _ = n.svc.Run(ctx) }()
	var nodeOnce sync.Once
	n.stopNode = func() { nodeOnce.Do(func() { cancel(); wg.Wait() }) }
	r.t.Cleanup(func() { n.stopNode(); n.stopBeat() })
	return n
}

// kill stops the node as kill -9 would: no more heartbeats (it is not
// removed from the registry, its key expires) and no more deliveries; its
// pending entries stay in the store.
func (n *clusterNode) kill() { n.stopNode(); n.stopBeat() }

// session runs a short live session in channel chName on the node and
// returns the number of notices it makes (101 103 105 106 104 102).
func (n *clusterNode) session(chName string) int {
	n.t.Helper()
	for _, uid := range []uint32{1, 2} {
		role := channel.RoleBroadcaster
		if uid == 2 {
			role = channel.RoleAudience
		}
		if _, err := n.ch.Join(channel.JoinRequest{App: n.app, Channel: chName, UID: uid, Role: role,
			Profile: channel.ProfileLive, Endpoint: ignore{}, Client: channel.ClientInfo{Kind: "wechat"}}); err != nil {
			n.t.Fatal(err)
		}
	}
	must(n.t, n.ch.Leave(channel.Ref{App: n.app, Channel: chName, UID: 2}, errcode.LeaveNormal))
	must(n.t, n.ch.Leave(channel.Ref{App: n.app, Channel: chName, UID: 1}, errcode.LeaveNormal))
	return 6
}

func (n *clusterNode) pending() int { _, p := n.m.get(""); return p }

func (n *clusterNode) sent() int { s, _ := n.m.get(webhook.ResultSent); return s }

func setRefuse(recv *agoraReceiver, on bool) {
	recv.mu.Lock()
	recv.refuse = on
	recv.mu.Unlock()
}

// deliveredOnce waits until want distinct notices arrived, waits a little
// more for any duplicate, and fails unless each arrived exactly once.
func deliveredOnce(t *testing.T, recv *agoraReceiver, want int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d notices", want), 20*time.Second, func() bool { return len(unique(recv.notices())) >= want })
	time.Sleep(700 * time.Millisecond) // several sweeps and backoffs: a duplicate would come now
	got := recv.notices()
	count := map[string]int{}
	for _, n := range got {
		count[n.NoticeID]++
	}
	for id, c := range count {
		if c != 1 {
			t.Errorf("notice %s delivered %d times", id, c)
		}
	}
	if len(count) != want || len(got) != want {
		t.Errorf("%d deliveries of %d notices, want %d each once", len(got), len(count), want)
	}
}

// TestClusterDeliversEachEventOnce: nodes a and b observe sessions while
// the receiver refuses (their entries stay pending in the shared store);
// node c starts meanwhile, as a node joining or restarting does. Every
// notice is delivered exactly once, by the node that observed it: c
// delivers nothing, and no entry changes hands while its node is alive.
func TestClusterDeliversEachEventOnce(t *testing.T) {
	r := newClusterRig(t)
	recv := newAgoraReceiver(secret)
	setRefuse(recv, true)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	r.endpoint(srv.URL)
	cfg := webhook.Config{MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, SweepEvery: 100 * time.Millisecond}
	a, b := r.node("a", cfg), r.node("b", cfg)
	want := 0
	for i := range 3 {
		want += a.session(fmt.Sprintf("a%d", i))
		want += b.session(fmt.Sprintf("b%d", i))
	}
	waitFor(t, "the entries stored and attempted", 5*time.Second, func() bool {
		ra, _ := a.m.get(webhook.ResultRetried)
		rb, _ := b.m.get(webhook.ResultRetried)
		return len(r.outbox()) == want && ra > 0 && rb > 0
	})
	c := r.node("c", cfg)
	time.Sleep(5 * cfg.SweepEvery) // c loaded the outbox and swept a few times
	if p := c.pending(); p != 0 {
		t.Errorf("node c queued %d entries of live nodes", p)
	}
	setRefuse(recv, false)
	deliveredOnce(t, recv, want)
	for _, e := range r.outbox() {
		if e.Status != store.DeliveryDelivered || e.Node != e.Channel[:1] {
			t.Errorf("entry %d of channel %s: node %q, status %s", e.Seq, e.Channel, e.Node, e.Status)
		}
	}
	if c.sent() != 0 || a.sent()+b.sent() != want {
		t.Errorf("sent by a %d, b %d, c %d; want %d by a and b", a.sent(), b.sent(), c.sent(), want)
	}
}

// TestClusterDeadNodeEntriesAdoptedOnce: node a observes sessions while the
// receiver refuses, then is killed (no leave: its registry key expires
// after the TTL) with its entries pending. Nodes b and c, both sweeping
// every 50 ms, adopt each of them exactly once (each entry has one owner,
// and the two queues hold them all without overlap); once the receiver
// answers, every notice, b's own included, arrives exactly once.
func TestClusterDeadNodeEntriesAdoptedOnce(t *testing.T) {
	r := newClusterRig(t)
	recv := newAgoraReceiver(secret)
	setRefuse(recv, true)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	r.endpoint(srv.URL)
	cfg := webhook.Config{MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, SweepEvery: 50 * time.Millisecond}
	a, b, c := r.node("a", cfg), r.node("b", cfg), r.node("c", cfg)
	fromA := 0
	for i := range 5 {
		fromA += a.session(fmt.Sprintf("a%d", i))
	}
	fromB := b.session("b0")
	waitFor(t, "a's entries stored and attempted", 5*time.Second, func() bool {
		n, _ := a.m.get(webhook.ResultRetried)
		return len(r.outbox()) == fromA+fromB && n > 0
	})
	killed := time.Now()
	a.kill()
	waitFor(t, "a's entries adopted", 10*time.Second, func() bool {
		for _, e := range r.outbox() {
			if e.Node == "a" {
				return false
			}
		}
		return true
	})
	t.Logf("a's %d entries adopted %v after the kill (node TTL 1s, sweep 50ms)", fromA, time.Since(killed).Round(10*time.Millisecond))
	owners := map[string]int{}
	for _, e := range r.outbox() {
		owners[e.Node]++
		if strings.HasPrefix(e.Channel, "b") && e.Node != "b" {
			t.Errorf("live node b's entry %d moved to %q", e.Seq, e.Node)
		}
		if e.Node != "b" && e.Node != "c" {
			t.Errorf("entry %d owned by %q", e.Seq, e.Node)
		}
	}
	t.Logf("owners after adoption: %v", owners)
	// A sweep queues what it adopted just after the store says so.
	waitFor(t, "the adopted entries queued", 5*time.Second, func() bool { return b.pending()+c.pending() >= fromA+fromB })
	time.Sleep(4 * cfg.SweepEvery) // more sweeps: an entry queued twice would show now
	if pb, pc := b.pending(), c.pending(); pb+pc != fromA+fromB || pb != owners["b"] || pc != owners["c"] {
		t.Errorf("queued at b %d, at c %d; stored owners %v (want each entry queued once)", pb, pc, owners)
	}
	setRefuse(recv, false)
	deliveredOnce(t, recv, fromA+fromB)
	if b.pending() != 0 || c.pending() != 0 {
		t.Errorf("pending after delivery: b %d, c %d", b.pending(), c.pending())
	}
}

// TestClusterPausedNodeStopsAfterAdoption: node a only stops its
// heartbeats (a long pause, a partition from Redis) while its Service goes
// on; b adopts its entries after the TTL. a's next attempt of each finds it
// owned by b (store.ErrNotOwner) and drops it, so once the receiver answers
// only b delivers, each notice once.
func TestClusterPausedNodeStopsAfterAdoption(t *testing.T) {
	r := newClusterRig(t)
	recv := newAgoraReceiver(secret)
	setRefuse(recv, true)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	r.endpoint(srv.URL)
	cfg := webhook.Config{MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, SweepEvery: 50 * time.Millisecond}
	a, b := r.node("a", cfg), r.node("b", cfg)
	want := a.session("a0") + a.session("a1")
	waitFor(t, "a's entries stored and attempted", 5*time.Second, func() bool {
		n, _ := a.m.get(webhook.ResultRetried)
		return len(r.outbox()) == want && n > 0
	})
	a.stopBeat()
	waitFor(t, "b adopted a's entries", 10*time.Second, func() bool { return b.pending() == want })
	waitFor(t, "a dropped what it lost", 5*time.Second, func() bool { return a.pending() == 0 })
	setRefuse(recv, false)
	deliveredOnce(t, recv, want)
	if a.sent() != 0 || b.sent() != want {
		t.Errorf("sent by a %d, by b %d; want all %d by b", a.sent(), b.sent(), want)
	}
}

// TestClusterRedeliverOnAnotherNode: entries node a gave up on are
// redelivered through node b (the REST API may land on any node): b takes
// them over and delivers each once; a, alive, sends none of them again.
func TestClusterRedeliverOnAnotherNode(t *testing.T) {
	r := newClusterRig(t)
	recv := newAgoraReceiver(secret)
	setRefuse(recv, true)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	r.endpoint(srv.URL)
	cfg := webhook.Config{RetryFor: 300 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		SweepEvery: 50 * time.Millisecond}
	a, b := r.node("a", cfg), r.node("b", cfg)
	want := a.session("a0")
	waitFor(t, "a gave up", 10*time.Second, func() bool {
		es := r.outbox()
		for _, e := range es {
			if e.Status != store.DeliveryFailed || e.Node != "a" {
				return false
			}
		}
		return len(es) == want
	})
	setRefuse(recv, false)
	ctx := context.Background()
	seen := map[string]bool{}
	for _, e := range r.outbox() {
		if seen[e.NoticeID] {
			continue
		}
		seen[e.NoticeID] = true
		got, err := b.svc.Redeliver(ctx, r.app, e.NoticeID)
		if err != nil || len(got) != 1 || got[0].Node != "b" || got[0].Status != store.DeliveryPending {
			t.Fatalf("redeliver %s at b: %+v %v", e.NoticeID, got, err)
		}
	}
	deliveredOnce(t, recv, want)
	for _, e := range r.outbox() {
		if e.Status != store.DeliveryDelivered || e.Node != "b" {
			t.Errorf("entry %d: node %q status %s", e.Seq, e.Node, e.Status)
		}
	}
	if a.sent() != 0 || b.sent() != want {
		t.Errorf("sent by a %d, by b %d; want %d by b", a.sent(), b.sent(), want)
	}
}
