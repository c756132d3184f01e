package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/redistest"
	"github.com/minirtc/minirtc/internal/store"
)

// TestClusterWebhooksOnceAndNodeMetrics: in a cluster, the notices of a
// member that joined on node a are delivered once, by a, although node c
// starts while they are pending in the shared outbox (a node loading every
// pending entry would send them again); each node's /metrics labels its
// series with its node id.
func TestClusterWebhooksOnceAndNodeMetrics(t *testing.T) {
	srv := redistest.Start(t)
	cfgFor := func(id string) config.Config {
		cfg := clusterConfig(t, srv, id)
		cfg.Webhooks.MinBackoff, cfg.Webhooks.MaxBackoff = 50*time.Millisecond, 200*time.Millisecond
		return cfg
	}
	a := startClusterNode(t, cfgFor("a"))
	b := startClusterNode(t, cfgFor("b"))
	ctx := context.Background()
	apps, err := a.Store().Apps(ctx)
	if err != nil || len(apps) != 1 {
		t.Fatal(apps, err)
	}
	app := apps[0]

	var mu sync.Mutex
	refuse, got := true, map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct {
			NoticeID string `json:"noticeId"`
		}
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if refuse || json.Unmarshal(body, &n) != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got[n.NoticeID]++
	}))
	defer recv.Close()
	ep, err := store.NewWebhookEndpoint(app.ID, recv.URL, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store().PutWebhookEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}

	m := dialGateway(t, a)
	if code, reason := m.join(app.ID, app.Certificate, "room", 11, "broadcaster", "ios"); code != 200 {
		t.Fatalf("join on a: %d %s", code, reason)
	}
	outbox := func() []store.OutboxEntry {
		es, err := a.Store().RecentOutbox(ctx, app.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	waitFor(t, "a's entries stored and attempted", func() bool {
		es := outbox()
		attempted := false
		for _, e := range es {
			attempted = attempted || e.Attempts > 0
		}
		return len(es) >= 2 && attempted
	})
	c := startClusterNode(t, cfgFor("c"))
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	refuse = false
	mu.Unlock()
	waitFor(t, "every entry delivered", func() bool {
		for _, e := range outbox() {
			if e.Status != store.DeliveryDelivered {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // a duplicate from c (or b) would arrive now
	es := outbox()
	mu.Lock()
	for _, e := range es {
		if e.Node != "a" || got[e.NoticeID] != 1 {
			t.Errorf("entry %d (event %d) of a member on a: node %q, delivered %d times", e.Seq, e.EventType, e.Node, got[e.NoticeID])
		}
	}
	if len(got) != len(es) {
		t.Errorf("%d notices received, %d in the outbox", len(got), len(es))
	}
	mu.Unlock()

	for id, n := range map[string]*Node{"a": a, "b": b, "c": c} {
		resp, err := http.Get("http://" + n.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "minirtc_build_info{") && !strings.Contains(line, `node="`+id+`"`) {
				t.Errorf("node %s: %s", id, line)
			}
		}
		if !strings.Contains(string(body), `minirtc_build_info{`) {
			t.Errorf("node %s serves no build info", id)
		}
	}
}
