package e2e

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/token"
)

// TestTokenPushJoinsChannel: ffmpeg pushes RTMP with nothing but an access
// token for uid 42 — no SDK member. The node makes 42 a broadcaster of the
// channel while it pushes: a mini program member gets stream-added for 42,
// plays it with the play URL subscribe hands out, and gets stream-removed
// and 42 gone when the push ends. A subscriber token cannot push that way.
func TestTokenPushJoinsChannel(t *testing.T) {
	needTool(t, "ffmpeg")
	e := newNodeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const pubUID, viewUID = 42, 43
	stream := token.StreamName(e.app.ID, "room", fmt.Sprint(pubUID))
	pushURL := func(role token.Role) string {
		return fmt.Sprintf("rtmp://%s/live/%s?token=%s", e.n.RTMPAddr(), stream, url.QueryEscape(e.token("room", fmt.Sprint(pubUID), role)))
	}

	viewer := dialMiniProgram(ctx, t, "ws://"+e.n.HTTPAddr()+"/api")
	defer viewer.close()
	viewer.join(e.app.ID, "room", viewUID, e.token("room", fmt.Sprint(viewUID), token.RolePublisher))

	// A subscriber token may not push, member or not.
	src, want := makeSource(t, 3, true, true)
	if err := runWait(pushFile(ctx, t, src, pushURL(token.RoleSubscriber))); err == nil {
		t.Fatal("a subscriber token pushed")
	}
	if _, ok := e.n.Channels().Member(e.app.ID, "room", pubUID); ok {
		t.Fatal("a refused push left a member behind")
	}

	push := pushFile(ctx, t, src, pushURL(token.RolePublisher))
	pushDone := make(chan error, 1)
	go func() { pushDone <- runWait(push) }()
	viewer.waitPush(t, "stream-added", pubUID, nil)
	if mi, ok := e.n.Channels().Member(e.app.ID, "room", pubUID); !ok || !mi.Publishing {
		t.Fatalf("uid %d not a publishing member while it pushes: %+v", pubUID, mi)
	}
	sub := viewer.request("subscribe", map[string]any{"uid": fmt.Sprint(pubUID)})
	playURL, _ := sub["url"].(string)
	if playURL == "" {
		t.Fatalf("subscribe answered no url: %v", sub)
	}
	out := filepath.Join(t.TempDir(), "play.flv")
	if err := runWait(recordCmd(ctx, t, playURL, out)); err != nil {
		t.Fatalf("play %s: %v", playURL, err)
	}
	if err := <-pushDone; err != nil {
		t.Fatalf("token push: %v", err)
	}
	got := readFLV(t, out)
	if got.video < want.video/3 || got.audio == 0 {
		t.Errorf("viewer got %d video / %d audio frames of %d / %d", got.video, got.audio, want.video, want.audio)
	}
	// The push ended: the stream and the member go with it.
	viewer.waitPush(t, "stream-removed", pubUID, nil)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, ok := e.n.Channels().Member(e.app.ID, "room", pubUID); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the token push's member stayed after the push ended")
		}
	}
}
