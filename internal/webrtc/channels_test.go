package webrtc

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/admission"
	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
)

// whipSessionPrefix names the channel sessions of members a WHIP session
// joined itself (internal/admission.Members).
const whipSessionPrefix = "whip-"

// recorder is a gateway-like channel endpoint that records its events.
type recorder struct {
	mu  sync.Mutex
	evs []channel.Event
}

func (r *recorder) Notify(ev channel.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

// count is how many events of kind about uid the endpoint got.
func (r *recorder) count(kind channel.EventKind, uid uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.evs {
		if ev.Kind == kind && ev.UID == uid {
			n++
		}
	}
	return n
}

// channelEnv is a server whose WHIP publishers go through a real channel
// model (the admission seam's Members over channel.Manager).
func channelEnv(t *testing.T) (*env, *channel.Manager) {
	t.Helper()
	m := channel.NewManager(channel.Config{MediaStartTimeout: -1}, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return newEnvWith(t, &admission.Members{Manager: m}, testConfig(), media.Config{Grace: -1}), m
}

// whipOffer is an H.264 + Opus publish offer (the client is closed at the end
// of the test; the server side needs no connection for these checks).
func whipOffer(t *testing.T) string {
	t.Helper()
	c := newWHIPClient(t)
	t.Cleanup(func() { _ = c.pc.Close() })
	return offer(t, c.pc)
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

func TestWHIPChannelMembership(t *testing.T) {
	const browser, other = 5, 6
	cases := []struct {
		name       string
		member     bool // the uid joined over the gateway before WHIP
		published  bool // ... and already published
		end        string
		wantMember bool // the uid is still a member afterwards
	}{
		{"new uid joins, DELETE leaves", false, false, "delete", false},
		{"new uid joins, kick ends the session", false, false, "kick", false},
		{"member attaches, DELETE unpublishes", true, false, "delete", true},
		{"published member attaches, DELETE unpublishes", true, true, "delete", true},
		{"member attaches, leave closes the session", true, false, "leave", false},
		{"member attaches, kick closes the session", true, false, "kick", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, m := channelEnv(t)
			key := media.Key{AppID: e.app.ID, Channel: "room", UID: "5"}
			obs, self := &recorder{}, &recorder{}
			if _, err := m.Join(channel.JoinRequest{App: key.AppID, Channel: "room", UID: other, Role: channel.RoleAudience,
				Profile: channel.ProfileLive, Endpoint: obs, Session: "gw-other"}); err != nil {
				t.Fatal(err)
			}
			ref := channel.Ref{App: key.AppID, Channel: "room", UID: browser, Endpoint: self}
			if c.member {
				if _, err := m.Join(channel.JoinRequest{App: key.AppID, Channel: "room", UID: browser, Role: channel.RoleBroadcaster,
					Profile: channel.ProfileLive, Endpoint: self, Session: "gw-browser"}); err != nil {
					t.Fatal(err)
				}
				if c.published {
					if _, _, err := m.Publish(ref, "sdk"); err != nil {
						t.Fatal(err)
					}
				}
			}
			loc := e.startWHIPPublisher("room", "5", -1).loc
			mi, ok := m.Member(key.AppID, "room", browser)
			if !ok || !mi.Publishing {
				t.Fatalf("after WHIP: member %v %+v, want a publishing member", ok, mi)
			}
			if c.member && mi.Session != "gw-browser" {
				t.Fatalf("WHIP replaced the gateway member (session %q)", mi.Session)
			}
			if !c.member && !strings.HasPrefix(mi.Session, whipSessionPrefix) {
				t.Fatalf("WHIP member session %q", mi.Session)
			}
			if got := obs.count(channel.EventStreamStarted, browser); got != 1 {
				t.Fatalf("the other member got %d stream-added, want 1", got)
			}
			if n := self.count(channel.EventKicked, browser); n != 0 {
				t.Fatal("the gateway member was kicked by the WHIP publish")
			}
			// The session takes the stream with its first media.
			eventually(t, "WHIP publisher not in the hub", func() bool { return e.hub.Live(key) })

			switch c.end {
			case "delete":
				if code := e.delete(loc); code != http.StatusOK {
					t.Fatalf("DELETE: %d", code)
				}
			case "kick":
				if err := m.Kick(key.AppID, "room", browser, "test"); err != nil {
					t.Fatal(err)
				}
			case "leave":
				if err := m.Leave(ref, errcode.LeaveNormal); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, "the WHIP session did not end", func() bool { return e.srv.Stats().Sessions == 0 })
			eventually(t, "the WHIP publisher is still in the hub", func() bool { return !e.hub.Live(key) })
			mi, ok = m.Member(key.AppID, "room", browser)
			if ok != c.wantMember {
				t.Fatalf("member after %s: %v, want %v", c.end, ok, c.wantMember)
			}
			if ok && (mi.Publishing || mi.Session != "gw-browser") {
				t.Fatalf("member after %s: %+v, want the gateway member, not publishing", c.end, mi)
			}
			if got := obs.count(channel.EventStreamStopped, browser); got != 1 {
				t.Fatalf("the other member got %d stream-removed, want 1", got)
			}
		})
	}
}

// A second WHIP publish of a uid whose member a WHIP session joined takes
// that session over (it does not attach to the first session's member).
func TestWHIPRepublishTakesOver(t *testing.T) {
	e, m := channelEnv(t)
	tok := e.token("room", "8", token.RolePublisher)
	status, body, _ := e.post("whip", "room", "8", tok, whipOffer(t))
	if status != http.StatusCreated {
		t.Fatalf("first WHIP: %d %s", status, body)
	}
	first, _ := m.Member(e.app.ID, "room", 8)
	status, body, loc := e.post("whip", "room", "8", tok, whipOffer(t))
	if status != http.StatusCreated {
		t.Fatalf("second WHIP: %d %s", status, body)
	}
	eventually(t, "the first session did not end", func() bool { return e.srv.Stats().Sessions == 1 })
	second, ok := m.Member(e.app.ID, "room", 8)
	if !ok || second.Session == first.Session || !strings.HasPrefix(second.Session, whipSessionPrefix) {
		t.Fatalf("members %+v then %+v", first, second)
	}
	if code := e.delete(loc); code != http.StatusOK {
		t.Fatalf("DELETE: %d", code)
	}
	if _, ok := m.Member(e.app.ID, "room", 8); ok {
		t.Fatal("the WHIP member stayed after DELETE")
	}
}
