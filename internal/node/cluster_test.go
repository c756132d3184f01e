package node

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + n.HTTPAddr() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return n
			}
		}
		if i > 300 {
			t.Fatalf("node never ready: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
