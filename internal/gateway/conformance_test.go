package gateway

// Conformance with docs/protocol.md: the sequences of section 10, each
// message checked against the checklist of section 12 (item numbers in
// comments, "12.n").

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/minirtc/minirtc/internal/config/defaults"
)

// shape decodes a frame into raw fields, requiring exactly one JSON object (12.3).
func shape(t *testing.T, m msg) map[string]json.RawMessage {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(m.raw))
	var f map[string]json.RawMessage
	if err := d.Decode(&f); err != nil {
		t.Fatalf("frame %s is not one JSON object: %v", m, err)
	}
	if d.More() {
		t.Fatalf("frame %s holds more than one JSON value", m)
	}
	return f
}

func keys(f map[string]json.RawMessage) []string {
	var k []string
	for n := range f {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return "absent"
	case raw[0] == '"':
		return "string"
	case raw[0] == '{':
		return "object"
	case raw[0] == '[':
		return "array"
	case string(raw) == "true" || string(raw) == "false":
		return "bool"
	case string(raw) == "null":
		return "null"
	}
	return "number"
}

// checkReply asserts a reply (12.2): command "serverResponse", the request's
// requestId as the identical JSON number, a numeric code, a reason on errors,
// and serverResponse an object when present with exactly wantResp's keys.
func checkReply(t *testing.T, m msg, id int, code string, wantResp ...string) map[string]json.RawMessage {
	t.Helper()
	f := shape(t, m)
	if string(f["command"]) != `"serverResponse"` {
		t.Fatalf("12.2: reply %s: command must be \"serverResponse\"", m)
	}
	if got := string(f["requestId"]); got != strings.TrimSpace(jsonNum(id)) {
		t.Fatalf("12.2: reply %s: requestId %s, want the number %d", m, got, id)
	}
	if jsonKind(f["code"]) != "number" || string(f["code"]) != code {
		t.Fatalf("12.2: reply %s: code must be the number %s", m, code)
	}
	if code != "200" {
		if jsonKind(f["reason"]) != "string" || len(f["reason"]) < 3 {
			t.Fatalf("12.2: error reply %s without a reason", m)
		}
	}
	var resp map[string]json.RawMessage
	if r, ok := f["serverResponse"]; ok {
		if jsonKind(r) != "object" {
			t.Fatalf("reply %s: serverResponse must be an object", m)
		}
		json.Unmarshal(r, &resp)
	}
	if len(wantResp) == 0 && resp != nil {
		t.Fatalf("reply %s: serverResponse must be absent", m)
	}
	if len(wantResp) > 0 && !slices.Equal(keys(resp), wantResp) {
		t.Fatalf("reply %s: serverResponse keys %v, want %v", m, keys(resp), wantResp)
	}
	return resp
}

func jsonNum(n int) string { b, _ := json.Marshal(n); return string(b) }

// checkPush asserts a push (12.3): command "serverStatus", no requestId, a
// serverStatus object with exactly the given keys, uid a JSON number, mute a
// boolean, url a string, rotation a number. It returns the serverStatus.
func checkPush(t *testing.T, m msg, action string, stKeys ...string) map[string]json.RawMessage {
	t.Helper()
	f := shape(t, m)
	if string(f["command"]) != `"serverStatus"` {
		t.Fatalf("12.3: push %s: command must be \"serverStatus\"", m)
	}
	if _, ok := f["requestId"]; ok {
		t.Fatalf("12.3: push %s carries a requestId", m)
	}
	var st map[string]json.RawMessage
	if jsonKind(f["serverStatus"]) != "object" || json.Unmarshal(f["serverStatus"], &st) != nil {
		t.Fatalf("push %s: serverStatus must be an object", m)
	}
	if string(st["action"]) != jsonNum0(action) {
		t.Fatalf("push %s: action must be %q", m, action)
	}
	if want := append([]string{"action"}, stKeys...); !slices.Equal(keys(st), sorted(want)) {
		t.Fatalf("push %s: serverStatus keys %v, want %v", m, keys(st), sorted(want))
	}
	for k, kind := range map[string]string{"uid": "number", "mute": "bool", "url": "string", "rotation": "number"} {
		if v, ok := st[k]; ok && jsonKind(v) != kind {
			t.Fatalf("12.3: push %s: %s must be a JSON %s", m, k, kind)
		}
	}
	return st
}

func jsonNum0(s string) string { b, _ := json.Marshal(s); return string(b) }

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// exactly asserts that the pushes are exactly the given (action, uid) pairs in order.
func exactly(t *testing.T, got []msg, want ...string) {
	t.Helper()
	var s []string
	for _, m := range got {
		st := checkPush(t, m, m.action(), keys(rawStatus(m))[1:]...)
		s = append(s, strings.TrimSpace(m.action()+" "+string(st["uid"])))
	}
	if !slices.Equal(s, want) {
		t.Fatalf("pushes %q, want %q", s, want)
	}
}

func rawStatus(m msg) map[string]json.RawMessage {
	var f struct {
		S map[string]json.RawMessage `json:"serverStatus"`
	}
	json.Unmarshal(m.raw, &f)
	return f.S // keys() sorts: "action" is first of action/mute/uid/url/rotation
}

// sdkPing sends the SDK heartbeat (3.3), which takes a requestId from the
// same counter as requests, and checks the pong.
func (c *client) sdkPing(t *testing.T) {
	t.Helper()
	id := c.nextID
	c.nextID++
	c.sendRaw(`{"command":"ping","requestId":` + jsonNum(id) + `,"appId":"x","cname":"room","uid":"` + c.uid + `","sid":"S","ts":1}`)
	for {
		m, ok := c.next()
		if !ok {
			t.Fatal("closed while waiting for pong")
		}
		if m.m["command"] == "pong" {
			if _, has := m.m["requestId"]; has {
				t.Fatalf("3.3: pong %s echoes the requestId", m)
			}
			return
		}
		c.pending = append(c.pending, m)
	}
}

func (c *client) allocate(t *testing.T) {
	t.Helper()
	inner, _ := json.Marshal(map[string]any{"command": "convergeAllocateEdge", "sid": "0123456789ABCDEF0123456789ABCDEF",
		"appId": c.e.app.ID, "token": c.e.app.ID, "uid": c.uid, "cname": "room", "ts": time.Now().Unix(),
		"version": "1.1.0", "seq": 0, "requestId": 1})
	body, _ := json.Marshal(map[string]any{"service_name": "miniapp", "json_body": string(inner)})
	req, _ := http.NewRequest("POST", c.e.apURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Packet-URI", "61")
	req.Header.Set("X-Packet-Service-Type", "0")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var outer map[string]json.RawMessage
	json.Unmarshal(b, &outer)
	var js string
	if res.StatusCode != 200 || json.Unmarshal(outer["json_body"], &js) != nil {
		t.Fatalf("12.1: AP answer %d %s", res.StatusCode, b)
	}
	var in map[string]json.RawMessage
	json.Unmarshal([]byte(js), &in)
	if k := jsonKind(in["vid"]); k != "number" || jsonKind(in["servers"]) != "array" {
		t.Fatalf("12.1: json_body %s", js)
	}
}

// sdk opens a session the way the SDK does: AP, WebSocket, a heartbeat.
func (e *env) sdk(t *testing.T, uid string) *client {
	c := e.dial()
	c.uid = uid
	c.allocate(t)
	c.sdkPing(t)
	return c
}

// sdkJoin sends join and checks the reply {uid:<number>} (12.4).
func (c *client) sdkJoin(t *testing.T, role string, known []any) {
	t.Helper()
	f := c.joinFields(c.e.token("room", c.uid, 3600), "room", c.uid, role)
	if known != nil {
		for _, k := range []string{"vid", "device", "os", "version"} {
			delete(f, k)
		}
		f["known_speakers"] = known
	}
	id := c.request("join", f)
	resp := checkReply(t, c.wait(id), id, "200", "uid")
	if string(resp["uid"]) != c.uid {
		t.Fatalf("12.4: join reply uid %s, want the number %s", resp["uid"], c.uid)
	}
}

func (c *client) do(t *testing.T, action string, fields map[string]any, code string, resp ...string) map[string]json.RawMessage {
	t.Helper()
	id := c.request(action, fields)
	return checkReply(t, c.wait(id), id, code, resp...)
}

func av() map[string]any { return map[string]any{"audio": true, "video": true} }

func TestConformance(t *testing.T) {
	t.Run("10.1 join publish subscribe", func(t *testing.T) {
		e := newEnv(t, nil)
		a := e.sdk(t, "111")
		a.sdkJoin(t, "broadcaster", nil)
		exactly(t, a.sync()) // nothing pushed: A does not publish yet
		a.sdkPing(t)
		pub := a.do(t, "publish", map[string]any{"uid": 111}, "200", "url")
		if jsonKind(pub["url"]) != "string" || !strings.HasPrefix(strings.Trim(string(pub["url"]), `"`), "rtmp://") {
			t.Fatalf("12.5: publish url %s", pub["url"])
		}
		b := e.sdk(t, "222")
		b.sdkJoin(t, "audience", nil)
		exactly(t, b.sync(), "stream-added 111") // 12.6
		sub := b.do(t, "subscribe", map[string]any{"uid": 111, "options": av()}, "200", "rotation", "url")
		if jsonKind(sub["rotation"]) != "number" || !strings.HasPrefix(string(sub["url"]), `"rtmp://`) {
			t.Fatalf("12.5: subscribe %v", sub)
		}
		b.do(t, "subscribe", map[string]any{"uid": 999, "options": av()}, "432") // 12.5
		exactly(t, a.sync())
	})

	t.Run("10.2 remote user publishes", func(t *testing.T) {
		e := newEnv(t, nil)
		a := e.sdk(t, "111")
		a.sdkJoin(t, "broadcaster", nil)
		b := e.sdk(t, "222")
		b.sdkJoin(t, "audience", nil)
		c := e.sdk(t, "333")
		c.sdkJoin(t, "audience", nil)
		c.do(t, "set_role", map[string]any{"role": "broadcaster"}, "200")
		exactly(t, a.sync())
		exactly(t, b.sync())
		c.do(t, "publish", map[string]any{"uid": 333}, "200", "url")
		exactly(t, a.sync(), "stream-added 333")
		exactly(t, b.sync(), "stream-added 333")
		a.do(t, "subscribe", map[string]any{"uid": 333, "options": av()}, "200", "rotation", "url")
		b.do(t, "subscribe", map[string]any{"uid": 333, "options": av()}, "200", "rotation", "url")
		c.do(t, "mute_local", map[string]any{"uid": 333, "target": "audio", "mute": true}, "200") // 12.7
		for _, x := range []*client{a, b} {
			ps := x.sync()
			exactly(t, ps, "audio-mute 333")
			if st := checkPush(t, ps[0], "audio-mute", "mute", "uid"); string(st["mute"]) != "true" {
				t.Fatalf("12.7: %s", ps[0])
			}
		}
		c.do(t, "mute_local", map[string]any{"uid": 333, "target": "all", "mute": false}, "200")
		exactly(t, a.sync(), "audio-mute 333", "video-mute 333") // 12.7: both for "all"
		exactly(t, b.sync(), "audio-mute 333", "video-mute 333")
		// The three ways a stream ends (12.6).
		c.do(t, "unpublish", map[string]any{"uid": 333}, "200")
		exactly(t, b.sync(), "stream-removed 333")
		c.do(t, "publish", map[string]any{"uid": 333}, "200", "url")
		c.do(t, "set_role", map[string]any{"role": "audience"}, "200")
		exactly(t, b.sync(), "stream-added 333", "stream-removed 333")
		c.do(t, "set_role", map[string]any{"role": "broadcaster"}, "200")
		c.do(t, "publish", map[string]any{"uid": 333}, "200", "url")
		c.do(t, "leave", map[string]any{"uid": 333}, "200")
		exactly(t, b.sync(), "stream-added 333", "stream-removed 333")
		exactly(t, a.sync(), "stream-removed 333", "stream-added 333", "stream-removed 333", "stream-added 333", "stream-removed 333")
	})

	t.Run("10.3 rejoin after a dropped socket", func(t *testing.T) {
		for _, expired := range []bool{false, true} {
			t.Run(map[bool]string{false: "within grace", true: "grace expired"}[expired], func(t *testing.T) { rejoin(t, expired) })
		}
	})

	t.Run("10.4 leave", func(t *testing.T) {
		e := newEnv(t, nil)
		a := e.sdk(t, "111")
		a.sdkJoin(t, "broadcaster", nil)
		a.do(t, "publish", nil, "200", "url")
		b := e.sdk(t, "222")
		b.sdkJoin(t, "audience", nil)
		b.sync()
		a.do(t, "leave", map[string]any{"uid": 111}, "200")
		exactly(t, b.sync(), "stream-removed 111")
		a.sdkPing(t) // 12.8: the server did not close first
		a.conn.Close(websocket.StatusNormalClosure, "close")
		e.waitFor("session ends", func() bool { return e.gw.Sessions() == 1 })
	})

	t.Run("10.5 token renewal", func(t *testing.T) {
		e := newEnv(t, nil)
		a := e.sdk(t, "111")
		f := a.joinFields(e.token("room", "111", 120), "room", "111", "broadcaster")
		id := a.request("join", f)
		checkReply(t, a.wait(id), id, "200", "uid")
		e.clk.Advance(89 * time.Second)
		exactly(t, a.sync())
		e.clk.Advance(2 * time.Second)
		ps := a.sync()
		exactly(t, ps, "key-will-expire") // 12.10: 30 s ahead, no payload
		checkPush(t, ps[0], "key-will-expire")
		a.do(t, "update_key", map[string]any{"key_vos": "007bogus"}, "401")
		a.do(t, "update_key", map[string]any{"key_vos": e.token("room", "111", 120)}, "200")
		e.clk.Advance(90 * time.Second)
		exactly(t, a.sync(), "key-will-expire")
		e.clk.Advance(30 * time.Second)
		code, reason, rest := a.closed()
		exactly(t, rest, "key-expired")
		checkPush(t, rest[0], "key-expired")
		if code != websocket.StatusNormalClosure || reason != "close" { // 12.11
			t.Fatalf("12.11: close %d %q", code, reason)
		}
		if _, ok := e.mgr.Member(e.app.ID, "room", 111); ok {
			t.Fatal("12.10: member not removed at expiry")
		}
	})

	t.Run("12.11 terminal closes", func(t *testing.T) {
		e := newEnv(t, nil)
		a := e.sdk(t, "1")
		a.sdkJoin(t, "audience", nil)
		e.mgr.Kick(e.app.ID, "room", 1, "operator")
		code, reason, rest := a.closed()
		exactly(t, rest, "client-is-banned-by-server")
		checkPush(t, rest[0], "client-is-banned-by-server")
		if code != websocket.StatusNormalClosure || reason != "close" {
			t.Fatalf("kick close %d %q", code, reason)
		}
		old := e.sdk(t, "2")
		old.sdkJoin(t, "audience", nil)
		e.sdk(t, "2").sdkJoin(t, "audience", nil)
		code, reason, rest = old.closed()
		if len(rest) != 1 || code != websocket.StatusNormalClosure || reason != "close" {
			t.Fatalf("conflict close %d %q %v", code, reason, rest)
		}
		f := shape(t, rest[0])
		if string(f["command"]) != `"serverStatus"` || string(f["code"]) != "433" || jsonKind(f["reason"]) != "string" || f["requestId"] != nil {
			t.Fatalf("conflict push %s", rest[0])
		}
	})
}

// rejoin walks sequence 10.3, with the rejoin inside or after the grace period.
func rejoin(t *testing.T, expired bool) {
	e := newEnv(t, nil)
	p := e.sdk(t, "111")
	p.sdkJoin(t, "broadcaster", nil)
	url1 := p.do(t, "publish", map[string]any{"uid": 111}, "200", "url")["url"]
	e.mgr.MediaStarted(e.app.ID, "room", 111)
	q := e.sdk(t, "222")
	q.sdkJoin(t, "broadcaster", nil)
	q.do(t, "publish", nil, "200", "url")
	e.mgr.MediaStarted(e.app.ID, "room", 222)
	r := e.sdk(t, "333")
	r.sdkJoin(t, "broadcaster", nil)
	r.do(t, "publish", nil, "200", "url")
	e.mgr.MediaStarted(e.app.ID, "room", 333)
	q.sync()

	e.drop(p, 111) // 12.9: abrupt loss; the SDK reports 904 itself
	r.do(t, "leave", nil, "200")
	exactly(t, q.sync(), "stream-removed 333")
	if expired {
		e.clk.Advance(defaults.GatewayGraceTimeout + time.Second)
		exactly(t, q.sync(), "stream-removed 111")
	}
	p2 := e.sdk(t, "111")
	p2.sdkJoin(t, "broadcaster", []any{"111", "222", "333"})
	exactly(t, p2.sync(), "stream-added 222", "stream-removed 333")
	url2 := p2.do(t, "publish", map[string]any{"uid": 111}, "200", "url")["url"]
	if expired {
		exactly(t, q.sync(), "stream-added 111")
	} else {
		exactly(t, q.sync()) // within the grace period nothing is pushed
		if string(url1) != string(url2) {
			t.Fatalf("10.3: publish after rejoin %s, want the same URL %s", url2, url1)
		}
	}
}
