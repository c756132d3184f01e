package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/token"
)

// gatewayViewer is a mini program member on the gateway's WebSocket (the
// shared client, package client): it joins and asks for play URLs the way
// the SDK does.
type gatewayViewer struct {
	t   *testing.T
	cc  *mc.Conn
	ctx context.Context
}

func dialViewer(ctx context.Context, e *nodeEnv, uid string) *gatewayViewer {
	e.t.Helper()
	cc, err := mc.Dial(ctx, "ws://"+e.n.HTTPAddr()+"/api")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cc.CloseNow)
	v := &gatewayViewer{t: e.t, cc: cc, ctx: ctx}
	v.call(map[string]any{"action": "join", "role": "audience", "appId": e.app.ID, "key_vos": e.token("room", uid, token.RoleSubscriber),
		"channel_name": "room", "uid": uid, "uidType": 0})
	return v
}

// call sends one request and returns its serverResponse, skipping pushes.
func (v *gatewayViewer) call(req map[string]any) map[string]any {
	v.t.Helper()
	action, _ := req["action"].(string)
	reply, err := v.cc.Call(v.ctx, action, req)
	if err != nil {
		v.t.Fatalf("%v: reply %s: %v", req["action"], reply, err)
	}
	var m map[string]any
	if err := json.Unmarshal(reply.Raw, &m); err != nil {
		v.t.Fatal(err)
	}
	r, _ := m["serverResponse"].(map[string]any)
	return r
}

// playURL subscribes to uid over RTMP or FLV and returns the URL handed out.
func (v *gatewayViewer) playURL(uid int, flv bool) string {
	v.t.Helper()
	r := v.call(map[string]any{"action": "subscribe", "uid": uid,
		"options": map[string]any{"audio": true, "video": true, "flv": flv}})
	u, _ := r["url"].(string)
	if u == "" {
		v.t.Fatalf("subscribe reply %v", r)
	}
	return u
}

// TestMediaKickClosesSignedPlayers: two audience members subscribe through
// the gateway and play the publisher over RTMP and HTTP-FLV with the signed
// URLs they were given; kicking one member closes both of its players at
// once, while the other member's players keep playing.
func TestMediaKickClosesSignedPlayers(t *testing.T) {
	e := newNodeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	e.joinPublisher(42)
	long, _ := makeSource(t, 30, true, true)
	push := pushFile(ctx, t, long, e.pushURL("42"))
	pushDone := make(chan error, 1)
	go func() { pushDone <- runWait(push) }()
	defer func() {
		cancel()
		<-pushDone
	}()
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, "42"))

	kicked, other := dialViewer(ctx, e, "7"), dialViewer(ctx, e, "8")
	urls := map[string]string{
		"kicked-rtmp": kicked.playURL(42, false),
		"kicked-flv":  kicked.playURL(42, true),
		"other-rtmp":  other.playURL(42, false),
		"other-flv":   other.playURL(42, true),
	}
	for name, u := range urls {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[byte]string{'k': "7", 'o': "8"}[name[0]]; pu.Query().Get("viewer") != want {
			t.Fatalf("%s URL names viewer %q, want %q", name, pu.Query().Get("viewer"), want)
		}
	}

	dir := t.TempDir()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ended := make(map[string]bool)
	endedCh := make(chan string, len(urls))
	cmds := make(map[string]*exec.Cmd)
	for name, u := range urls {
		cmds[name] = recordCmd(ctx, t, u, filepath.Join(dir, name+".flv"))
	}
	for name, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = runWait(cmd)
			mu.Lock()
			ended[name] = true
			mu.Unlock()
			endedCh <- name
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	waitReaders(t, e.n.Media(), len(urls))

	if err := e.n.Channels().Kick(e.app.ID, "room", 7, "test kick"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case name := <-endedCh:
			if name[0] != 'k' {
				t.Fatalf("%s player ended after another member's kick", name)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the kicked member's players are still playing")
		}
	}
	// The other member's players are still connected and reading.
	if r := e.n.Media().Stats().Readers; r != 2 {
		t.Fatalf("%d readers after the kick, want the other member's 2", r)
	}
	mu.Lock()
	stillPlaying := !ended["other-rtmp"] && !ended["other-flv"]
	mu.Unlock()
	if !stillPlaying {
		t.Fatal("the other member's players ended")
	}
	cancel() // ends the publisher and the remaining players
}
