package node

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/store"
)

// bootNode runs a node on the bbolt store of cfg.DataDir until stop.
func bootNode(t *testing.T, cfg config.Config) (n *Node, stop func()) {
	t.Helper()
	n, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	t.Cleanup(stop)
	waitFor(t, "the node to serve", func() bool {
		resp, err := http.Get("http://" + n.HTTPAddr() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return n, stop
}

// waitPush reads until a serverStatus push with action arrives and
// returns it (code and reason at its top level, when it has them).
func (m *wsMember) waitPush(action string, within time.Duration) (time.Time, map[string]any) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		f, err := m.cc.Next(ctx)
		if err != nil {
			m.t.Fatalf("waiting for push %s: %v", action, err)
		}
		var p map[string]any
		json.Unmarshal(f.Raw, &p)
		if st, ok := p["serverStatus"].(map[string]any); ok && st["action"] == action {
			return time.Now(), p
		}
	}
}

// startPush pushes a test pattern with ffmpeg to url; the channel gets the
// time ffmpeg ended.
func startPush(t *testing.T, url string) <-chan time.Time {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg is required (make test installs it)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "120", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv", url)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ended, done := make(chan time.Time, 1), make(chan struct{})
	go func() { cmd.Wait(); ended <- time.Now(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ended
}

// startWHEP plays publisher's stream in ch as viewer over WHEP; the
// channel gets the time its media stopped (the first track's RTP read
// failed: the server closed the session). It waits for media.
func startWHEP(t *testing.T, n *Node, app store.App, ch, publisher, viewer string) (*pion.PeerConnection, <-chan time.Time) {
	t.Helper()
	pc, err := loopbackClient(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	for _, kind := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	media := make(chan struct{}, 1)
	ended := make(chan time.Time, 2)
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				ended <- time.Now()
				return
			}
			select {
			case media <- struct{}{}:
			default:
			}
		}
	})
	code, answer := postWHEP(t, n, app, ch, publisher, viewer, pc)
	if code != http.StatusCreated {
		t.Fatalf("WHEP as %s: %d %s", viewer, code, answer)
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-media:
	case <-time.After(30 * time.Second):
		t.Fatalf("WHEP as %s: no media", viewer)
	}
	return pc, ended
}

// within waits for an end time on ch and returns how long after since it came.
func within(t *testing.T, what string, since time.Time, ch <-chan time.Time) time.Duration {
	t.Helper()
	select {
	case at := <-ch:
		return at.Sub(since)
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not end", what)
	}
	return 0
}

// agoraError decodes an error answer of an Agora-compatible path.
func agoraError(t *testing.T, c restClient, method, path string, body any, wantStatus int, wantReason string) {
	t.Helper()
	code, b := c.do(method, path, body)
	var e struct {
		Code    int
		Reason  string
		Message string
	}
	json.Unmarshal(b, &e)
	if code != wantStatus || e.Code == 0 || e.Message == "" || !strings.Contains(e.Reason, wantReason) {
		t.Fatalf("%s %s %v: %d %s, want %d with %q", method, path, body, code, b, wantStatus, wantReason)
	}
}

// TestKickingRulesWithRealMembers drives Agora's banning rules over HTTP
// on a running node (bbolt store) with a gateway WebSocket broadcaster
// that pushes with ffmpeg over RTMP and WHEP readers: a rule on a member
// kicks it (433 push) and closes its RTMP push and the WHEP readers of its
// stream; a rule on a non-member WHEP viewer closes its session; joins,
// publishes and plays are refused while a rule is active; DELETE lifts it
// at once; a rule expires by itself; rules survive a restart; publish
// and IP rules; JSON shapes against Agora's; bad input.
func TestKickingRulesWithRealMembers(t *testing.T) {
	cfg := testConfig(t)
	cfg.Gateway.IdleTimeout = 5 * time.Minute // the test's clients send no pings
	cfg.API.RequestsPerSecond = 1000
	n, stop := bootNode(t, cfg)
	app, _ := n.CreatedDefaultApp()
	k, secret, _ := store.NewAPIKey("test", time.Now())
	if err := n.Store().PutAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	c := restClient{t: t, base: "http://" + n.HTTPAddr() + APIPrefix, id: k.ID, secret: secret}
	const path = "/dev/v1/kicking-rule"
	type created struct {
		Status string
		ID     uint64
	}
	newRule := func(body map[string]any) uint64 {
		t.Helper()
		body["appid"] = app.ID
		var out created
		c.agora("POST", path, body, "kicking_rule_create", &out)
		if out.Status != "success" || out.ID == 0 {
			t.Fatalf("create %v: %+v", body, out)
		}
		return out.ID
	}
	deleteRule := func(id uint64) {
		t.Helper()
		var out created
		c.agora("DELETE", path, map[string]any{"appid": app.ID, "id": id}, "kicking_rule_delete", &out)
		if out.Status != "success" || out.ID != id {
			t.Fatalf("delete %d: %+v", id, out)
		}
	}
	joinAs := func(ch string, uid int, role string) (*wsMember, int, string) {
		m := dialGateway(t, n)
		code, reason := m.join(app.ID, app.Certificate, ch, uid, role, "iOS 17.2")
		return m, code, reason
	}

	// A broadcaster publishes over RTMP; a WHEP reader (uid 8, not a member) plays it.
	host, code, reason := joinAs("room", 42, "broadcaster")
	if code != 200 {
		t.Fatalf("host join: %d %s", code, reason)
	}
	code, reason, r := host.call(map[string]any{"action": "publish", "uid": 42})
	push, _ := r["url"].(string)
	if code != 200 {
		t.Fatalf("publish: %d %s", code, reason)
	}
	pushEnded := startPush(t, push)
	waitFor(t, "the stream to be live", func() bool {
		mi, ok := n.Channels().Member(app.ID, "room", 42)
		return ok && mi.MediaLive
	})
	_, whep8 := startWHEP(t, n, app, "room", "42", "8")

	// 1. A rule on a uid that is no member (a token WHEP viewer) ends its session.
	at := time.Now()
	id8 := newRule(map[string]any{"cname": "room", "uid": 8, "time": 10, "privileges": []string{"join_channel"}})
	t.Logf("rule on a non-member WHEP viewer: its media ended %v after the POST", within(t, "WHEP reader 8", at, whep8))
	pc, _ := loopbackClient(t).NewPeerConnection(pion.Configuration{})
	pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly})
	if code, body := postWHEP(t, n, app, "room", "42", "8", pc); code != http.StatusForbidden || !strings.Contains(body, "banned") || !strings.Contains(body, "433") {
		t.Fatalf("banned WHEP viewer let in: %d %s", code, body)
	}
	pc.Close()
	deleteRule(id8)
	startWHEP(t, n, app, "room", "42", "8") // lifted at once

	// 2. A publish rule on the host: its push ends, it stays a member and may not publish.
	at = time.Now()
	idPub := newRule(map[string]any{"uid": "42", "time": 5, "privileges": []string{"publish_video"}})
	t.Logf("publish rule: the RTMP push ended %v after the POST", within(t, "the RTMP push", at, pushEnded))
	if _, ok := n.Channels().Member(app.ID, "room", 42); !ok {
		t.Fatal("a publish rule removed the member")
	}
	if code, reason, _ := host.call(map[string]any{"action": "publish", "uid": 42}); code != 433 || !strings.Contains(reason, "banned") {
		t.Fatalf("publish under a publish rule: %d %s", code, reason)
	}
	deleteRule(idPub)
	code, reason, r = host.call(map[string]any{"action": "publish", "uid": 42})
	if code != 200 {
		t.Fatalf("publish after the rule was deleted: %d %s", code, reason)
	}
	push, _ = r["url"].(string)
	pushEnded = startPush(t, push)
	waitFor(t, "the stream to be live again", func() bool {
		mi, ok := n.Channels().Member(app.ID, "room", 42)
		return ok && mi.MediaLive
	})
	_, whep9 := startWHEP(t, n, app, "room", "42", "9")

	// 3. A join rule on the host: kicked with 433, its push and the WHEP readers end.
	at = time.Now()
	id42 := newRule(map[string]any{"cname": "room", "uid": 42, "time": 1, "privileges": []string{"join_channel"}})
	kickedAt, p := host.waitPush("client-is-banned-by-server", 15*time.Second)
	if p["code"] != float64(433) || !strings.Contains(p["reason"].(string), "banned") {
		t.Fatalf("kicked push: %v", p)
	}
	t.Logf("join rule: kicked push %v, RTMP push ended %v, WHEP reader ended %v after the POST",
		kickedAt.Sub(at), within(t, "the RTMP push", at, pushEnded), within(t, "WHEP reader 9", at, whep9))
	if _, code, reason := joinAs("room", 42, "broadcaster"); code != 433 || !strings.Contains(reason, "banned") {
		t.Fatalf("banned uid rejoined: %d %s", code, reason)
	}
	if _, code, reason := joinAs("other", 42, "broadcaster"); code != 200 {
		t.Fatalf("the rule names a channel; another one refused: %d %s", code, reason)
	}

	// The list and the update, in Agora's shapes.
	type listed struct {
		Status string
		Rules  []struct {
			ID         uint64   `json:"id"`
			AppID      string   `json:"appid"`
			UID        uint32   `json:"uid"`
			Cname      string   `json:"cname"`
			TS         string   `json:"ts"`
			Privileges []string `json:"privileges"`
		}
	}
	var list listed
	c.agora("GET", path+"?appid="+app.ID, nil, "kicking_rule_list", &list)
	if len(list.Rules) != 1 || list.Rules[0].ID != id42 || list.Rules[0].UID != 42 || list.Rules[0].Cname != "room" ||
		list.Rules[0].AppID != app.ID || strings.Join(list.Rules[0].Privileges, ",") != "join_channel" {
		t.Fatalf("list: %+v", list)
	}
	ts1, _ := time.Parse(time.RFC3339, list.Rules[0].TS)
	var upd struct {
		Status string
		Result struct {
			ID uint64
			TS string
		}
	}
	c.agora("PUT", path, map[string]any{"appid": app.ID, "id": id42, "time": 30}, "kicking_rule_update", &upd)
	ts2, _ := time.Parse(time.RFC3339, upd.Result.TS)
	if upd.Status != "success" || upd.Result.ID != id42 || !ts2.After(ts1.Add(25*time.Minute)) {
		t.Fatalf("update: %+v (was %v)", upd, ts1)
	}

	// A rule that ends by itself (time_in_seconds: at least 10 s).
	idShort := newRule(map[string]any{"cname": "brief", "time_in_seconds": 1})
	if _, code, _ := joinAs("brief", 5, "audience"); code != 433 {
		t.Fatalf("join under a short rule: %d", code)
	}
	refusedAt := time.Now()

	// 4. A restart keeps the rules.
	stop()
	n, _ = bootNode(t, cfg)
	c.base = "http://" + n.HTTPAddr() + APIPrefix
	if _, code, reason := joinAs("room", 42, "broadcaster"); code != 433 || !strings.Contains(reason, "banned") {
		t.Fatalf("banned uid rejoined after a restart: %d %s", code, reason)
	}
	c.agora("GET", path+"?appid="+app.ID, nil, "kicking_rule_list", &list)
	if len(list.Rules) != 2 || list.Rules[0].ID != id42 || list.Rules[1].ID != idShort {
		t.Fatalf("list after restart: %+v", list)
	}
	waitFor(t, "the short rule to expire", func() bool {
		m := dialGateway(t, n)
		code, _ := m.join(app.ID, app.Certificate, "brief", 5, "audience", "iOS 17.2")
		m.conn.CloseNow()
		return code == 200
	})
	if waited := time.Since(refusedAt); waited < 5*time.Second {
		t.Fatalf("a 10 s rule (time_in_seconds 1 is raised to 10) ended after %v", waited)
	}
	c.agora("GET", path+"?appid="+app.ID, nil, "kicking_rule_list", &list)
	if len(list.Rules) != 1 {
		t.Fatalf("expired rule listed: %+v", list)
	}

	// DELETE lifts the rule at once.
	deleteRule(id42)
	if _, code, reason := joinAs("room", 42, "broadcaster"); code != 200 {
		t.Fatalf("rejoin after delete: %d %s", code, reason)
	}

	// 5. IP rules match the address the gateway saw (loopback here).
	inA, code, _ := joinAs("ipa", 11, "audience")
	inB, code2, _ := joinAs("ipb", 12, "audience")
	if code != 200 || code2 != 200 {
		t.Fatalf("joins: %d %d", code, code2)
	}
	newRule(map[string]any{"cname": "ipb", "ip": "10.20.30.40", "time": 5})
	idIP := newRule(map[string]any{"cname": "ipa", "ip": "127.0.0.1", "time": 5})
	if _, p := inA.waitPush("client-is-banned-by-server", 15*time.Second); p["code"] != float64(433) {
		t.Fatalf("IP rule push: %v", p)
	}
	if _, code, _ := joinAs("ipa", 13, "audience"); code != 433 {
		t.Fatalf("join from a banned address: %d", code)
	}
	if mi, ok := n.Channels().Member(app.ID, "ipb", 12); !ok || mi.RemoteIP != "127.0.0.1" {
		t.Fatalf("a rule for another address kicked a member: %+v %v", mi, ok)
	}
	_ = inB
	deleteRule(idIP)

	// 6. Kick only (time 0): the member goes, may rejoin at once, nothing is kept.
	kicked, code, _ := joinAs("kick", 21, "audience")
	if code != 200 {
		t.Fatal(code)
	}
	newRule(map[string]any{"cname": "kick", "uid": 21, "time": 0})
	kicked.waitPush("client-is-banned-by-server", 15*time.Second)
	if _, code, reason := joinAs("kick", 21, "audience"); code != 200 {
		t.Fatalf("rejoin after a kick-only rule: %d %s", code, reason)
	}

	// Bad input: the catalogue's 400 (or 404), with Agora's message.
	for _, tc := range []struct {
		name, method string
		body         any
		status       int
		reason       string
	}{
		{"no appid", "POST", map[string]any{"uid": 1}, 400, "appid is required"},
		{"unknown app", "POST", map[string]any{"appid": strings.Repeat("0", 32), "uid": 1}, 404, "no app"},
		{"negative time", "POST", map[string]any{"appid": app.ID, "uid": 1, "time": -1}, 400, "negative"},
		{"negative seconds", "POST", map[string]any{"appid": app.ID, "uid": 1, "time_in_seconds": -5}, 400, "negative"},
		{"no filter", "POST", map[string]any{"appid": app.ID, "time": 5}, 400, "at least one of"},
		{"bad ip", "POST", map[string]any{"appid": app.ID, "ip": "300.1.1.1"}, 400, "not an IP address"},
		{"bad privilege", "POST", map[string]any{"appid": app.ID, "uid": 1, "privileges": []string{"fly"}}, 400, "privilege"},
		{"uid too big", "POST", map[string]any{"appid": app.ID, "uid": 1 << 33}, 400, "uid"},
		{"uid not a number", "POST", map[string]any{"appid": app.ID, "uid": "x"}, 400, "whole number"},
		{"not JSON", "POST", "nope", 400, "body"},
		{"bad id", "DELETE", map[string]any{"appid": app.ID, "id": "abc"}, 400, "whole number"},
		{"no id", "DELETE", map[string]any{"appid": app.ID}, 400, "id must be"},
		{"unknown id", "DELETE", map[string]any{"appid": app.ID, "id": 99999}, 404, "no active rule"},
		{"deleted id", "PUT", map[string]any{"appid": app.ID, "id": id42, "time": 5}, 404, "no active rule"},
		{"update negative", "PUT", map[string]any{"appid": app.ID, "id": idShort, "time": -3}, 400, "negative"},
		{"list without appid", "GET", nil, 400, "appid is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := path
			if tc.method == "GET" {
				p += "?appid="
			}
			agoraError(t, restClient{t: t, base: c.base, id: c.id, secret: c.secret}, tc.method, p, tc.body, tc.status, tc.reason)
		})
	}
}
