package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
)

// dropped kills a client's socket without a close frame and waits until the
// gateway detached its member.
func (e *env) drop(c *client, uid uint32) {
	e.t.Helper()
	c.conn.CloseNow()
	e.waitFor("member detached", func() bool {
		mi, ok := e.mgr.Member(e.app.ID, "room", uid)
		return !ok || mi.Detached
	})
}

func TestRejoinWithinGrace(t *testing.T) {
	e := newEnv(t, nil)
	p := e.dial()
	p.join("111", "broadcaster")
	pushURL := p.ok("publish", nil).resp()["url"]
	q := e.dial()
	q.join("222", "broadcaster")
	q.ok("publish", nil)
	r := e.dial()
	r.join("333", "broadcaster")
	r.ok("publish", nil)
	o := e.dial()
	o.join("444", "audience")
	want(t, o.pushes(), "stream-added 111", "stream-added 222", "stream-added 333")
	p.sync()
	q.sync()

	e.drop(p, 111)
	r.ok("leave", nil) // 333 leaves while P is away
	want(t, o.pushes(), "stream-removed 333")

	// Rejoin: no vid/device/os/version, known_speakers as strings (own uid included).
	p2 := e.dial()
	p2.uid = "111"
	f := p2.joinFields(e.token("room", "111", 3600), "room", "111", "broadcaster")
	for _, k := range []string{"vid", "device", "os", "version"} {
		delete(f, k)
	}
	f["known_speakers"] = []any{"111", "222", "333", 555}
	rep := p2.ok("join", f)
	if rep.resp()["uid"] != json.Number("111") {
		t.Fatalf("%s", rep)
	}
	// Now P knows exactly the streams that exist.
	want(t, p2.pushes(), "stream-added 222", "stream-removed 333", "stream-removed 555")
	if u := p2.ok("publish", nil).resp()["url"]; u != pushURL {
		t.Fatalf("push URL changed across the rejoin: %v vs %v", u, pushURL)
	}
	// Others saw nothing of it.
	want(t, o.pushes())
	want(t, q.pushes(), "stream-removed 333")
	e.clk.Advance(defaults.GatewayGraceTimeout + time.Second) // the old grace timer must not fire
	want(t, o.pushes())
	if mi, _ := e.mgr.Member(e.app.ID, "room", 111); mi.Detached || !mi.Publishing {
		t.Fatalf("member %+v", mi)
	}
}

func TestRejoinAsAudienceRemovesStream(t *testing.T) {
	e := newEnv(t, nil)
	p := e.dial()
	p.join("1", "broadcaster")
	p.ok("publish", nil)
	o := e.dial()
	o.join("2", "audience")
	want(t, o.pushes(), "stream-added 1")
	e.drop(p, 1)
	e.dial().join("1", "audience")
	want(t, o.pushes(), "stream-removed 1")
}

func TestGraceExpiry(t *testing.T) {
	e := newEnv(t, nil)
	p := e.dial()
	p.join("1", "broadcaster")
	p.ok("publish", nil)
	o := e.dial()
	o.join("2", "audience")
	want(t, o.pushes(), "stream-added 1")
	e.drop(p, 1)
	e.clk.Advance(defaults.GatewayGraceTimeout - time.Second)
	want(t, o.pushes())
	e.clk.Advance(2 * time.Second)
	want(t, o.pushes(), "stream-removed 1")
	e.waitFor("leave event", func() bool { return len(e.leftEvents()) > 0 })
	left := e.leftEvents()
	if len(left) != 1 || left[0].UID != 1 || left[0].LeaveReason != errcode.LeaveNetwork {
		t.Fatalf("left %+v", left)
	}
	// Rejoin after the grace period: publish announces the stream again.
	p2 := e.dial()
	p2.join("1", "broadcaster")
	p2.ok("publish", nil)
	want(t, o.pushes(), "stream-added 1")
}

func TestUIDConflict(t *testing.T) {
	e := newEnv(t, nil)
	old := e.dial()
	old.join("1", "broadcaster")
	u := old.ok("publish", nil).resp()["url"]
	o := e.dial()
	o.join("2", "audience")
	want(t, o.pushes(), "stream-added 1")

	nw := e.dial()
	nw.join("1", "broadcaster")
	code, reason, rest := old.closed()
	if code != websocket.StatusNormalClosure || reason != "close" || len(rest) != 1 {
		t.Fatalf("old connection: close %d %q after %v", code, reason, rest)
	}
	m := rest[0]
	if m.m["command"] != "serverStatus" || m.code() != "433" ||
		m.m["reason"] != "uid conflict: the same uid joined from another connection" || m.m["requestId"] != nil {
		t.Fatalf("conflict push %s", m)
	}
	// The new connection took over the publishing state; others saw nothing.
	if got := nw.ok("publish", nil).resp()["url"]; got != u {
		t.Fatalf("url %v vs %v", got, u)
	}
	want(t, o.pushes())
	e.waitFor("leave event", func() bool { return len(e.leftEvents()) > 0 })
	if l := e.leftEvents(); len(l) != 1 || l[0].LeaveReason != errcode.LeaveUIDConflict {
		t.Fatalf("left %+v", l)
	}
}

func TestKickAndBan(t *testing.T) {
	e := newEnv(t, nil)
	a := e.dial()
	a.join("1", "broadcaster")
	a.ok("publish", nil)
	o := e.dial()
	o.join("2", "audience")
	want(t, o.pushes(), "stream-added 1")
	if err := e.mgr.Kick(e.app.ID, "room", 1, "kicked by the operator"); err != nil {
		t.Fatal(err)
	}
	code, reason, rest := a.closed()
	if code != websocket.StatusNormalClosure || reason != "close" || len(rest) != 1 || rest[0].action() != "client-is-banned-by-server" {
		t.Fatalf("kicked: close %d %q after %v", code, reason, rest)
	}
	want(t, o.pushes(), "stream-removed 1")
	if n := e.mgr.Ban(channel.BanRule{App: e.app.ID, UID: 2, Until: e.clk.Now().Add(time.Hour)}); n != 1 {
		t.Fatalf("ban kicked %d", n)
	}
	if _, reason, rest := o.closed(); reason != "close" || rest[len(rest)-1].action() != "client-is-banned-by-server" {
		t.Fatalf("banned: %q %v", reason, rest)
	}
	b := e.dial()
	b.uid = "2"
	b.fail("join", b.joinFields(e.token("room", "2", 600), "room", "2", "audience"), "433", "banned")
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *store.App) { c.IdleTimeout = 300 * time.Millisecond; c.Grace = -1 })
	a := e.dial()
	a.join("1", "broadcaster")
	a.ok("publish", nil)
	o := e.dial()
	o.join("2", "audience")
	want(t, o.pushes(), "stream-added 1")
	// a stays silent: it is closed, and (no grace) leaves at once with reason 2.
	// Meanwhile o keeps talking (each pushes() is a ping), so that only a
	// times out however long the wait takes on a loaded machine.
	var got []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got = append(got, o.pushes()...)
		if _, ok := e.mgr.Member(e.app.ID, "room", 1); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the silent member was never removed")
		}
	}
	a.closed()
	var reason errcode.LeaveReason = -1
	e.waitFor("leave event", func() bool {
		for _, l := range e.leftEvents() {
			if l.UID == 1 {
				reason = l.LeaveReason
				return true
			}
		}
		return false
	})
	if reason != errcode.LeaveTimeout {
		t.Fatalf("leave reason %v", reason)
	}
	// o saw the stream go.
	got = append(got, o.pushes()...)
	if len(got) != 1 || got[0] != "stream-removed 1" {
		t.Fatalf("%v", got)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *store.App) { c.RateLimit = 0.001; c.RateBurst = 3 })
	c := e.dial()
	c.ok("ping", nil)
	c.ok("ping", nil)
	c.ok("ping", nil)
	c.fail("ping", nil, "429", "too many requests")
}

// Heartbeats, binary frames and malformed frames take tokens from the same
// bucket as requests: a flood of any of them gets 429s, not a pong or a 430
// each (issue #13 item 7). Another connection is unaffected.
func TestRateLimitEveryFrame(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame func(c *client, i int)
		ok    func(m msg) bool // the answer of a frame within the burst
	}{
		{"heartbeat", func(c *client, i int) {
			c.sendRaw(fmt.Sprintf(`{"command":"ping","requestId":%d,"appId":"x","cname":"room","uid":"1","sid":"S","ts":1}`, 100+i))
		}, func(m msg) bool { return m.m["command"] == "pong" }},
		{"binary", func(c *client, i int) {
			if err := c.conn.Write(t.Context(), websocket.MessageBinary, []byte{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
		}, func(m msg) bool { return m.code() == "430" }},
		{"malformed", func(c *client, i int) { c.sendRaw(`{"requestId":`) }, func(m msg) bool { return m.code() == "430" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config, _ *store.App) { c.RateLimit = 0.001; c.RateBurst = 3 })
			c := e.dial()
			other := e.dial()
			const flood = 50
			for i := range flood {
				tc.frame(c, i)
			}
			answered, limited := 0, 0
			for range flood {
				m, ok := c.next()
				if !ok {
					t.Fatal("connection closed")
				}
				switch {
				case tc.ok(m):
					answered++
				case m.code() == "429":
					limited++
				default:
					t.Fatalf("unexpected answer %s", m)
				}
			}
			if answered != 3 || limited != flood-3 {
				t.Fatalf("%d frames answered and %d refused with 429, want 3 and %d", answered, limited, flood-3)
			}
			other.ok("ping", nil) // undisturbed
		})
	}
}

func TestMaxMessageSize(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *store.App) { c.MaxMessageBytes = 1024 })
	c := e.dial()
	other := e.dial()
	other.join("2", "audience")
	c.sendRaw(`{"requestId":3,"clientRequest":{"action":"ping","pad":"` + strings.Repeat("x", 2000) + `"}}`)
	if code, _, _ := c.closed(); code != websocket.StatusMessageTooBig {
		t.Fatalf("close code %d", code)
	}
	other.ok("ping", nil) // undisturbed
}

func TestSlowClientQueueOverflow(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *store.App) { c.MaxQueue = 4 })
	a := e.dial()
	a.join("1", "broadcaster")
	slow := e.dial()
	slow.join("2", "audience")
	// Flood slow's queue in one synchronous burst: it must be cut off, a unaffected.
	for i := 0; i < 50; i++ {
		e.mgr.MuteLocal(channel.Ref{App: e.app.ID, Channel: "room", UID: 1}, i%2 == 0, channel.MediaAudio)
	}
	a.ok("ping", nil)
	e.waitFor("slow member detached", func() bool {
		mi, ok := e.mgr.Member(e.app.ID, "room", 2)
		return !ok || mi.Detached
	})
}

func TestDrain(t *testing.T) {
	e := newEnv(t, nil)
	a := e.dial()
	a.join("1", "audience")
	b := e.dial() // not joined
	e.cancel()
	for _, c := range []*client{a, b} {
		code, reason, rest := c.closed()
		if code != websocket.StatusNormalClosure || reason != "close" || len(rest) == 0 || rest[len(rest)-1].code() != "501" {
			t.Fatalf("drain: %d %q %v", code, reason, rest)
		}
	}
}

// TestBannedPushCarriesCode: a member removed by a ban rule (or a kick)
// gets the catalogue's 433 "banned" with the client-is-banned-by-server
// status, so the SDK reports the reason before the event.
func TestBannedPushCarriesCode(t *testing.T) {
	e := newEnv(t, nil)
	a := e.dial()
	a.join("1", "audience")
	e.mgr.Ban(channel.BanRule{App: e.app.ID, Channel: "room", UID: 1, Until: e.clk.Now().Add(time.Hour)})
	_, _, rest := a.closed()
	if len(rest) != 1 || rest[0].action() != "client-is-banned-by-server" || rest[0].code() != "433" ||
		!strings.Contains(rest[0].String(), `"reason":"banned: banned by a server rule"`) {
		t.Fatalf("banned push: %v", rest)
	}
}
