package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

func want(t *testing.T, got []string, exp ...string) {
	t.Helper()
	if !slices.Equal(got, exp) {
		t.Fatalf("pushes %q, want %q", got, exp)
	}
}

func TestAllocateAlwaysAnswers(t *testing.T) {
	e := newEnv(t, nil)
	good := `{"service_name":"miniapp","json_body":"{\"command\":\"convergeAllocateEdge\",\"sid\":\"AB\",\"appId\":\"x\",\"token\":\"x\",\"uid\":\"1\",\"cname\":\"c\",\"ts\":1,\"version\":\"1.1.0\",\"seq\":0,\"requestId\":1}"}`
	for _, body := range []string{good, "", "not json", `{"json_body": 5}`, `[1,2]`, strings.Repeat("x", 100000)} {
		req, _ := http.NewRequest("POST", e.apURL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Packet-URI", "61")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		var outer struct {
			Code     json.Number `json:"code"`
			JSONBody any         `json:"json_body"`
		}
		if err := json.Unmarshal(b, &outer); err != nil {
			t.Fatal(err)
		}
		s, ok := outer.JSONBody.(string)
		if !ok {
			t.Fatalf("json_body is not a string: %s", b)
		}
		var inner struct {
			Code    json.Number `json:"code"`
			VID     json.Number `json:"vid"`
			Servers []struct {
				Address string      `json:"address"`
				WS      json.Number `json:"ws"`
			} `json:"servers"`
		}
		if err := json.Unmarshal([]byte(s), &inner); err != nil {
			t.Fatal(err)
		}
		if v, err := inner.VID.Int64(); err != nil || v <= 0 || len(inner.Servers) == 0 || inner.Servers[0].Address != "127.0.0.1" {
			t.Fatalf("inner %s", s)
		}
	}
}

func TestJoinChecks(t *testing.T) {
	e := newEnv(t, func(c *Config, a *store.App) { a.Settings.MaxUsersPerChannel = 2 })
	disabled, _ := store.NewApp("off", time.Now())
	disabled.Enabled = false
	e.store.PutApp(t.Context(), disabled)
	c := e.dial()
	f := func(mod func(map[string]any)) map[string]any {
		m := c.joinFields(e.token("room", "5", 3600), "room", "5", "broadcaster")
		mod(m)
		return m
	}
	for _, tc := range []struct {
		name         string
		mod          func(map[string]any)
		code, reason string
	}{
		{"unknown app", func(m map[string]any) { m["appId"] = strings.Repeat("a", 32) }, "401", "invalid vendor key"},
		{"disabled app", func(m map[string]any) { m["appId"] = disabled.ID }, "401", "invalid vendor key"},
		{"channel too long", func(m map[string]any) { m["channel_name"] = strings.Repeat("a", 65) }, "430", "invalid channel name"},
		{"channel charset", func(m map[string]any) { m["channel_name"] = "中文" }, "430", "invalid channel name"},
		{"empty channel", func(m map[string]any) { m["channel_name"] = "" }, "430", "invalid channel name"},
		{"uid text", func(m map[string]any) { m["uid"] = "abc" }, "430", "invalid uid"},
		{"uid zero", func(m map[string]any) { m["uid"] = "0" }, "430", "invalid uid"},
		{"uid too big", func(m map[string]any) { m["uid"] = "4294967296" }, "430", "invalid uid"},
		{"blank account", func(m map[string]any) { m["uid"] = "  "; m["uidType"] = 1 }, "430", "invalid uid"},
		{"appId as key", func(m map[string]any) { m["key_vos"] = e.app.ID }, "401", "invalid key"},
		{"no key", func(m map[string]any) { delete(m, "key_vos"); delete(m, "key_vocs") }, "401", "invalid key"},
		{"garbage token", func(m map[string]any) { m["key_vos"] = "007garbage" }, "401", "invalid key: malformed token"},
		{"token other uid", func(m map[string]any) { m["key_vos"] = e.token("room", "6", 600) }, "401", "invalid key: token is for another uid"},
		{"token other channel", func(m map[string]any) { m["key_vos"] = e.token("other", "5", 600) }, "401", "invalid key: token is for another channel"},
		{"bad role", func(m map[string]any) { m["role"] = "host" }, "431", "invalid role"},
		{"role type", func(m map[string]any) { m["role"] = 1 }, "430", "bad request"},
		{"uid type", func(m map[string]any) { m["uid"] = []int{1} }, "430", "bad request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.fail("join", f(tc.mod), tc.code, tc.reason)
		})
	}
	c.t = t
	expired := e.token("room", "5", 10)
	e.clk.Advance(11 * time.Second)
	c.fail("join", c.joinFields(expired, "room", "5", "audience"), "401", "dynamic key expired")
	// The failures left nothing behind; a good join works on the same connection.
	c.uid = "5"
	c.ok("join", c.joinFields(e.token("room", "5", 3600), "room", "5", "audience"))
	c.fail("join", c.joinFields(e.token("room", "5", 3600), "room", "5", "audience"), "430", "bad request: already joined")
	// Capacity: the app allows 2 users.
	e.dial().join("6", "audience")
	c3 := e.dial()
	c3.uid = "7"
	c3.fail("join", c3.joinFields(e.token("room", "7", 3600), "room", "7", "audience"), "433", "too many users")
	// Bans.
	e.mgr.Ban(channel.BanRule{App: e.app.ID, Channel: "room", UID: 8, Until: e.clk.Now().Add(time.Hour)})
	c4 := e.dial()
	c4.uid = "8"
	c4.fail("join", c4.joinFields(e.token("room", "8", 3600), "room", "8", "audience"), "433", "banned")
}

func TestJoinWithoutToken(t *testing.T) {
	e := newEnv(t, func(c *Config, a *store.App) { a.Settings.AllowNoToken = true })
	c := e.dial()
	c.uid = "9"
	r := c.ok("join", c.joinFields(e.app.ID, "room", "9", "broadcaster"))
	if r.resp()["uid"] != json.Number("9") {
		t.Fatalf("%s", r)
	}
	// No token: no expiry pushes, ever.
	e.clk.Advance(48 * time.Hour)
	for _, p := range c.pushes() {
		if strings.HasPrefix(p, "key-") {
			t.Fatalf("push %s", p)
		}
	}
	// A real but wrong token is still refused.
	c2 := e.dial()
	c2.uid = "10"
	c2.fail("join", c2.joinFields(e.token("room", "11", 60), "room", "10", "audience"), "401", "invalid key")
}

func TestStringAccount(t *testing.T) {
	e := newEnv(t, nil)
	a := e.dial()
	f := a.joinFields(e.token("room", "alice", 3600), "room", "alice", "broadcaster")
	f["uidType"] = "1"
	r := a.ok("join", f)
	n, ok := r.resp()["uid"].(json.Number)
	uid, err := strconv.ParseUint(string(n), 10, 32)
	if !ok || err != nil || uid == 0 {
		t.Fatalf("account join reply %s", r)
	}
	b := e.dial()
	b.join("2", "audience")
	pub := a.ok("publish", map[string]any{"uid": nil})
	if !strings.Contains(pub.resp()["url"].(string), "_"+n.String()+"?") {
		t.Fatalf("push URL %s does not use the assigned uid", pub)
	}
	want(t, b.pushes(), "stream-added "+n.String())
}

func TestRequestValidation(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	// Before join.
	for _, a := range []string{"publish", "set_role", "subscribe", "leave", "update_key", "mute_local"} {
		c.fail(a, nil, "430", fmt.Sprintf("bad request: %q before join", a))
	}
	c.fail("fly", nil, "430", `bad request: unknown action "fly"`)
	c.ok("ping", nil)
	// Malformed frames: answered with 430, with the requestId when readable.
	for _, tc := range []struct{ frame, id string }{
		{`not json`, ""},
		{`[1,2,3]`, ""},
		{`{"requestId": 77}`, "77"},
		{`{"requestId": 78, "clientRequest": 5}`, "78"},
		{`{"requestId": 79, "clientRequest": {"action": 5}}`, "79"},
		{`{"requestId": 80, "clientRequest": {}}`, "80"},
		{`{"requestId": "81", "clientRequest": {"action": "nope"}}`, `"81"`},
		{`{"requestId": 82.0, "clientRequest": {"action": "nope"}}`, "82.0"},
	} {
		c.sendRaw(tc.frame)
		m, _ := c.next()
		if m.code() != "430" || m.m["reason"] == nil || m.m["command"] != "serverResponse" {
			t.Fatalf("%s -> %s", tc.frame, m)
		}
		if tc.id == "" {
			if _, has := m.m["requestId"]; has {
				t.Fatalf("%s -> %s", tc.frame, m)
			}
		} else if !strings.Contains(string(m.raw), `"requestId":`+tc.id+`,`) {
			t.Fatalf("%s -> %s: requestId not echoed verbatim", tc.frame, m)
		}
	}
	ctx := t.Context()
	c.conn.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3})
	if m, _ := c.next(); m.code() != "430" {
		t.Fatalf("binary -> %s", m)
	}
	c.join("1", "broadcaster")
	for _, tc := range []struct {
		action string
		fields map[string]any
		code   string
	}{
		{"set_role", map[string]any{"role": "king"}, "431"},
		{"set_role", nil, "431"},
		{"subscribe", map[string]any{"uid": "x"}, "430"},
		{"subscribe", map[string]any{"uid": 1.5}, "430"},
		{"subscribe", nil, "430"},
		{"subscribe", map[string]any{"uid": 2, "options": "all"}, "430"},
		{"subscribe", map[string]any{"uid": 2, "options": map[string]any{"audio": "yes"}}, "430"},
		{"unsubscribe", map[string]any{"uid": []any{"x"}}, "430"},
		{"mute_local", map[string]any{"target": "both", "mute": true}, "430"},
		{"mute_local", map[string]any{"target": "audio", "mute": "yes"}, "430"},
		{"mute_local", map[string]any{"target": "audio"}, "430"},
		{"mute", map[string]any{"uid": 2, "target": "x"}, "430"},
		{"unmute", map[string]any{"target": "audio"}, "430"},
		{"set_remote_stream_type", map[string]any{"uid": 2, "type": 2}, "430"},
		{"update_url", map[string]any{"role": "play"}, "430"},
		{"update_key", map[string]any{"key_vos": 5}, "430"},
	} {
		r := c.call(tc.action, tc.fields)
		if r.code() != tc.code || r.m["reason"] == nil {
			t.Fatalf("%s %v: %s", tc.action, tc.fields, r)
		}
	}
	// Everything still works afterwards.
	c.ok("publish", map[string]any{"uid": 1})
}

func TestPublishSubscribeAndPushes(t *testing.T) {
	e := newEnv(t, nil)
	a := e.dial()
	a.join("111", "broadcaster")
	b := e.dial()
	b.join("222", "audience")
	c := e.dial()
	c.join("333", "broadcaster")

	b.fail("publish", map[string]any{"uid": 222}, "433", "no authorized: audience cannot publish")
	b.fail("subscribe", map[string]any{"uid": 111, "options": map[string]any{"audio": true, "video": true}}, "432",
		"not publishing: uid 111 is not publishing in this channel")
	b.fail("update_url", map[string]any{"role": "publish"}, "433", "not publishing")

	r := a.ok("publish", map[string]any{"uid": 111})
	pushURL := r.resp()["url"].(string)
	checkSigned(t, e, pushURL, token.ActionPublish, "rtmp://media.example.com/live/", "111")
	want(t, b.pushes(), "stream-added 111")
	want(t, c.pushes(), "stream-added 111")
	want(t, a.pushes())
	// Publishing again: the same URL, nothing pushed.
	if r := a.ok("publish", map[string]any{"uid": 111}); r.resp()["url"] != pushURL {
		t.Fatalf("republish %s", r)
	}
	want(t, b.pushes())

	s := b.ok("subscribe", map[string]any{"uid": 111, "options": map[string]any{"audio": true, "video": true}})
	checkSigned(t, e, s.resp()["url"].(string), token.ActionPlay, "rtmp://media.example.com/live/", "111")
	if s.resp()["rotation"] != json.Number("0") {
		t.Fatalf("rotation %s", s)
	}
	f := c.ok("subscribe", map[string]any{"uid": 111, "options": map[string]any{"audio": true, "video": true, "flv": true}})
	flvURL := f.resp()["url"].(string)
	if !strings.HasPrefix(flvURL, "https://media.example.com/live/") || !strings.Contains(flvURL, ".flv?") {
		t.Fatalf("flv url %s", flvURL)
	}
	a.fail("subscribe", map[string]any{"uid": 111}, "432", "not publishing")

	// Rotation goes to subscribers only.
	e.mgr.SetRotation(e.app.ID, "room", 111, 90)
	want(t, b.pushes(), "video-rotation 111")
	if r := b.ok("subscribe", map[string]any{"uid": 111}); r.resp()["rotation"] != json.Number("90") {
		t.Fatalf("rotation after change %s", r)
	}
	b.ok("unsubscribe", map[string]any{"uid": []any{111}})
	b.ok("unsubscribe", map[string]any{"uid": []any{111}})
	e.mgr.SetRotation(e.app.ID, "room", 111, 180)
	want(t, b.pushes())
	want(t, c.pushes(), "video-rotation 111", "video-rotation 111")

	// Mutes.
	a.ok("mute_local", map[string]any{"uid": 111, "target": "all", "mute": true})
	want(t, b.pushes(), "audio-mute 111 mute=true", "video-mute 111 mute=true")
	a.ok("mute_local", map[string]any{"uid": 111, "target": "audio", "mute": false})
	want(t, c.pushes(), "audio-mute 111 mute=true", "video-mute 111 mute=true", "audio-mute 111 mute=false")
	b.ok("mute", map[string]any{"uid": 111, "target": "audio"})
	b.ok("unmute", map[string]any{"uid": 111, "target": "all"})
	b.ok("set_remote_stream_type", map[string]any{"uid": 111, "type": 1})
	want(t, a.pushes())

	// A joiner learns the publisher and its mute state.
	d := e.dial()
	d.join("444", "audience")
	want(t, d.pushes(), "stream-added 111", "video-mute 111 mute=true")

	// update_url re-issues a valid push URL.
	u := a.ok("update_url", map[string]any{"role": "publish", "uid": 111})
	checkSigned(t, e, u.resp()["url"].(string), token.ActionPublish, "rtmp://media.example.com/live/", "111")

	// Media seam: a gap mutes video for others, the end resumes it.
	a.ok("mute_local", map[string]any{"target": "video", "mute": false})
	e.mgr.MediaStarted(e.app.ID, "room", 111)
	e.mgr.MediaPaused(e.app.ID, "room", 111)
	e.mgr.MediaResumed(e.app.ID, "room", 111)
	want(t, d.pushes(), "video-mute 111 mute=false", "video-mute 111 mute=true", "video-mute 111 mute=false")

	b.pushes()
	// Role change to audience ends the stream.
	a.ok("set_role", map[string]any{"role": "audience"})
	want(t, b.pushes(), "stream-removed 111")
	a.fail("publish", nil, "433", "no authorized")
	a.ok("set_role", map[string]any{"role": "broadcaster"})
	a.ok("publish", nil)
	want(t, b.pushes(), "stream-added 111")
	a.ok("unpublish", map[string]any{"uid": 111})
	a.ok("unpublish", map[string]any{"uid": 111})
	want(t, b.pushes(), "stream-removed 111")
	want(t, d.pushes(), "stream-removed 111", "stream-added 111", "stream-removed 111")
}

// checkSigned verifies a media URL's shape and signature and that it lasts >= 24 h.
func checkSigned(t *testing.T, e *env, raw string, action token.Action, prefix, uid string) {
	t.Helper()
	if !strings.HasPrefix(raw, prefix) {
		t.Fatalf("url %s, want prefix %s", raw, prefix)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	stream := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/live/"), ".flv")
	if want := token.StreamName(e.app.ID, "room", uid); stream != want {
		t.Fatalf("stream %s, want %s", stream, want)
	}
	q := u.Query()
	if err := e.signer.Verify(action, stream, q, e.clk.Now().Add(24*time.Hour)); err != nil {
		t.Fatalf("url %s does not verify 24 h later: %v", raw, err)
	}
	if err := e.signer.Verify(action, stream+"x", q, e.clk.Now()); err == nil {
		t.Fatal("signature verifies for another stream")
	}
}

func TestMediaStartTimeout(t *testing.T) {
	e := newEnv(t, nil)
	a := e.dial()
	a.join("1", "broadcaster")
	b := e.dial()
	b.join("2", "audience")
	a.ok("publish", nil)
	want(t, b.pushes(), "stream-added 1")
	if err := e.mgr.MayPublish(e.app.ID, "room", 1); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.MayPublish(e.app.ID, "room", 2); err == nil {
		t.Fatal("audience may publish")
	}
	e.clk.Advance(defaults.GatewayMediaStartTimeout + time.Second)
	want(t, b.pushes(), "stream-removed 1")
	// Publishing again announces it again.
	a.ok("publish", nil)
	want(t, b.pushes(), "stream-added 1")
}

func TestLeave(t *testing.T) {
	e := newEnv(t, nil)
	a := e.dial()
	a.join("1", "broadcaster")
	a.ok("publish", nil)
	b := e.dial()
	b.join("2", "audience")
	want(t, b.pushes(), "stream-added 1")
	a.ok("leave", map[string]any{"uid": 1})
	want(t, b.pushes(), "stream-removed 1")
	// The server does not close after leave: the connection still answers.
	a.fail("publish", nil, "430", `bad request: "publish" before join`)
	if _, ok := e.mgr.Member(e.app.ID, "room", 1); ok {
		t.Fatal("member still there")
	}
	e.waitFor("leave event", func() bool { return len(e.leftEvents()) > 0 })
	if l := e.leftEvents(); len(l) == 0 || l[len(l)-1].LeaveReason != errcode.LeaveNormal {
		t.Fatalf("leave events %+v", l)
	}
	a.conn.Close(websocket.StatusNormalClosure, "close")
	e.waitFor("session gone", func() bool { return e.gw.Sessions() == 1 })
}

func TestLeaveCloseDelay(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *store.App) { c.LeaveCloseDelay = 50 * time.Millisecond })
	a := e.dial()
	a.join("1", "audience")
	a.ok("leave", nil)
	if code, reason, _ := a.closed(); code != websocket.StatusNormalClosure || reason != "close" {
		t.Fatalf("close %d %q", code, reason)
	}
}

func TestPingPong(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	c.sendRaw(`{"command":"ping","requestId":4,"appId":"x","cname":"c","uid":"1","sid":"s","ts":1}`)
	m, _ := c.next()
	if m.m["command"] != "pong" || m.m["requestId"] != nil {
		t.Fatalf("pong %s", m)
	}
	if _, ok := m.m["ts"].(json.Number); !ok {
		t.Fatalf("pong ts %s", m)
	}
}

func TestTokenExpiry(t *testing.T) {
	e := newEnv(t, nil)
	var obsMu sync.Mutex
	var observed []string
	stop := e.mgr.Observe(func(ev channel.Event) {
		if ev.UID == 1 && (ev.Kind == channel.EventTokenExpired || ev.Kind == channel.EventMemberLeft) {
			obsMu.Lock()
			observed = append(observed, ev.Kind.String()+" "+ev.LeaveReason.String())
			obsMu.Unlock()
		}
	})
	defer stop()
	a := e.dial()
	a.uid = "1"
	a.ok("join", a.joinFields(e.token("room", "1", 100), "room", "1", "broadcaster"))
	a.ok("publish", nil)
	b := e.dial()
	b.join("2", "audience")
	want(t, b.pushes(), "stream-added 1")

	e.clk.Advance(69 * time.Second)
	want(t, a.pushes())
	e.clk.Advance(2 * time.Second)
	want(t, a.pushes(), "key-will-expire")
	// Renewal: wrong channel or uid is refused and changes nothing.
	a.fail("update_key", map[string]any{"key_vos": e.token("other", "1", 100)}, "401", "invalid key: token is for another channel")
	a.fail("update_key", map[string]any{"key_vos": e.token("room", "3", 100)}, "401", "invalid key: token is for another uid")
	a.fail("update_key", map[string]any{"key_vos": e.app.ID}, "401", "invalid key")
	a.ok("update_key", map[string]any{"key_vos": e.token("room", "1", 100)})
	e.clk.Advance(60 * time.Second) // past the first token's end
	want(t, a.pushes())
	e.clk.Advance(20 * time.Second)
	want(t, a.pushes(), "key-will-expire")
	e.clk.Advance(30 * time.Second)
	code, reason, rest := a.closed()
	if code != websocket.StatusNormalClosure || reason != "close" || len(rest) != 1 || rest[0].action() != "key-expired" {
		t.Fatalf("close %d %q after %v", code, reason, rest)
	}
	want(t, b.pushes(), "stream-removed 1")
	if _, ok := e.mgr.Member(e.app.ID, "room", 1); ok {
		t.Fatal("expired member still there")
	}
	// Observers (webhooks) learn that the token expired, then of the leave.
	deadline := time.Now().Add(5 * time.Second)
	for {
		obsMu.Lock()
		got := strings.Join(observed, ", ")
		obsMu.Unlock()
		if got == "token-expired other, member-left other" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("observed %q", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKeyWillExpireAtOnce(t *testing.T) {
	e := newEnv(t, nil)
	a := e.dial()
	a.uid = "1"
	a.ok("join", a.joinFields(e.token("room", "1", 20), "room", "1", "audience"))
	want(t, a.pushes(), "key-will-expire")
}

func TestURLRefresh(t *testing.T) {
	e := newEnv(t, func(_ *Config, a *store.App) { a.Settings.AllowNoToken = true })
	a := e.dial()
	a.uid = "1"
	a.ok("join", a.joinFields(e.app.ID, "room", "1", "broadcaster"))
	b := e.dial()
	b.uid = "2"
	b.ok("join", b.joinFields(e.app.ID, "room", "2", "audience"))
	_ = a.ok("publish", nil)
	b.ok("subscribe", map[string]any{"uid": 1, "options": map[string]any{"audio": true, "video": true}})
	e.mgr.MediaStarted(e.app.ID, "room", 1)
	e.clk.Advance(defaults.GatewayURLLifetime - DefaultURLRefreshLead)
	ps := a.sync()
	if len(ps) != 1 || ps[0].action() != "update-url" || ps[0].status()["uid"] != json.Number("1") {
		t.Fatalf("publisher got %v", ps)
	}
	checkSigned(t, e, ps[0].status()["url"].(string), token.ActionPublish, "rtmp://", "1")
	ps = b.sync()
	var urls []msg
	for _, p := range ps {
		if p.action() == "update-url" {
			urls = append(urls, p)
		}
	}
	if len(urls) != 1 || urls[0].status()["uid"] != json.Number("1") {
		t.Fatalf("subscriber got %v", ps)
	}
	checkSigned(t, e, urls[0].status()["url"].(string), token.ActionPlay, "rtmp://", "1")
	// publish now answers the refreshed URL.
	if r := a.ok("publish", nil); r.resp()["url"] != ps[0].status()["url"] && r.resp()["url"] == "" {
		t.Fatalf("%s", r)
	}
}

func TestEnforcePublisherToken(t *testing.T) {
	e := newEnv(t, func(_ *Config, a *store.App) { a.Settings.EnforcePublisherToken = true })
	sub, err := token.BuildRTC007(token.RTCOptions{AppID: e.app.ID, AppCert: e.app.Certificate, Channel: "room",
		UID: "5", Role: token.RoleSubscriber, IssuedAt: e.clk.Now(), Lifetime: 600})
	if err != nil {
		t.Fatal(err)
	}
	c := e.dial()
	c.uid = "5"
	c.ok("join", c.joinFields(sub, "room", "5", "broadcaster"))
	c.fail("publish", nil, "433", "no authorized: token lacks publish privilege")
	c.ok("update_key", map[string]any{"key_vos": e.token("room", "5", 600)})
	c.ok("publish", nil)
}

// TestSubscriberTokenCannotPublish: publishing needs a token with publish
// privileges on every door (admission.Admit), so a subscriber-role token is
// refused on the WebSocket too, even when the app does not enforce
// publisher tokens (RTMP ?token= and WHIP always refused it); the same
// member may publish once it renews with a publisher token.
func TestSubscriberTokenCannotPublish(t *testing.T) {
	e := newEnv(t, nil)
	sub, err := token.BuildRTC007(token.RTCOptions{AppID: e.app.ID, AppCert: e.app.Certificate, Channel: "room",
		UID: "5", Role: token.RoleSubscriber, IssuedAt: e.clk.Now(), Lifetime: 600})
	if err != nil {
		t.Fatal(err)
	}
	c := e.dial()
	c.uid = "5"
	c.ok("join", c.joinFields(sub, "room", "5", "broadcaster"))
	c.fail("publish", nil, "433", "no authorized: token lacks publish privilege")
	if mi, ok := e.mgr.Member(e.app.ID, "room", 5); !ok || mi.Publishing {
		t.Fatalf("member after a refused publish: %+v", mi)
	}
	c.ok("update_key", map[string]any{"key_vos": e.token("room", "5", 600)})
	c.ok("publish", nil)
}

// renewals records Access.Renew calls.
type renewals struct {
	mu    sync.Mutex
	calls []string
}

func (r *renewals) Renew(app, ch, uid string, action token.Action, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("%s %s %s %d", ch, uid, action, until.Unix()))
}

func (r *renewals) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// TestRenewMediaAccess: update_key extends the member's media sessions to
// the new token's end (play and publish, as admission.Admit allows), and the
// URL refresh extends those its signed URLs let in to the new URLs' expiry.
func TestRenewMediaAccess(t *testing.T) {
	t.Run("update_key", func(t *testing.T) {
		rec := &renewals{}
		e := newEnv(t, func(c *Config, _ *store.App) { c.Access = rec })
		c := e.dial()
		c.join("5", "broadcaster")
		c.ok("publish", nil)
		now := e.clk.Now()
		c.ok("update_key", map[string]any{"key_vos": e.token("room", "5", 7200)})
		end := now.Add(7200 * time.Second).Unix()
		if got, want := rec.take(), []string{fmt.Sprintf("room 5 play %d", end), fmt.Sprintf("room 5 publish %d", end)}; !slices.Equal(got, want) {
			t.Fatalf("renewals %q, want %q", got, want)
		}
	})
	t.Run("url-refresh", func(t *testing.T) {
		// A development app's member (no token expiry) holds its URLs long
		// enough to get fresh ones.
		rec := &renewals{}
		e := newEnv(t, func(c *Config, a *store.App) { c.Access = rec; a.Settings.AllowNoToken = true })
		c := e.dial()
		c.uid = "5"
		c.ok("join", c.joinFields(e.app.ID, "room", "5", "broadcaster"))
		c.ok("publish", nil)
		e.mgr.MediaStarted(e.app.ID, "room", 5)
		e.clk.Advance(defaults.GatewayURLLifetime - DefaultURLRefreshLead)
		_ = c.sync()
		exp := e.clk.Now().Add(defaults.GatewayURLLifetime).Unix()
		if got, want := rec.take(), []string{fmt.Sprintf("room 5 play %d", exp), fmt.Sprintf("room 5 publish %d", exp)}; !slices.Equal(got, want) {
			t.Fatalf("renewals %q, want %q", got, want)
		}
	})
}

func TestSetRTMPPort(t *testing.T) {
	e := newEnv(t, nil)
	e.gw.SetRTMPPort(19350)
	a := e.dial()
	a.join("1", "broadcaster")
	if u := a.ok("publish", nil).resp()["url"].(string); !strings.HasPrefix(u, "rtmp://media.example.com:19350/live/") {
		t.Fatalf("url %s", u)
	}
}

func TestFLVDefault(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *store.App) { c.FLV = true; c.HTTPBase = "" })
	a := e.dial()
	a.join("1", "broadcaster")
	a.ok("publish", nil)
	b := e.dial()
	b.join("2", "audience")
	u := b.ok("subscribe", map[string]any{"uid": 1, "options": map[string]any{"audio": true, "video": true}}).resp()["url"].(string)
	// HTTPBase unset: derived from the host the client used.
	checkSigned(t, e, u, token.ActionPlay, e.srv.URL+"/live/", "1")
	if !strings.Contains(u, ".flv?") {
		t.Fatalf("url %s", u)
	}
	u = b.ok("subscribe", map[string]any{"uid": 1, "options": map[string]any{"flv": false}}).resp()["url"].(string)
	checkSigned(t, e, u, token.ActionPlay, "rtmp://media.example.com/live/", "1")
}

// TestCORS: a page on another origin may allocate and upload logs (the web
// SDK), so the preflight and the answers carry the CORS headers.
func TestCORS(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/api/v1", "/api/v1/logs"} {
		t.Run(path, func(t *testing.T) {
			req, _ := http.NewRequest("OPTIONS", e.srv.URL+path, nil)
			req.Header.Set("Origin", "https://app.example")
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "content-type")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			h := res.Header
			if res.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
				!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
				!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "content-type") {
				t.Fatalf("preflight: %d %v", res.StatusCode, h)
			}
			res, err = http.Post(e.srv.URL+path, "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("POST answer lacks CORS: %d %v", res.StatusCode, res.Header)
			}
		})
	}
}
