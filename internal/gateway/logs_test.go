package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/diag"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// sdkLogBody is what LOG.uploadLogs posts (sdk/miniapp/src/client.js).
func sdkLogBody(app string, mod func(map[string]any)) map[string]any {
	b := map[string]any{"sdkVersion": "0.1.0", "clientType": "wechat", "appId": app, "channel": "room-1",
		"uid": 1015, "sid": "0123456789ABCDEF0123456789ABCDEF", "device": "iPhone 13", "os": "iOS 17.2",
		"ts": 1795633765000, "lines": []string{"10:00:00.000 [minirtc INFO] joined room-1 as 1015", "10:00:01.000 [minirtc DEBUG] publish"}}
	if mod != nil {
		mod(b)
	}
	return b
}

// memberLogBody is sdkLogBody for e's app with a valid token for the
// body's member (room-1, uid 1015), applied before mod.
func (e *env) memberLogBody(mod func(map[string]any)) map[string]any {
	return sdkLogBody(e.app.ID, func(b map[string]any) {
		b["token"] = e.token("room-1", "1015", 3600)
		if mod != nil {
			mod(b)
		}
	})
}

func (e *env) postLogs(body []byte) (int, map[string]any) {
	e.t.Helper()
	res, err := http.Post(e.srv.URL+"/api/v1/logs", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || res.Header.Get("Content-Type") != "application/json" {
		e.t.Fatalf("answer is not JSON (%q): %q", res.Header.Get("Content-Type"), b)
	}
	return res.StatusCode, m
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// smallDiag has limits small enough to hit in a test.
func smallDiag(t *testing.T) *diag.Store {
	d, err := diag.New(diag.Config{Dir: t.TempDir(), MaxLogBytes: 4096, AppDayBytes: 1 << 20, MaxLogLines: 10}, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLogUpload(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *store.App) { c.LogUploadBurstPerIP = 1000 })
	e.gw.SetDiagnostics(smallDiag(t))
	off, _ := store.NewApp("off", time.Now())
	off.Enabled = false
	e.store.PutApp(t.Context(), off)
	app := e.app.ID
	set := func(k string, v any) []byte {
		return mustJSON(e.memberLogBody(func(b map[string]any) { b[k] = v }))
	}
	tests := []struct {
		name   string
		body   []byte
		status int
		code   float64
		reason string
	}{
		{"sdk upload", mustJSON(e.memberLogBody(nil)), 200, 0, ""},
		{"uid as string", set("uid", "1015"), 200, 0, ""},
		{"no lines yet", set("lines", []string{}), 200, 0, ""},
		{"odd channel", mustJSON(e.memberLogBody(func(b map[string]any) {
			b["channel"], b["token"] = "../../etc/passwd", e.token("../../etc/passwd", "1015", 3600)
		})), 200, 0, ""},
		{"wildcard token", set("token", e.token("room-1", "0", 3600)), 200, 0, ""},
		// Credentials (issue #13 item 6): none, or not this member's, is 401.
		{"no credentials", mustJSON(sdkLogBody(app, nil)), 401, 401, `invalid key: log uploads need the "ticket" of a join reply or the member's "token"`},
		{"appId as token", set("token", app), 401, 401, "invalid key: log uploads need"},
		{"before join with a token", mustJSON(e.memberLogBody(func(b map[string]any) { b["channel"], b["uid"], b["sid"] = nil, nil, nil })), 401, 401, `invalid key: a log upload with a "token" needs the "channel"`},
		{"token of another uid", set("uid", 1016), 401, 401, "invalid key"},
		{"token of another channel", set("channel", "room-2"), 401, 401, "invalid key"},
		{"bogus token", set("token", "007bogus"), 401, 401, ""},
		{"forged ticket", set("ticket", e.app.ID+".cm9vbS0x.1015.9999999999.AAAA"), 401, 401, "invalid key: log upload ticket signature mismatch"},
		{"ticket of another app", set("ticket", e.signer.LogTicket("0000000000000000000000000000000f", "room-1", 1015, time.Now().Add(time.Hour))), 401, 401, "invalid key: the log upload ticket is for another app"},
		{"expired ticket", set("ticket", e.signer.LogTicket(app, "room-1", 1015, e.clk.Now().Add(-time.Second))), 401, 401, "invalid key: log upload ticket expired"},
		{"ticket", set("ticket", e.signer.LogTicket(app, "room-1", 1015, e.clk.Now().Add(time.Hour))), 200, 0, ""},
		{"ticket before join", mustJSON(sdkLogBody(app, func(b map[string]any) {
			b["channel"], b["uid"], b["ticket"] = nil, nil, e.signer.LogTicket(app, "room-1", 1015, e.clk.Now().Add(time.Hour))
		})), 200, 0, ""},
		{"unknown app", mustJSON(sdkLogBody("0000000000000000000000000000000f", nil)), 404, 432, "not found: app \"0000000000000000000000000000000f\" is unknown or disabled"},
		{"disabled app", mustJSON(sdkLogBody(off.ID, nil)), 404, 432, "not found: app"},
		{"not JSON", []byte("lines=a"), 400, 430, "bad request: body must be a JSON object"},
		{"JSON array", []byte(`[1]`), 400, 430, "bad request: body must be a JSON object"},
		{"empty body", nil, 400, 430, "bad request: body must be a JSON object"},
		{"no appId", set("appId", ""), 400, 430, `bad request: field "appId" is missing`},
		{"appId number", set("appId", 5), 400, 430, `bad request: field "appId" must be a string`},
		{"no lines", set("lines", nil), 400, 430, `bad request: field "lines" is missing`},
		{"lines string", set("lines", "a\nb"), 400, 430, `bad request: field "lines" must be an array of strings`},
		{"line number", set("lines", []any{"a", 5}), 400, 430, `bad request: field "lines[1]" must be a string`},
		{"line null", set("lines", []any{nil}), 400, 430, `bad request: field "lines[0]" must be a string`},
		{"uid account", set("uid", "alice"), 400, 430, `bad request: field "uid" must be a uid`},
		{"uid negative", set("uid", -1), 400, 430, `bad request: field "uid" must be a uid`},
		{"ts string", set("ts", "now"), 400, 430, `bad request: field "ts" must be a number`},
		{"channel too long", set("channel", strings.Repeat("c", 129)), 400, 430, `bad request: field "channel" is 129 bytes, at most 128`},
		{"device too long", set("device", strings.Repeat("d", 129)), 400, 430, `bad request: field "device" is 129 bytes`},
		{"too many lines", set("lines", make([]string, 11)), 413, 430, "bad request: more than 10 lines"},
		{"too many bytes", set("lines", []string{strings.Repeat("x", 4097)}), 413, 430, "bad request: 4097 bytes of lines, at most 4096"},
		{"body too big", set("lines", []string{strings.Repeat("x", 80<<10)}), 413, 430, "bad request: body larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, m := e.postLogs(tc.body)
			rs, _ := m["reason"].(string)
			if status != tc.status || m["code"] != tc.code || !strings.HasPrefix(rs, tc.reason) {
				t.Fatalf("got %d %v, want %d code %v reason %q", status, m, tc.status, tc.code, tc.reason)
			}
			if tc.status == 200 && len(m) != 1 {
				t.Fatalf("success answer %v, want {\"code\":0}", m)
			}
		})
	}
	// What was stored: the seven accepted uploads, under the app's directory.
	d := e.gw.Diagnostics()
	list, err := d.Logs(app, time.Now().UTC().Format("2006-01-02"))
	if err != nil || len(list) != 7 {
		t.Fatalf("%v %+v", err, list)
	}
	// A ticket names the file's member, whatever the body says.
	n := 0
	for _, f := range list {
		if f.Channel == "room-1" && f.UID == 1015 {
			n++
		}
	}
	if n != 6 {
		t.Fatalf("%d uploads of room-1/1015, want 6: %+v", n, list)
	}
	// A token past its expiry is refused.
	e.clk.Advance(2 * time.Second)
	if status, m := e.postLogs(mustJSON(e.memberLogBody(func(b map[string]any) { b["token"] = e.token("room-1", "1015", 1) }))); status != 200 {
		t.Fatalf("fresh token: %d %v", status, m)
	}
	expired := e.token("room-1", "1015", 1)
	e.clk.Advance(2 * time.Second)
	if status, m := e.postLogs(mustJSON(e.memberLogBody(func(b map[string]any) { b["token"] = expired }))); status != 401 {
		t.Fatalf("expired token: %d %v", status, m)
	}
	var first diag.LogFile
	for _, f := range list {
		if f.Channel == "room-1" && f.UID == 1015 {
			first = f
			break
		}
	}
	b, err := d.ReadLog(app, first.Day, first.Name)
	if err != nil || !bytes.Contains(b, []byte("\n10:00:00.000 [minirtc INFO] joined room-1 as 1015\n")) ||
		!bytes.Contains(b, []byte(`"device":"iPhone 13"`)) || !bytes.Contains(b, []byte(`"remote":"127.0.0.1:`)) {
		t.Fatalf("%v %s", err, b)
	}
}

func TestLogUploadRateLimits(t *testing.T) {
	t.Run("per IP", func(t *testing.T) {
		e := newEnv(t, func(c *Config, _ *store.App) { c.LogUploadRatePerIP, c.LogUploadBurstPerIP = 0.001, 2 })
		body := mustJSON(e.memberLogBody(nil))
		for i, want := range []int{200, 200, 429} {
			if status, m := e.postLogs(body); status != want {
				t.Fatalf("upload %d: %d %v", i, status, m)
			} else if want == 429 && (m["code"] != 429.0 || !strings.HasPrefix(m["reason"].(string), "too many requests: at most 2 log uploads in a row from one address")) {
				t.Fatalf("%v", m)
			}
		}
		// a malformed body counts too: the limit is checked before reading
		if status, _ := e.postLogs([]byte("x")); status != 429 {
			t.Fatalf("%d", status)
		}
	})
	t.Run("per app", func(t *testing.T) {
		e := newEnv(t, func(c *Config, _ *store.App) {
			c.LogUploadBurstPerIP = 100
			c.LogUploadRatePerApp, c.LogUploadBurstPerApp = 0.001, 2
		})
		other, _ := store.NewApp("other", time.Now())
		e.store.PutApp(t.Context(), other)
		// Uploads without credentials are refused before the app's limit:
		// they cannot use it up (issue #13 item 6).
		for i := range 5 {
			if status, m := e.postLogs(mustJSON(sdkLogBody(e.app.ID, nil))); status != 401 {
				t.Fatalf("upload %d without credentials: %d %v", i, status, m)
			}
		}
		for i, want := range []int{200, 200, 429} {
			if status, m := e.postLogs(mustJSON(e.memberLogBody(nil))); status != want {
				t.Fatalf("upload %d: %d %v", i, status, m)
			}
		}
		tok, err := token.BuildRTC007(token.RTCOptions{AppID: other.ID, AppCert: other.Certificate, Channel: "room-1",
			UID: "1015", Role: token.RolePublisher, IssuedAt: e.clk.Now(), Lifetime: 3600})
		if err != nil {
			t.Fatal(err)
		}
		if status, m := e.postLogs(mustJSON(sdkLogBody(other.ID, func(b map[string]any) { b["token"] = tok }))); status != 200 {
			t.Fatalf("another app is limited too: %d %v", status, m)
		}
	})
}

func TestLogUploadWithoutDiagnostics(t *testing.T) {
	e := newEnv(t, nil)
	e.gw.SetDiagnostics(nil)
	status, m := e.postLogs(mustJSON(sdkLogBody(e.app.ID, nil)))
	if status != 404 || m["reason"] != "not found: log upload is not enabled on this node" {
		t.Fatalf("%d %v", status, m)
	}
}

func TestKeyedLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := newKeyedLimiter(1, 2, 2)
	l.now = func() time.Time { return now }
	steps := []struct {
		key   string
		after time.Duration
		want  bool
	}{
		{"a", 0, true}, {"a", 0, true}, {"a", 0, false}, // burst 2
		{"b", 0, true},
		{"c", 0, false},                           // full of keys, none refilled
		{"a", time.Second, true}, {"a", 0, false}, // one token a second
		{"c", 2 * time.Second, true}, // b refilled and was forgotten
	}
	for i, s := range steps {
		now = now.Add(s.after)
		if got := l.allow(s.key); got != s.want {
			t.Fatalf("step %d (%s): %v", i, s.key, got)
		}
	}
	if len(l.buckets) > 2 {
		t.Fatalf("%d keys", len(l.buckets))
	}
}

// FuzzDecodeLogUpload: any body is refused with a catalogue error or gives
// an upload within the limits.
func FuzzDecodeLogUpload(f *testing.F) {
	f.Add(mustJSON(sdkLogBody("0123456789abcdef0123456789abcdef", nil)))
	f.Add([]byte(`{"appId":"a","lines":[],"uid":null,"channel":null}`))
	f.Add([]byte(`{"appId":" a ","lines":["\u0000\n",""],"uid":"4294967295","ts":1.5}`))
	f.Add([]byte(`{"appId":"a","lines":[1,2,3]}`))
	f.Add([]byte(`{"appId":"a","lines":[` + strings.Repeat(`"",`, 20) + `""]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := decodeLogUpload(body, 10)
		if err != nil {
			if _, ok := err.(interface{ HTTPStatus() int }); !ok {
				t.Fatalf("not a catalogue error: %v", err)
			}
			return
		}
		if u.App == "" || len(u.App) > maxLogAppID || len(u.Channel) > diag.MaxChannelBytes || len(u.Lines) > 10 ||
			len(u.SID) > maxLogSID || len(u.Device) > maxLogDevice || len(u.OS) > maxLogDevice || u.ClientTS < 0 {
			t.Fatalf("upload out of limits: %+v", u)
		}
		_ = fmt.Sprint(u)
	})
}

// postLogsFrom posts an upload from the source address ip (a 127.0.0.x
// address: the whole block is local), the way clients behind many addresses
// would; X-Forwarded-For is set to show it is not what counts.
func (e *env) postLogsFrom(ip string, body []byte) int {
	e.t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// TestLogUploadFloodCannotEvict (issue #13 item 6): a member gets a log
// ticket at join and uploads its log; then clients from 20 source addresses
// that never joined flood the endpoint with uploads big enough to fill the
// app's daily budget many times over. Every one is refused (401), the
// member's log is still there, and the member can still upload (the flood
// did not use up the app's rate limit).
func TestLogUploadFloodCannotEvict(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *store.App) {
		c.LogUploadRatePerIP, c.LogUploadBurstPerIP = 0.001, 5
		c.LogUploadRatePerApp, c.LogUploadBurstPerApp = 0.001, 5
	})
	d, err := diag.New(diag.Config{Dir: t.TempDir(), MaxLogBytes: 4096, AppDayBytes: 16 << 10, MaxLogLines: 10}, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	e.gw.SetDiagnostics(d)

	c := e.dial()
	c.uid = "1015"
	f := c.joinFields(e.token("room-1", "1015", 3600), "room-1", "1015", "broadcaster")
	f["logTicket"] = true
	r := c.ok("join", f)
	ticket, _ := r.resp()["logTicket"].(string)
	if ticket == "" {
		t.Fatalf("join reply without logTicket: %s", r)
	}
	member := mustJSON(sdkLogBody(e.app.ID, func(b map[string]any) {
		b["ticket"] = ticket
		b["lines"] = []string{"the member's log"}
	}))
	if st := e.postLogsFrom("127.0.0.1", member); st != 200 {
		t.Fatalf("member upload: %d", st)
	}

	big := []string{strings.Repeat("x", 4000)}
	forged := e.app.ID + ".cm9vbS0x.1015.9999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	refused := 0
	for i := 2; i < 22; i++ {
		ip := fmt.Sprintf("127.0.0.%d", i)
		for j, mod := range []func(b map[string]any){
			func(b map[string]any) {},
			func(b map[string]any) { b["ticket"] = forged },
			func(b map[string]any) { b["token"] = e.app.ID },
		} {
			body := mustJSON(sdkLogBody(e.app.ID, func(b map[string]any) { b["lines"] = big; mod(b) }))
			if st := e.postLogsFrom(ip, body); st != http.StatusUnauthorized {
				t.Errorf("flood upload %d from %s: %d, want 401", j, ip, st)
			} else {
				refused++
			}
		}
	}
	day := e.clk.Now().UTC().Format("2006-01-02")
	list, err := d.Logs(e.app.ID, day)
	if err != nil || len(list) != 1 || list[0].Channel != "room-1" || list[0].UID != 1015 {
		t.Fatalf("after %d refused uploads the app's logs are %v %+v, want the member's one", refused, err, list)
	}
	if b, err := d.ReadLog(e.app.ID, day, list[0].Name); err != nil || !bytes.Contains(b, []byte("\nthe member's log\n")) {
		t.Fatalf("member's log: %v %q", err, b)
	}
	if st := e.postLogsFrom("127.0.0.1", member); st != 200 {
		t.Fatalf("member upload after the flood: %d", st)
	}
}

// Only a join that asks for a log ticket gets one: the official SDK's join
// reply stays exactly {uid} (conformance 12.4).
func TestJoinLogTicket(t *testing.T) {
	e := newEnv(t, nil)
	a := e.dial()
	if r := a.join("1", "audience"); len(r.resp()) != 1 {
		t.Fatalf("join reply %s", r)
	}
	b := e.dial()
	b.uid = "2"
	f := b.joinFields(e.token("room", "2", 3600), "room", "2", "audience")
	f["logTicket"] = true
	r := b.ok("join", f)
	tk, _ := r.resp()["logTicket"].(string)
	got, err := e.signer.VerifyLogTicket(tk, e.clk.Now())
	if err != nil || got.AppID != e.app.ID || got.Channel != "room" || got.UID != 2 || !got.Expire.Equal(e.clk.Now().Add(defaults.DiagnosticsLogTicketTTL)) {
		t.Fatalf("ticket %q: %+v %v", tk, got, err)
	}
	if _, err := e.signer.VerifyLogTicket(tk, e.clk.Now().Add(defaults.DiagnosticsLogTicketTTL)); err == nil {
		t.Fatal("ticket valid after its TTL")
	}
	c := e.dial()
	c.uid = "3"
	f = c.joinFields(e.token("room", "3", 3600), "room", "3", "audience")
	f["logTicket"] = "yes"
	c.fail("join", f, "430", `bad request: field "logTicket" must be a boolean`)
}

// syncBuffer collects log output; safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLongClientStringsLogTruncated: an allocation request whose uid is a
// 10 kB string and appId, channel and sid 1 kB ones (the SDK's are a few
// bytes) is answered, and its log line holds at most logsafe.MaxLen bytes of
// each (issue #13 item 6).
func TestLongClientStringsLogTruncated(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	apps := store.NewMemory()
	g, err := New(Config{}, apps, channel.NewManager(channel.Config{}, log), token.NewURLSigner([]byte("0123456789abcdef")), log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	long := strings.Repeat("x", 10<<10)
	mid := strings.Repeat("y", 1000) // the body is at most 16 KiB
	inner, _ := json.Marshal(map[string]any{"command": "convergeAllocateEdge", "sid": mid, "appId": mid, "uid": long, "cname": mid})
	body, _ := json.Marshal(map[string]any{"service_name": "miniapp", "json_body": string(inner)})
	res, err := http.Post(srv.URL+"/api/v1", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("allocation: %d", res.StatusCode)
	}
	out := logs.String()
	if !strings.Contains(out, "msg=allocation") || !strings.Contains(out, "bytes cut]") {
		t.Fatalf("allocation not logged with cut strings:\n%.2000s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 2048 || strings.Contains(l, strings.Repeat("x", 1000)) || strings.Contains(l, mid) {
			t.Fatalf("log line of %d bytes: %.300s…", len(l), l)
		}
	}
}

func TestAddressKey(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"127.0.0.5:4000", "127.0.0.5"},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1%eth0]:443", "2001:db8:1:2::/64"},
		{"not an address", "not an address"},
	} {
		if got := addressKey(tc.remote); got != tc.want {
			t.Errorf("addressKey(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}
