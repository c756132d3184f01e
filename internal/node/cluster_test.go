package node

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/redistest"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/redis/go-redis/v9"
)

// clusterConfig is a loopback node of the cluster on srv.
func clusterConfig(t *testing.T, srv *redistest.Server, id string) config.Config {
	cfg := testConfig(t)
	cfg.Cluster.Redis = srv.URL()
	cfg.Cluster.NodeID = id
	cfg.Cluster.NodeTTL = 2 * time.Second
	cfg.Cluster.LeaseTTL = 2 * time.Second
	return cfg
}

// startClusterNode starts a node of a cluster (New, so it dials Redis) and
// stops it when the test ends.
func startClusterNode(t *testing.T, cfg config.Config) *Node {
	t.Helper()
	n, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return runUntilReady(t, n)
}

func TestClusterNodesShareStateAndRegister(t *testing.T) {
	srv := redistest.Start(t)
	a := startClusterNode(t, clusterConfig(t, srv, "a"))
	b := startClusterNode(t, clusterConfig(t, srv, "b"))
	c := startClusterNode(t, clusterConfig(t, srv, "c"))
	ctx := context.Background()

	// One default app for the whole cluster: the first node made it.
	if _, ok := a.CreatedDefaultApp(); !ok {
		t.Fatal("the first node did not create the default app")
	}
	for _, n := range []*Node{b, c} {
		if _, ok := n.CreatedDefaultApp(); ok {
			t.Fatal("a later node created a second default app")
		}
	}
	apps, err := c.Store().Apps(ctx)
	if err != nil || len(apps) != 1 {
		t.Fatalf("apps seen by node c: %+v %v", apps, err)
	}
	// A media URL signed by one node verifies on another (shared secret).
	stream := token.StreamName(apps[0].ID, "room", "7")
	q, err := url.ParseQuery(a.Signer().Query(token.ActionPublish, stream, time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Signer().Verify(token.ActionPublish, stream, q, time.Now()); err != nil {
		t.Fatalf("node b refuses node a's signed URL: %v", err)
	}

	// Every node is in the registry with its advertised address.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	reg, err := cluster.New(rdb, cluster.Config{Prefix: "minirtc", NodeTTL: time.Second, LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := reg.Nodes(ctx)
	if err != nil || len(nodes) != 3 {
		t.Fatalf("registry: %+v %v", nodes, err)
	}
	for i, n := range []*Node{a, b, c} {
		self, _ := n.ClusterNode()
		if nodes[i].ID != self.ID || nodes[i].Gateway != "http://"+n.HTTPAddr() {
			t.Fatalf("registry entry %d: %+v, want %s at http://%s", i, nodes[i], self.ID, n.HTTPAddr())
		}
	}
}

func TestClusterAPIAnswersForEveryNode(t *testing.T) {
	srv := redistest.Start(t)
	a := startClusterNode(t, clusterConfig(t, srv, "a"))
	b := startClusterNode(t, clusterConfig(t, srv, "b"))
	c := startClusterNode(t, clusterConfig(t, srv, "c"))
	ctx := context.Background()
	apps, err := a.Store().Apps(ctx)
	if err != nil || len(apps) != 1 {
		t.Fatal(apps, err)
	}
	app := apps[0]
	// An API key made through one node works on every node (shared store).
	k, secret, _ := store.NewAPIKey("ops", time.Now())
	if err := a.Store().PutAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	// Members join channels on nodes a and b.
	ma := dialGateway(t, a)
	if code, reason := ma.join(app.ID, app.Certificate, "room-a", 11, "broadcaster", "ios"); code != 200 {
		t.Fatalf("join on a: %d %s", code, reason)
	}
	mb := dialGateway(t, b)
	if code, reason := mb.join(app.ID, app.Certificate, "room-b", 22, "broadcaster", "android"); code != 200 {
		t.Fatalf("join on b: %d %s", code, reason)
	}
	// Asked at node c, which holds neither channel.
	rest := restClient{t: t, base: "http://" + c.HTTPAddr() + APIPrefix, id: k.ID, secret: secret}
	code, body := rest.do("GET", "/v1/nodes", nil)
	if code != 200 || !strings.Contains(string(body), `"a"`) || !strings.Contains(string(body), `"b"`) || !strings.Contains(string(body), `"c"`) {
		t.Fatalf("GET /v1/nodes at c: %d %s", code, body)
	}
	code, body = rest.do("GET", "/v1/apps/"+app.ID+"/channels", nil)
	if code != 200 || !strings.Contains(string(body), "room-a") || !strings.Contains(string(body), "room-b") {
		t.Fatalf("channels at c: %d %s", code, body)
	}
	// A forged cluster credential gets nothing, even with a valid key.
	req, _ := http.NewRequest("GET", "http://"+c.HTTPAddr()+APIPrefix+"/v1/apps/"+app.ID+"/channels", nil)
	req.SetBasicAuth(k.ID, secret)
	req.Header.Set(cluster.AuthHeader, "a:1:forged")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged cluster credential: %d, want 401", resp.StatusCode)
	}
}

// decodeFrames plays url with ffmpeg until it decoded n video frames, or
// fails the test.
func decodeFrames(t *testing.T, url string, n int) {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg is required (make test installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-i", url,
		"-frames:v", strconv.Itoa(n), "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("playing %s: %v\n%s", url, err, out)
	}
}

func TestClusterMediaReachesEveryNode(t *testing.T) {
	srv := redistest.Start(t)
	a := startClusterNode(t, clusterConfig(t, srv, "a"))
	b := startClusterNode(t, clusterConfig(t, srv, "b"))
	c := startClusterNode(t, clusterConfig(t, srv, "c"))
	ctx := context.Background()
	apps, _ := a.Store().Apps(ctx)
	app := apps[0]
	tok := func(uid string, role token.Role) string {
		s, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: "room",
			UID: uid, Role: role, IssuedAt: time.Now(), Lifetime: 600})
		if err != nil {
			t.Fatal(err)
		}
		return url.QueryEscape(s)
	}
	stream := token.StreamName(app.ID, "room", "55")
	// ffmpeg pushes to node a, which takes the channel.
	startPush(t, "rtmp://"+a.RTMPAddr()+"/live/"+stream+"?token="+tok("55", token.RolePublisher))
	waitFor(t, "node a to own the channel", func() bool {
		owned := a.cluster.agent.Owned()
		return len(owned) == 1 && owned[0].Channel == "room"
	})
	// A second pusher of the channel on another node is sent to the owner.
	// Readers on b (HTTP-FLV) and c (RTMP) play it: their nodes pull it
	// from a once each.
	decodeFrames(t, "http://"+b.HTTPAddr()+"/live/"+stream+".flv?token="+tok("77", token.RoleSubscriber), 50)
	decodeFrames(t, "rtmp://"+c.RTMPAddr()+"/live/"+stream+"?token="+tok("78", token.RoleSubscriber), 50)
	out := a.cluster.origin.BytesOut()
	if out["b"] == 0 || out["c"] == 0 {
		t.Fatalf("node a sent the stream to %v; want b and c", out)
	}
	// A publish of the same channel through node b is refused with the owner's name.
	if _, err := b.admission.Authorize(ctx, token.ActionPublish, token.StreamName(app.ID, "room", "56"),
		url.Values{"token": {mustUnescape(t, tok("56", token.RolePublisher))}}); err == nil || !strings.Contains(err.Error(), "served by node a") {
		t.Fatalf("publish through b: %v, want a refusal naming node a", err)
	}
}

func mustUnescape(t *testing.T, s string) string {
	t.Helper()
	u, err := url.QueryUnescape(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// joinThrough joins ch as uid through node n with the shared client, with
// a publisher token, and closes the connection when the test ends.
func joinThrough(t *testing.T, n *Node, app store.App, ch string, uid int) *mc.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := mc.Dial(ctx, "ws://"+n.HTTPAddr()+"/api", mc.WithPingInterval(mc.DefaultPingInterval))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.CloseNow)
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: ch,
		UID: strconv.Itoa(uid), Role: token.RolePublisher, IssuedAt: time.Now(), Lifetime: 600})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Join(ctx, mc.JoinParams{AppID: app.ID, Channel: ch, UID: strconv.Itoa(uid), Key: tok, Role: mc.RoleBroadcaster}); err != nil {
		t.Fatalf("join %s as %d through %s: %v", ch, uid, n.HTTPAddr(), err)
	}
	return cc
}

// TestClusterOneChannelThroughThreeNodes: members reach the same channel
// through different nodes and see each other's streams; the publisher's
// push URL names the owner, ffmpeg pushes there and a member on another
// node plays it; WHEP on a node that does not serve the stream answers a
// redirect to the owner, which a WHEP client follows and plays.
func TestClusterOneChannelThroughThreeNodes(t *testing.T) {
	srv := redistest.Start(t)
	nodes := map[string]*Node{}
	for _, id := range []string{"a", "b", "c"} {
		nodes[id] = startClusterNode(t, clusterConfig(t, srv, id))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	apps, _ := nodes["a"].Store().Apps(ctx)
	app := apps[0]

	x := joinThrough(t, nodes["a"], app, "conf", 1)
	y := joinThrough(t, nodes["b"], app, "conf", 2)
	lease, err := nodes["a"].cluster.c.Owner(ctx, app.ID, "conf")
	if err != nil || lease == nil {
		t.Fatalf("the channel has no owner: %v", err)
	}
	owner := nodes[lease.Owner]
	if got := owner.channels.Members(app.ID, "conf"); len(got) != 2 {
		t.Fatalf("owner %s has %d members, want both (joined through a and b)", lease.Owner, len(got))
	}
	pushURL, err := x.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pushURL, owner.RTMPAddr()) {
		t.Fatalf("push URL %s does not name the owner's RTMP address %s", pushURL, owner.RTMPAddr())
	}
	startPush(t, pushURL)
	if _, err := y.WaitPush(ctx, func(p mc.Push) bool { return p.Action == "stream-added" && p.UID == 1 }); err != nil {
		t.Fatalf("y (through b) never saw x's stream: %v", err)
	}
	play, err := y.Subscribe(ctx, 1, mc.SubscribeOptions{Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	decodeFrames(t, play.URL, 25)

	// WHEP through a node that does not serve the channel: a 307 to the owner.
	var other *Node
	for id, n := range nodes {
		if id != lease.Owner {
			other = n
			break
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", "http://"+other.HTTPAddr()+"/whep/"+app.ID+"/conf/1", strings.NewReader("v=0"))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(resp.Header.Get("Location"), "http://"+owner.HTTPAddr()+"/whep/") {
		t.Fatalf("WHEP on a non-owner: %d Location %q, want 307 to %s", resp.StatusCode, resp.Header.Get("Location"), owner.HTTPAddr())
	}
	startWHEP(t, other, app, "conf", "1", "9") // follows the redirect and waits for media
}

func TestClusterNodesStartingTogetherMakeOneApp(t *testing.T) {
	srv := redistest.Start(t)
	var wg sync.WaitGroup
	nodes := make([]*Node, 3)
	for i := range nodes {
		cfg := clusterConfig(t, srv, "n"+strconv.Itoa(i))
		cfg.DataDir = filepath.Join(t.TempDir(), "not-yet-made") // a cluster node makes its data dir
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i] = startClusterNode(t, cfg)
		}()
	}
	wg.Wait()
	apps, err := nodes[0].Store().Apps(context.Background())
	if err != nil || len(apps) != 1 {
		t.Fatalf("three nodes started together on an empty Redis made %d apps (%v), want 1", len(apps), err)
	}
	created := 0
	for _, n := range nodes {
		if _, ok := n.CreatedDefaultApp(); ok {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d nodes say they created the default app", created)
	}
}
