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
// it over HTTP-FLV, reports liveness to the channel; when the publisher does
// not come back within the grace period the players are closed and the
// others get stream-removed at once (the media start timeout is an hour, so
// only the grace expiry can have sent it); the member may publish again, and
// a kick closes the member's push connection.
func TestMediaThroughNode(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTMP.Addr = "127.0.0.1:0"
	cfg.Media.PublisherGrace = 300 * time.Millisecond
	cfg.Gateway.MediaStartTimeout = time.Hour
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
	watcher := &recEndpoint{}
	if _, err := n.Channels().Join(channel.JoinRequest{App: app.ID, Channel: "room", UID: 43, Role: channel.RoleAudience,
		Profile: channel.ProfileCommunication, Endpoint: watcher}); err != nil {
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
	// The player ended because the grace period expired: the hub holds no
	// reader, and the others were told the stream is gone.
	if r := n.Media().Stats().Readers; r != 0 {
		t.Errorf("%d readers after the grace period", r)
	}
	stopped := func() (channel.StopReason, bool) {
		watcher.mu.Lock()
		defer watcher.mu.Unlock()
		for _, ev := range watcher.events {
			if ev.Kind == channel.EventStreamStopped && ev.UID == 42 {
				return ev.StopReason, true
			}
		}
		return 0, false
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if why, ok := stopped(); ok {
			if why != channel.StopMediaEnded {
				t.Fatalf("stream-removed with reason %s, want %s", why, channel.StopMediaEnded)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no stream-removed after the grace period")
		}
	}
	if mi, ok := n.Channels().Member(app.ID, "room", 42); !ok || mi.Publishing {
		t.Fatalf("publisher after grace expiry: member %v, %+v", ok, mi)
	}

	// The member is still in the channel. Its pusher comes back on the same
	// URL without a new publish (a mini program long in the background):
	// the stream is announced again.
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
	if mi, ok := n.Channels().Member(app.ID, "room", 42); !ok || !mi.Publishing {
		t.Fatalf("returning pusher: member %v, %+v", ok, mi)
	}
	watcher.mu.Lock()
	announced := 0
	for _, ev := range watcher.events {
		if ev.Kind == channel.EventStreamStarted && ev.UID == 42 {
			announced++
		}
	}
	watcher.mu.Unlock()
	// The watcher joined after the first publish: it sees the return only.
	if announced != 1 {
		t.Fatalf("stream announced %d times to the watcher, want 1 (the pusher's return)", announced)
	}

	// A kick closes the member's push connection at once.
	if err := n.Channels().Kick(app.ID, "room", 42, "test kick"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pushDone:
	case <-time.After(15 * time.Second):
		t.Fatal("kicked member's push still running")
	}
}
