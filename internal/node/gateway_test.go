package node

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// TestNodeServesGateway: a served node answers the allocation request and a
// join with a real token over its WebSocket, then publish hands out a push URL.
func TestNodeServesGateway(t *testing.T) {
	n, err := NewWithStore(testConfig(t), slog.New(slog.NewTextHandler(io.Discard, nil)), store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	app, _ := n.CreatedDefaultApp()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	base := "http://" + n.HTTPAddr()
	var alloc mc.Allocation
	for i := 0; ; i++ {
		alloc, err = mc.Allocate(context.Background(), nil, base+"/api/v1", mc.AllocateRequest{})
		if err == nil {
			break
		}
		if i > 200 {
			t.Fatalf("AP never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if alloc.VID == "" || len(alloc.Servers) == 0 {
		t.Fatalf("AP answer %+v", alloc)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	conn, err := mc.Dial(dctx, "ws://"+n.HTTPAddr()+"/api")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: "room",
		UID: "42", Role: token.RolePublisher, IssuedAt: time.Now(), Lifetime: 600})
	if err != nil {
		t.Fatal(err)
	}
	call := func(id int, req map[string]any) map[string]any {
		action, _ := req["action"].(string)
		if _, err := conn.Send(dctx, mc.Request{ID: int64(id), Action: action, Fields: req}); err != nil {
			t.Fatal(err)
		}
		f, err := conn.Next(dctx)
		if err != nil {
			t.Fatal(err)
		}
		data := f.Raw
		var m map[string]any
		json.Unmarshal(data, &m)
		if m["code"] != 200.0 || m["requestId"] != float64(id) {
			t.Fatalf("reply %s", data)
		}
		r, _ := m["serverResponse"].(map[string]any)
		return r
	}
	r := call(3, map[string]any{"action": "join", "role": "broadcaster", "appId": app.ID, "key_vos": tok,
		"channel_name": "room", "uid": "42", "uidType": 0})
	if r["uid"] != 42.0 {
		t.Fatalf("join %v", r)
	}
	r = call(4, map[string]any{"action": "publish", "uid": 42})
	if u, _ := r["url"].(string); !strings.HasPrefix(u, "rtmp://") {
		t.Fatalf("publish %v", r)
	}
	// With the default gateway.urlLifetime the push URL outlives a 24 h
	// token, as the gateway's own tests expect of it.
	pu, err := url.Parse(r["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Signer().Verify(token.ActionPublish, strings.TrimPrefix(pu.Path, "/live/"), pu.Query(), time.Now().Add(24*time.Hour)); err != nil {
		t.Fatalf("push URL %s does not verify 24 h later: %v", pu, err)
	}
	if err := n.Channels().MayPublish(app.ID, "room", 42); err != nil {
		t.Fatalf("media seam: %v", err)
	}
}
