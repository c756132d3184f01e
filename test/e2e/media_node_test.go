package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/node"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

type nopEndpoint struct{}

func (nopEndpoint) Notify(channel.Event) {}

// TestMediaThroughNode: the assembled node refuses a push from a uid that
// has not joined and published in the channel, accepts it once it has, plays
// it over HTTP-FLV, reports liveness to the channel, and a kick closes the
// member's push connection.
func TestMediaThroughNode(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTMP.Addr = "127.0.0.1:0"
	cfg.Media.PublisherGrace = 300 * time.Millisecond
	n, err := node.NewWithStore(cfg, testLogger(t), store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	app, _ := n.CreatedDefaultApp()
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- n.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("node run: %v", err)
		}
	}()

	var mu sync.Mutex
	var kinds []channel.EventKind
	stop := n.Channels().Observe(func(ev channel.Event) {
		mu.Lock()
		kinds = append(kinds, ev.Kind)
		mu.Unlock()
	})
	defer stop()
	seen := func(k channel.EventKind) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, x := range kinds {
			if x == k {
				return true
			}
		}
		return false
	}

	stream := token.StreamName(app.ID, "room", "42")
	pushURL := fmt.Sprintf("rtmp://%s/live/%s?%s", n.RTMPAddr(), stream, n.Signer().Query(token.ActionPublish, stream, time.Now().Add(time.Hour)))
	playURL := fmt.Sprintf("http://%s/live/%s.flv?%s", n.HTTPAddr(), stream, n.Signer().Query(token.ActionPlay, stream, time.Now().Add(time.Hour)))
	src, want := makeSource(t, 2, true, true)
	tctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	defer tcancel()

	// Not a member: the gate refuses the push.
	if err := runWait(pushFile(tctx, t, src, pushURL)); err == nil {
		t.Fatal("push from a non-member was accepted")
	}

	ref := channel.Ref{App: app.ID, Channel: "room", UID: 42, Endpoint: nopEndpoint{}}
	if _, err := n.Channels().Join(channel.JoinRequest{App: app.ID, Channel: "room", UID: 42, Role: channel.RoleBroadcaster,
		Profile: channel.ProfileCommunication, Endpoint: ref.Endpoint}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Channels().Publish(ref, pushURL); err != nil {
		t.Fatal(err)
	}

	// A player connects at stream-added time, before the media.
	out := filepath.Join(t.TempDir(), "play.flv")
	player := recordCmd(tctx, t, playURL, out)
	playDone := make(chan error, 1)
	go func() { playDone <- runWait(player) }()
	waitReaders(t, n.Media(), 1)
	if err := runWait(pushFile(tctx, t, src, pushURL)); err != nil {
		t.Fatal(err)
	}
	if err := <-playDone; err != nil {
		t.Fatal(err)
	}
	if got := readFLV(t, out); got.video != want.video || got.audio != want.audio || !got.firstVideoKey {
		t.Errorf("player got %d/%d frames, want %d/%d", got.video, got.audio, want.video, want.audio)
	}
	if !seen(channel.EventMediaStarted) || !seen(channel.EventMediaStopped) {
		t.Errorf("channel events %v: want media-started and media-stopped", kinds)
	}

	// A kick closes the member's push connection at once.
	long, _ := makeSource(t, 20, true, true)
	pushDone := make(chan error, 1)
	start := time.Now()
	go func() { pushDone <- runWait(pushFile(tctx, t, long, pushURL)) }()
	for !n.Media().Live(mediaKey(app.ID, "42")) {
		if time.Since(start) > 20*time.Second {
			t.Fatal("push did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := n.Channels().Kick(app.ID, "room", 42, "test kick"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pushDone:
	case <-time.After(15 * time.Second):
		t.Fatal("kicked member's push still running")
	}
}
