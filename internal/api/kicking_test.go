package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/channel/fakeclock"
	"github.com/minirtc/minirtc/internal/store"
)

type nopEndpoint struct{}

func (nopEndpoint) Notify(channel.Event) {}

// TestKickingRuleTimes: a rule's time on the channel model's clock (a fake
// one here): time=1 refuses joins for exactly one minute, then the rule is
// gone from the list too; Agora's bounds and defaults for time and
// time_in_seconds; numbers sent as strings; rules of another app are not
// found; no Bans means no endpoint.
func TestKickingRuleTimes(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr := channel.NewManager(channel.Config{Clock: clk, MediaStartTimeout: -1}, log)
	st := store.NewMemory()
	app, _ := store.NewApp("demo", clk.Now())
	other, _ := store.NewApp("other", clk.Now())
	st.PutApp(context.Background(), app)
	st.PutApp(context.Background(), other)
	k, secret, _ := store.NewAPIKey("test", clk.Now())
	st.PutAPIKey(context.Background(), k)
	srv, err := New(Config{Now: clk.Now, MaxKickingRules: 6}, Deps{Store: st, Channels: mgr, Bans: mgr}, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	call := func(method string, body any, out any) int {
		t.Helper()
		b, _ := json.Marshal(body)
		path := "/dev/v1/kicking-rule"
		var rd io.Reader = strings.NewReader(string(b))
		if method == http.MethodGet {
			path += "?appid=" + body.(string)
			rd = nil
		}
		req, _ := http.NewRequest(method, ts.URL+path, rd)
		req.SetBasicAuth(k.ID, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				t.Fatalf("%s: %v in %s", method, err, raw)
			}
		}
		return resp.StatusCode
	}
	joins := func(uid uint32) bool {
		_, err := mgr.Join(channel.JoinRequest{App: app.ID, Channel: "room", UID: uid, Endpoint: nopEndpoint{}})
		if err == nil {
			mgr.Leave(channel.Ref{App: app.ID, Channel: "room", UID: uid}, 1)
		}
		return err == nil
	}
	var made struct{ ID uint64 }
	if code := call("POST", map[string]any{"appid": app.ID, "uid": "42", "time": "1"}, &made); code != 200 || made.ID == 0 {
		t.Fatalf("create: %d %+v", code, made)
	}
	if joins(42) {
		t.Fatal("join under a one-minute rule")
	}
	clk.Advance(59 * time.Second)
	if joins(42) {
		t.Fatal("join after 59 s of a one-minute rule")
	}
	clk.Advance(time.Second)
	if !joins(42) {
		t.Fatal("join refused after the minute")
	}
	var list struct {
		Rules []struct {
			ID uint64
			TS string
		}
	}
	if call("GET", app.ID, &list); len(list.Rules) != 0 {
		t.Fatalf("expired rule listed: %+v", list)
	}
	if rs, _ := st.KickingRules(context.Background()); len(rs) != 0 {
		t.Fatalf("expired rule kept in the store: %+v", rs)
	}

	// Bounds: the ts of each rule is now + the clamped duration.
	for _, tc := range []struct {
		body map[string]any
		want time.Duration
	}{
		{map[string]any{"time": 5000}, 1440 * time.Minute},
		{map[string]any{"time_in_seconds": 3}, 10 * time.Second},
		{map[string]any{"time_in_seconds": 100000}, 86430 * time.Second},
		{map[string]any{"time": 2, "time_in_seconds": 30}, 30 * time.Second},
		{map[string]any{}, 60 * time.Minute},
	} {
		tc.body["appid"], tc.body["cname"] = app.ID, "bounds"
		if code := call("POST", tc.body, &made); code != 200 {
			t.Fatalf("%v: %d", tc.body, code)
		}
		call("GET", app.ID, &list)
		got := list.Rules[len(list.Rules)-1]
		if got.ID != made.ID || got.TS != clk.Now().Add(tc.want).UTC().Format("2006-01-02T15:04:05.000Z") {
			t.Errorf("%v: ts %s, want now + %v", tc.body, got.TS, tc.want)
		}
	}
	// Five rules are active; the cap (6) lets one more in, kick-only ones always.
	if code := call("POST", map[string]any{"appid": app.ID, "uid": 1}, nil); code != 200 {
		t.Fatalf("sixth rule: %d", code)
	}
	var e struct{ Reason string }
	if code := call("POST", map[string]any{"appid": app.ID, "uid": 2}, &e); code != 400 || !strings.Contains(e.Reason, "6 active banning rules") {
		t.Fatalf("seventh rule: %d %+v", code, e)
	}
	if code := call("POST", map[string]any{"appid": app.ID, "uid": 2, "time": 0}, nil); code != 200 {
		t.Fatalf("kick only over the cap: %d", code)
	}
	if code := call("DELETE", map[string]any{"appid": other.ID, "id": made.ID}, nil); code != 404 {
		t.Fatalf("another app's rule deleted: %d", code)
	}
	if code := call("DELETE", map[string]any{"appid": app.ID, "id": made.ID}, nil); code != 200 {
		t.Fatalf("delete: %d", code)
	}

	off, err := New(Config{}, Deps{Store: st, Channels: mgr}, log)
	if err != nil {
		t.Fatal(err)
	}
	ts2 := httptest.NewServer(off)
	defer ts2.Close()
	req, _ := http.NewRequest("GET", ts2.URL+"/dev/v1/kicking-rule?appid="+app.ID, nil)
	req.SetBasicAuth(k.ID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("without Bans: %d", resp.StatusCode)
	}
}
