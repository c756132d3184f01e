package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// edgeRouter is a cluster Router whose PlayHost sends the viewers listed
// in edges to an edge node.
type edgeRouter struct {
	*fakeRouter

	mu    sync.Mutex
	edges map[string]bool // viewer uid -> sent to the edge
	asked []string        // "target/viewer/flv" of each PlayHost call
}

func (r *edgeRouter) PlayHost(ctx context.Context, app, ch, target, viewer string, flv bool) (string, string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, target+"/"+viewer+"/"+map[bool]string{true: "flv", false: "rtmp"}[flv])
	if !r.edges[viewer] {
		return "", "", false
	}
	return "edge.example.com:1936", "https://edge.example.com", true
}

func (r *edgeRouter) set(viewer string, edge bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.edges[viewer] = edge
}

// TestSubscribeAnswersEdgeHost: in a cluster, the subscribe answer names
// the node the Router's PlayHost chooses (RTMP authority or HTTP-FLV base),
// signed as usual; a viewer it keeps here gets this node's URL; the
// refreshed URLs (update-url) keep naming the node the subscription was
// sent to, without asking again.
func TestSubscribeAnswersEdgeHost(t *testing.T) {
	r := &edgeRouter{fakeRouter: newFakeRouter("a"), edges: map[string]bool{"3": true}}
	e := newEnv(t, func(c *Config, a *store.App) { c.Router = r; a.Settings.AllowNoToken = true })
	pub := e.dial()
	pub.uid = "1"
	pub.ok("join", pub.joinFields(e.app.ID, "room", "1", "broadcaster"))
	pub.ok("publish", nil)
	e.mgr.MediaStarted(e.app.ID, "room", 1)
	here := e.dial()
	here.uid = "2"
	here.ok("join", here.joinFields(e.app.ID, "room", "2", "audience"))
	edge := e.dial()
	edge.uid = "3"
	edge.ok("join", edge.joinFields(e.app.ID, "room", "3", "audience"))

	u := here.ok("subscribe", map[string]any{"uid": 1, "options": map[string]any{"audio": true, "video": true}}).resp()["url"].(string)
	checkSigned(t, e, u, token.ActionPlay, "rtmp://media.example.com/live/", "1")
	u = edge.ok("subscribe", map[string]any{"uid": 1, "options": map[string]any{"audio": true, "video": true}}).resp()["url"].(string)
	checkSigned(t, e, u, token.ActionPlay, "rtmp://edge.example.com:1936/live/", "1")
	u = edge.ok("subscribe", map[string]any{"uid": 1, "options": map[string]any{"audio": true, "video": true, "flv": true}}).resp()["url"].(string)
	checkSigned(t, e, u, token.ActionPlay, "https://edge.example.com/live/", "1")
	if !strings.Contains(u, "viewer=3") && !strings.Contains(u, "uid=3") {
		t.Fatalf("edge URL %s is not issued to viewer 3", u)
	}
	r.mu.Lock()
	asked := strings.Join(r.asked, " ")
	r.mu.Unlock()
	if asked != "1/2/rtmp 1/3/rtmp 1/3/flv" {
		t.Fatalf("PlayHost calls %q", asked)
	}

	// The refresh keeps the edge, even if the Router would now say otherwise.
	r.set("3", false)
	e.clk.Advance(defaults.GatewayURLLifetime - DefaultURLRefreshLead)
	var got []string
	for _, p := range edge.sync() {
		if p.action() == "update-url" && p.status()["uid"] == json.Number("1") {
			got = append(got, p.status()["url"].(string))
		}
	}
	if len(got) != 1 {
		t.Fatalf("edge subscriber's update-url: %v", got)
	}
	checkSigned(t, e, got[0], token.ActionPlay, "https://edge.example.com/live/", "1")
	for _, p := range here.sync() {
		if p.action() == "update-url" {
			checkSigned(t, e, p.status()["url"].(string), token.ActionPlay, "rtmp://media.example.com/live/", "1")
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.asked) != 3 {
		t.Fatalf("the refresh asked PlayHost again: %v", r.asked)
	}
}
