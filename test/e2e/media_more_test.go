package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
)

// TestMediaRefusals: unsigned, expired, tampered and wrong-action URLs are
// refused for push (ffmpeg fails) and play (ffmpeg fails, HTTP-FLV 401).
func TestMediaRefusals(t *testing.T) {
	env := newMediaEnv(t, media.Config{})
	src, _ := makeSource(t, 1, true, true)
	s := env.stream("7")
	base := fmt.Sprintf("rtmp://%s/live/%s", env.rtmpAddr, s)
	expired := env.signer.Query(token.ActionPublish, s, time.Now().Add(-time.Minute))
	good := env.signer.Query(token.ActionPublish, s, time.Now().Add(time.Hour))
	tampered := strings.Replace(good, "sign=", "sign=x", 1)
	playSig := env.signer.Query(token.ActionPlay, s, time.Now().Add(time.Hour))
	cases := []struct{ name, query string }{
		{"unsigned", ""},
		{"expired", expired},
		{"tampered", tampered},
		{"play-signature", playSig},
	}
	for _, c := range cases {
		t.Run("push-"+c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			url := base
			if c.query != "" {
				url += "?" + c.query
			}
			if err := runWait(pushFile(ctx, t, src, url)); err == nil {
				t.Fatal("publish was accepted")
			}
			if env.hub.Live(media.Key{AppID: env.app.ID, Channel: "room", UID: "7"}) {
				t.Fatal("stream is live")
			}
		})
	}
	playCases := []struct{ name, query string }{
		{"unsigned", ""},
		{"expired", env.signer.Query(token.ActionPlay, s, time.Now().Add(-time.Minute))},
		{"tampered", strings.Replace(playSig, "sign=", "sign=x", 1)},
		{"publish-signature", good},
	}
	for _, c := range playCases {
		t.Run("play-rtmp-"+c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out := filepath.Join(t.TempDir(), "x.flv")
			if err := runWait(recordCmd(ctx, t, base+"?"+c.query, out)); err == nil {
				t.Fatal("play was accepted")
			}
		})
		t.Run("play-flv-"+c.name, func(t *testing.T) {
			resp, err := http.Get(fmt.Sprintf("%s/live/%s.flv?%s", env.httpURL, s, c.query))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
		})
	}
	if n := env.hub.Stats().Readers; n != 0 {
		t.Fatalf("%d readers after refusals", n)
	}
}

// TestMediaRepublishWithinGrace: a player stays connected while the
// publisher disconnects and publishes again within the grace period; it
// receives both sessions with continuous, monotonic timestamps.
func TestMediaRepublishWithinGrace(t *testing.T) {
	env := newMediaEnv(t, media.Config{Grace: 4 * time.Second})
	src, want := makeSource(t, 2, true, true)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "rtmp.flv")
	player := recordCmd(ctx, t, env.rtmpURL(token.ActionPlay, "42"), out)
	done := make(chan error, 1)
	go func() { done <- runWait(player) }()
	waitReaders(t, env.hub, 1)

	for i := range 2 {
		if err := runWait(pushFile(ctx, t, src, env.rtmpURL(token.ActionPublish, "42"))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		env.obs.wait(t, "paused:42", 5*time.Second)
	}
	env.obs.wait(t, "resumed:42", time.Second)
	env.obs.wait(t, "stopped:42", 10*time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := readFLV(t, out)
	if got.video != 2*want.video || got.audio != 2*want.audio {
		t.Errorf("%d video / %d audio frames, want %d / %d", got.video, got.audio, 2*want.video, 2*want.audio)
	}
	if !got.monotonic {
		t.Error("timestamps not monotonic")
	}
	// Continuous: no step between two video frames beyond a few frame times,
	// although the second session restarted its clock at 0.
	for i := 1; i < len(got.videoTS); i++ {
		if d := got.videoTS[i] - got.videoTS[i-1]; d > 200 {
			t.Errorf("video timestamp step of %d ms at frame %d", d, i)
		}
	}
	if evs := env.obs.snapshot(); strings.Count(strings.Join(evs, ","), "started:42") != 1 {
		t.Errorf("events %v: want one start", evs)
	}
}

// TestMediaLateJoinerStartsAtKeyframe: a player joining a live stream
// mid-GOP gets the GOP cache at once. The clip has a single keyframe (at 0),
// so without the cache the player would receive no video at all.
func TestMediaLateJoinerStartsAtKeyframe(t *testing.T) {
	env := newMediaEnv(t, media.Config{Grace: 200 * time.Millisecond})
	src, want := makeSourceGOP(t, 5, true, true, 250)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pub := pushFile(ctx, t, src, env.rtmpURL(token.ActionPublish, "42"))
	pubDone := make(chan error, 1)
	go func() { pubDone <- runWait(pub) }()
	env.obs.wait(t, "started:42", 10*time.Second)
	time.Sleep(time.Second) // well after the only keyframe
	out := filepath.Join(t.TempDir(), "late.flv")
	if err := runWait(recordCmd(ctx, t, env.flvURL("42"), out)); err != nil {
		t.Fatal(err)
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	got := readFLV(t, out)
	if got.video != want.video || !got.firstVideoKey || !got.monotonic {
		t.Fatalf("late joiner: %d of %d video frames, first key %v, monotonic %v", got.video, want.video, got.firstVideoKey, got.monotonic)
	}
}
