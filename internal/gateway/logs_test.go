package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/diag"
	"github.com/minirtc/minirtc/internal/store"
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
		return mustJSON(sdkLogBody(app, func(b map[string]any) { b[k] = v }))
	}
	tests := []struct {
		name   string
		body   []byte
		status int
		code   float64
		reason string
	}{
		{"sdk upload", mustJSON(sdkLogBody(app, nil)), 200, 0, ""},
		{"before join", mustJSON(sdkLogBody(app, func(b map[string]any) { b["channel"], b["uid"], b["sid"] = nil, nil, nil })), 200, 0, ""},
		{"uid as string", set("uid", "1015"), 200, 0, ""},
		{"no lines yet", set("lines", []string{}), 200, 0, ""},
		{"odd channel", set("channel", "../../etc/passwd"), 200, 0, ""},
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
	// What was stored: the five accepted uploads, under the app's directory.
	d := e.gw.Diagnostics()
	list, err := d.Logs(app, time.Now().UTC().Format("2006-01-02"))
	if err != nil || len(list) != 5 {
		t.Fatalf("%v %+v", err, list)
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
		body := mustJSON(sdkLogBody(e.app.ID, nil))
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
		for i, want := range []int{200, 200, 429} {
			if status, m := e.postLogs(mustJSON(sdkLogBody(e.app.ID, nil))); status != want {
				t.Fatalf("upload %d: %d %v", i, status, m)
			}
		}
		if status, m := e.postLogs(mustJSON(sdkLogBody(other.ID, nil))); status != 200 {
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
