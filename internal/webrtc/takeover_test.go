package webrtc

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
)

// TestWHIPTakeover: a second WHIP publisher of a live stream is refused at
// its POST (409, the reason) and the first keeps the stream; once the first
// stalls (its connection up, no media), a new session of the same uid takes
// the stream with its first media and the stalled session ends.
func TestWHIPTakeover(t *testing.T) {
	const stall = 300 * time.Millisecond
	fc := &fakeChannels{joined: map[string]int{}, rotations: map[string]int{}, kicks: map[string]func(error){}}
	e := newEnvWith(t, fc, testConfig(), media.Config{Grace: -1, StallTimeout: stall})
	key := media.Key{AppID: e.app.ID, Channel: "room", UID: "7"}
	tok := e.token("room", "7", token.RolePublisher)

	// The first publisher, which the test can silence.
	c1 := newWHIPClient(t)
	t.Cleanup(func() { _ = c1.pc.Close() })
	states := watchICE(c1.pc)
	status, body, _, _ := e.open("whip", "room", "7", tok, offer(t, c1.pc))
	if status != http.StatusCreated {
		t.Fatalf("first WHIP: %d %s", status, body)
	}
	setAnswer(t, c1.pc, body)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c1.run(ctx, t, -1)
	}()
	t.Cleanup(func() { stop(); <-done })
	states.waitConnected(t)
	first := &whipPublisher{whipClient: c1}
	e.waitPublisherVideo(key, first)

	status, body, _, _ = e.open("whip", "room", "7", tok, whipOffer(t))
	if status != http.StatusConflict || !strings.Contains(body, "stream already published") {
		t.Fatalf("second WHIP while the first is live: %d %s, want 409 stream already published", status, body)
	}
	e.waitPublisherVideo(key, first) // still the first's stream
	if n := e.srv.Stats().Sessions; n != 1 {
		t.Fatalf("%d sessions after a refused POST", n)
	}

	stop()
	<-done
	time.Sleep(stall + 200*time.Millisecond)
	second := e.startWHIPPublisher("room", "7", -1)
	e.waitPublisherVideo(key, second)
	eventually(t, "the stalled session did not end", func() bool { return e.srv.Stats().Sessions == 1 })
}

// TestWHIPWildcardToken: a token without a uid publishes over WHIP only as a
// uid that joined the channel over the gateway (the web SDK's join, then
// publish); it cannot make a uid join.
func TestWHIPWildcardToken(t *testing.T) {
	e, m := channelEnv(t)
	wild := e.token("room", "0", token.RolePublisher)
	status, body, _ := e.post("whip", "room", "9", wild, whipOffer(t))
	if status != http.StatusForbidden || !strings.Contains(body, "only as a uid that joined the channel") {
		t.Fatalf("uid-0 token as uid 9 (not a member): %d %s, want 403", status, body)
	}
	if _, ok := m.Member(e.app.ID, "room", 9); ok {
		t.Fatal("the refused POST joined uid 9")
	}
	self := &recorder{}
	if _, err := m.Join(channel.JoinRequest{App: e.app.ID, Channel: "room", UID: 9, Role: channel.RoleBroadcaster,
		Profile: channel.ProfileLive, Endpoint: self, Session: "gw-9"}); err != nil {
		t.Fatal(err)
	}
	status, body, _ = e.post("whip", "room", "9", wild, whipOffer(t))
	if status != http.StatusCreated {
		t.Fatalf("uid-0 token as uid 9 (a gateway member): %d %s, want 201", status, body)
	}
	if mi, ok := m.Member(e.app.ID, "room", 9); !ok || mi.Session != "gw-9" || !mi.Publishing {
		t.Fatalf("member after the WHIP POST: %v %+v", ok, mi)
	}
}
