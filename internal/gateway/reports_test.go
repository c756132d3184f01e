package gateway

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/diag"
	"github.com/minirtc/minirtc/internal/store"
)

func events(n int, ev map[string]any) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = ev
	}
	return out
}

// reportCases: the SDK's report payloads (sdk/miniapp/src/reporter.js) and
// what must be refused. Shared by TestReports and FuzzReports.
var reportCases = []struct {
	name   string
	action string
	fields map[string]any
	reason string // "" = accepted
}{
	{"pusher state", "report_pusher_state", map[string]any{"events": []any{
		map[string]any{"code": 1001, "message": "connected", "ts": 1795633765000},
		map[string]any{"code": 1002, "message": "push started", "ts": 1795633765100}}}, ""},
	{"player state", "report_player_state", map[string]any{"events": []any{
		map[string]any{"uid": 7, "code": 2004, "message": "playing", "ts": 1795633765000}}}, ""},
	{"pusher net", "report_pusher_net", map[string]any{"stats": []any{
		map[string]any{"ts": 1795633765000, "videoBitrate": 500, "audioBitrate": 48, "netJitter": 1.5, "bogus": "x"}}}, ""},
	{"player net", "report_player_net", map[string]any{"stats": []any{
		map[string]any{"uid": 7, "ts": 1795633765000, "videoFPS": 15},
		map[string]any{"uid": "8", "ts": 1795633765000, "videoFPS": 20}}}, ""},
	{"fatal pusher state", "report_pusher_state", map[string]any{"events": []any{
		map[string]any{"code": 1101, "message": "uplink busy"},
		map[string]any{"code": -1307, "message": "network disconnected"},
		map[string]any{"code": 3005, "message": "rtmp io"}}}, ""},
	{"at the limits", "report_pusher_state", map[string]any{"events": events(maxReportItems,
		map[string]any{"code": -2147483648, "message": strings.Repeat("é", maxReportMessageBytes/2)})}, ""},
	{"message null", "report_pusher_state", map[string]any{"events": []any{map[string]any{"code": 0, "message": nil}}}, ""},

	{"events missing", "report_pusher_state", map[string]any{}, `bad request: field "events" is missing`},
	{"events not array", "report_pusher_state", map[string]any{"events": "x"}, `bad request: field "events" must be an array of objects`},
	{"events empty", "report_player_state", map[string]any{"events": []any{}}, `bad request: field "events" has 0 entries, want 1..32`},
	{"too many events", "report_pusher_state", map[string]any{"events": events(maxReportItems+1, map[string]any{"code": 1})}, `bad request: field "events" has 33 entries`},
	{"event not object", "report_pusher_state", map[string]any{"events": []any{5}}, `bad request: field "events[0]" must be an object`},
	{"code missing", "report_pusher_state", map[string]any{"events": []any{map[string]any{"message": "m"}}}, `bad request: field "events[0].code" is missing`},
	{"code string", "report_pusher_state", map[string]any{"events": []any{map[string]any{"code": "1002"}}}, `bad request: field "events[0].code" must be a number`},
	{"code fraction", "report_pusher_state", map[string]any{"events": []any{map[string]any{"code": 1.5}}}, `bad request: field "events[0].code" must be an integer`},
	{"code too big", "report_pusher_state", map[string]any{"events": []any{map[string]any{"code": 1 << 31}}}, `bad request: field "events[0].code" must be an integer`},
	{"message not string", "report_pusher_state", map[string]any{"events": []any{map[string]any{"code": 1, "message": 5}}}, `bad request: field "events[0].message" must be a string`},
	{"message too long", "report_pusher_state", map[string]any{"events": []any{map[string]any{"code": 1, "message": strings.Repeat("x", maxReportMessageBytes+1)}}}, `bad request: field "events[0].message" is 1025 bytes`},
	{"ts negative", "report_pusher_state", map[string]any{"events": []any{map[string]any{"code": 1, "ts": -1}}}, `bad request: field "events[0].ts" must be an integer`},
	{"player uid missing", "report_player_state", map[string]any{"events": []any{map[string]any{"code": 2004}}}, `bad request: field "events[0].uid" is missing`},
	{"player uid zero", "report_player_state", map[string]any{"events": []any{map[string]any{"uid": 0, "code": 2004}}}, `bad request: field "events[0].uid" must be a uid`},
	{"player uid NaN", "report_player_net", map[string]any{"stats": []any{map[string]any{"uid": "abc"}}}, `bad request: field "stats[0].uid" must be a uid`},
	{"stats missing", "report_pusher_net", map[string]any{"events": []any{}}, `bad request: field "stats" is missing`},
	{"stat not number", "report_pusher_net", map[string]any{"stats": []any{map[string]any{"videoBitrate": "500"}}}, `bad request: field "stats[0].videoBitrate" must be a number`},
	{"stat bool", "report_player_net", map[string]any{"stats": []any{map[string]any{"uid": 7, "netSpeed": true}}}, `bad request: field "stats[0].netSpeed" must be a number`},
	{"too many stats", "report_player_net", map[string]any{"stats": events(maxReportItems+1, map[string]any{"uid": 7})}, `bad request: field "stats" has 33 entries`},
	{"too many fields", "report_pusher_net", map[string]any{"stats": []any{manyFields(maxReportFields + 1)}}, `bad request: stats[0] has 65 fields, at most 64`},
}

func manyFields(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprint("f", i)] = i
	}
	return m
}

func TestReports(t *testing.T) {
	e := newEnv(t, nil)
	var (
		repMu   sync.Mutex
		reports []channel.Event
	)
	stop := e.mgr.Observe(func(ev channel.Event) {
		if ev.Kind == channel.EventClientError {
			repMu.Lock()
			reports = append(reports, ev)
			repMu.Unlock()
		}
	})
	defer stop()
	c := e.dial()
	c.join("1001", "broadcaster")
	for _, tc := range reportCases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			defer func() { c.t = e.t }()
			if tc.reason != "" {
				c.fail(tc.action, tc.fields, "430", tc.reason)
				return
			}
			r := c.ok(tc.action, tc.fields)
			if _, ok := r.m["serverResponse"]; ok {
				t.Fatalf("an ack carries no serverResponse: %s", r)
			}
		})
	}
	r, ok := e.diag.Recent(e.app.ID, "room", 1001)
	if !ok {
		t.Fatal("nothing stored")
	}
	var codes []int
	for _, ev := range r.PusherStates {
		codes = append(codes, ev.Code)
		if ev.Session == "" || ev.SID != "0123456789ABCDEF0123456789ABCDEF" || ev.Received.IsZero() {
			t.Fatalf("event without its origin: %+v", ev)
		}
	}
	// 2 + 3 + 32 + 1 accepted pusher events; the ring keeps the newest 32.
	if len(codes) != diag.DefaultMaxEvents || codes[len(codes)-1] != 0 || codes[0] != -2147483648 {
		t.Fatalf("pusher states %v", codes)
	}
	if len(r.PlayerStates) != 1 || r.PlayerStates[0].Target != 7 || r.PlayerStates[0].Code != 2004 || r.PlayerStates[0].Message != "playing" {
		t.Fatalf("player states %+v", r.PlayerStates)
	}
	if len(r.PusherNet) != 1 || r.PusherNet[0].ClientTS != 1795633765000 {
		t.Fatalf("pusher net %+v", r.PusherNet)
	}
	if b, _ := json.Marshal(r.PusherNet[0].Stats); string(b) != `{"videoBitrate":500,"audioBitrate":48,"netJitter":1.5}` {
		t.Fatalf("pusher stats %s", b)
	}
	var players []string
	for _, s := range r.PlayerNet {
		v, _ := s.Stats.Get("videoFPS")
		players = append(players, fmt.Sprint(s.Target, ":", v))
	}
	if !slices.Equal(players, []string{"7:15", "8:20"}) {
		t.Fatalf("player net %v", players)
	}
	// One info line for the batch holding failures, naming the member and the first failure.
	got := e.infos.records()
	if len(got) != 2 || !strings.HasPrefix(got[0], "INFO pusher failure reported app="+e.app.ID+" channel=room uid=1001 code=-1307 message=network disconnected failures=2") {
		t.Fatalf("failure log %q", got)
	}
	// The same batches reach observers (webhook 1007), one event each.
	repMu.Lock()
	defer repMu.Unlock()
	if len(reports) != len(got) || reports[0].UID != 1001 || reports[0].Report != (channel.ClientReport{Component: "pusher", Code: -1307, Message: "network disconnected"}) {
		t.Fatalf("client error events %+v", reports)
	}
}

func TestReportsNeedAJoin(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial()
	ok := map[string]any{"events": []any{map[string]any{"code": 1002}}}
	c.fail("report_pusher_state", ok, "430", `bad request: "report_pusher_state" before join`)
	c.join("1002", "audience")
	c.ok("report_pusher_state", ok)
	c.ok("leave", nil)
	c.fail("report_pusher_state", ok, "430", `bad request: "report_pusher_state" before join`)
	if r, _ := e.diag.Recent(e.app.ID, "room", 1002); len(r.PusherStates) != 1 {
		t.Fatalf("%+v", r)
	}
}

// Without a diagnostics store the actions are unknown, which makes the SDK
// stop sending them (reporter.js).
func TestReportsWithoutDiagnostics(t *testing.T) {
	e := newEnv(t, nil)
	e.gw.SetDiagnostics(nil)
	c := e.dial()
	c.join("1003", "broadcaster")
	for _, a := range []string{"report_pusher_state", "report_player_state", "report_pusher_net", "report_player_net"} {
		c.fail(a, map[string]any{"events": []any{}}, "430", fmt.Sprintf(`bad request: unknown action %q`, a))
	}
}

// Reports share the connection's request budget.
func TestReportsAreRateLimited(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *store.App) { c.RateLimit, c.RateBurst = 0.001, 4 })
	c := e.dial()
	c.join("1004", "broadcaster") // 1 of 4
	st := map[string]any{"stats": []any{map[string]any{"videoBitrate": 1}}}
	c.ok("report_pusher_net", st)
	c.ok("report_pusher_net", st)
	c.ok("report_pusher_net", st)
	c.fail("report_pusher_net", st, "429", "too many requests")
	if r, _ := e.diag.Recent(e.app.ID, "room", 1004); len(r.PusherNet) != 3 {
		t.Fatalf("%d samples stored", len(r.PusherNet))
	}
}

// FuzzReports: any frame decodes into bounded, well-formed reports or a 430.
func FuzzReports(f *testing.F) {
	for _, tc := range reportCases {
		b, _ := json.Marshal(map[string]any{"requestId": 5, "sid": "S", "clientRequest": mergeAction(tc.action, tc.fields)})
		f.Add(b)
	}
	f.Add([]byte(`{"clientRequest":{"action":"report_player_net","stats":[{"uid":1e3,"videoFPS":1e400}]}}`))
	f.Add([]byte(`{"clientRequest":{"action":"report_pusher_state","events":[{"code":-0,"ts":9007199254740993}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := decodeRequest(data)
		if err != nil {
			return
		}
		for _, k := range []diag.Kind{diag.Pusher, diag.Player} {
			evs, err := decodeStateReport(req, k)
			if err == nil {
				if len(evs) == 0 || len(evs) > maxReportItems {
					t.Fatalf("%d events", len(evs))
				}
				for _, ev := range evs {
					if len(ev.Message) > maxReportMessageBytes || (k == diag.Player) != (ev.Target != 0) || ev.ClientTS < 0 {
						t.Fatalf("event %+v", ev)
					}
				}
			}
			ss, err := decodeNetReport(req, k)
			if err == nil {
				if len(ss) == 0 || len(ss) > maxReportItems {
					t.Fatalf("%d samples", len(ss))
				}
				for _, s := range ss {
					if _, err := json.Marshal(s); err != nil || (k == diag.Player) != (s.Target != 0) {
						t.Fatalf("sample %+v: %v", s, err)
					}
				}
			}
		}
	})
}

func mergeAction(action string, fields map[string]any) map[string]any {
	m := map[string]any{"action": action}
	for k, v := range fields {
		m[k] = v
	}
	return m
}
