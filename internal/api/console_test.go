package api

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/diag"
	"github.com/minirtc/minirtc/internal/store"
)

// consoleFixture is an API with the console endpoints over a real channel
// model (running), a real diagnostics store and an event log.
type consoleFixture struct {
	*fixture
	chans  *channel.Manager
	diag   *diag.Store
	events *EventLog
}

type nopEP struct{}

func (nopEP) Notify(channel.Event) {}

func newConsoleFixture(t *testing.T) *consoleFixture {
	t.Helper()
	f := &fixture{t: t, st: store.NewMemory(), log: &syncBuf{}, fm: &fakeMedia{}}
	app, _ := store.NewApp("demo", time.Unix(1700000000, 0))
	f.app = app
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := f.st.PutApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	k, secret, _ := store.NewAPIKey("test", time.Now())
	f.st.PutAPIKey(ctx, k)
	f.keyID, f.secret = k.ID, secret
	log := slog.New(slog.NewTextHandler(f.log, nil))
	chans := channel.NewManager(channel.Config{}, log)
	go chans.Run(ctx)
	d, err := diag.New(diag.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	events := NewEventLog(0, 0)
	stop := chans.Observe(events.Record)
	t.Cleanup(stop)
	srv, err := New(Config{RequestsPerSecond: 1000}, Deps{Store: f.st, Channels: chans, Media: f.fm, Diagnostics: d}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.EnableConsole(ConsoleDeps{Events: events, Kicker: chans, Diagnostics: d, Tick: 50 * time.Millisecond,
		Node: func() NodeOverview { return NodeOverview{Version: "test", CPUSeconds: 1} }}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	t.Cleanup(events.Close) // before ts.Close (cleanups run last first): ends live streams
	f.url = ts.URL
	return &consoleFixture{fixture: f, chans: chans, diag: d, events: events}
}

func (c *consoleFixture) join(uid uint32, publish bool) {
	c.t.Helper()
	ref := channel.Ref{App: c.app.ID, Channel: "room", UID: uid, Endpoint: nopEP{}}
	if _, err := c.chans.Join(channel.JoinRequest{App: c.app.ID, Channel: "room", UID: uid, Role: channel.RoleBroadcaster, Endpoint: ref.Endpoint}); err != nil {
		c.t.Fatal(err)
	}
	if publish {
		if _, _, err := c.chans.Publish(ref, "rtmp"); err != nil {
			c.t.Fatal(err)
		}
	}
}

// waitEvents waits until the event log has n events of uid (the Manager
// delivers them on its own goroutine).
func (c *consoleFixture) waitEvents(uid uint32, n int) {
	c.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(c.events.Member(c.app.ID, "room", uid)) < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			c.t.Fatalf("uid %d: %d events, want %d", uid, len(c.events.Member(c.app.ID, "room", uid)), n)
		}
	}
}

// TestConsoleTimeline: a member's timeline merges its channel events
// (join, publish) and its pusher's state codes with their meaning in words
// (a fatal code with its fix), and carries its network reports for the
// chart; a member who left still has its recorded timeline.
func TestConsoleTimeline(t *testing.T) {
	c := newConsoleFixture(t)
	c.join(6, true)
	c.waitEvents(6, 2)
	m := diag.Member{App: c.app.ID, Channel: "room", UID: 6}
	now := time.Now()
	c.diag.AddStates(m, diag.Pusher, diag.StateEvent{Received: now, Code: 1001}, diag.StateEvent{Received: now, Code: 1002, Message: "Push started"},
		diag.StateEvent{Received: now, Code: -1307, Message: "network lost"}, diag.StateEvent{Received: now, Code: 4242})
	var ns diag.NetStats
	ns.Set("videoBitrate", 700)
	ns.Set("netQualityLevel", 2)
	c.diag.AddNet(m, diag.Pusher, diag.NetSample{Received: now, Stats: ns})
	c.diag.AddStates(m, diag.Player, diag.StateEvent{Received: now, Code: 2004, Target: 7})

	path := "/v1/apps/" + c.app.ID + "/channels/room/members/6/timeline"
	code, b := c.get(path)
	if code != 200 {
		t.Fatalf("timeline: %d %s", code, b)
	}
	var tl Timeline
	if err := json.Unmarshal(b, &tl); err != nil {
		t.Fatal(err)
	}
	find := func(source, kind string, code int) *TimelineItem {
		for i, it := range tl.Items {
			if it.Source == source && it.Kind == kind && it.Code == code {
				return &tl.Items[i]
			}
		}
		t.Fatalf("no %s %s %d in %+v", source, kind, code, tl.Items)
		return nil
	}
	if it := find("pusher", "state", 1002); !strings.Contains(it.Meaning, "push started") || it.Message != "Push started" || it.Severity != "info" {
		t.Errorf("1002: %+v", it)
	}
	if it := find("pusher", "state", -1307); it.Severity != "error" || !strings.Contains(it.Fix, "new URL") {
		t.Errorf("-1307: %+v", it)
	}
	if it := find("pusher", "state", 4242); it.Meaning != "unknown code" {
		t.Errorf("4242: %+v", it)
	}
	if it := find("player", "state", 2004); it.Target != 7 || !strings.Contains(it.Meaning, "playing") {
		t.Errorf("2004: %+v", it)
	}
	find("channel", "member-joined", 0)
	find("channel", "stream-started", 0)
	if tl.Member == nil || !tl.Member.Publishing || len(tl.PusherNet) != 1 || tl.PusherNet[0].Stats.Len() != 2 {
		t.Errorf("member %+v, pusher net %+v", tl.Member, tl.PusherNet)
	}

	// After a kick the timeline is still there, with the kick and the leave.
	if err := c.chans.Kick(c.app.ID, "room", 6, "test"); err != nil {
		t.Fatal(err)
	}
	c.waitEvents(6, 5)
	code, b = c.get(path)
	tl = Timeline{}
	json.Unmarshal(b, &tl)
	if code != 200 || tl.Member != nil {
		t.Fatalf("after the kick: %d member %+v", code, tl.Member)
	}
	if it := find("channel", "member-left", 0); !strings.Contains(it.Meaning, "kicked") {
		t.Errorf("member-left: %+v", it)
	}
	for _, bad := range []string{"/v1/apps/nope/channels/room/members/6/timeline", "/v1/apps/" + c.app.ID + "/channels/room/members/0/timeline"} {
		if code, b := c.get(bad); code != 404 && code != 400 {
			t.Errorf("%s: %d %s", bad, code, b)
		}
	}
}

// TestDiagnose: each of the FAQ's classic failures gives its hint, and a
// healthy member none.
func TestDiagnose(t *testing.T) {
	now := time.Now()
	pub := &Member{Publishing: true}
	published := []ChannelEvent{{Kind: "member-joined", At: now.Add(-time.Minute)}, {Kind: "stream-started", At: now.Add(-30 * time.Second)}}
	states := func(codes ...int) diag.Report {
		var r diag.Report
		for _, c := range codes {
			r.PusherStates = append(r.PusherStates, diag.StateEvent{Code: c})
		}
		return r
	}
	net := func(q ...float64) diag.Report {
		var r diag.Report
		for _, v := range q {
			var s diag.NetStats
			s.Set("netQualityLevel", v)
			r.PusherNet = append(r.PusherNet, diag.NetSample{Stats: s})
		}
		return r
	}
	joins := []ChannelEvent{{Kind: "member-joined", At: now.Add(-4 * time.Minute)}, {Kind: "member-joined", At: now.Add(-2 * time.Minute)},
		{Kind: "member-joined", At: now.Add(-time.Second)}}
	live := &Stream{Live: true, Video: &Track{Codec: "h264"}}
	for _, tc := range []struct {
		name     string
		m        *Member
		st       *Stream
		events   []ChannelEvent
		rep      diag.Report
		want     string
		tokenExp time.Time
	}{
		{"healthy", pub, live, published, states(1001, 1002), "", time.Time{}},
		{"no 1002 after publish", pub, nil, published, states(1001), "no-media", time.Time{}},
		{"no report at all after publish", pub, nil, published, diag.Report{}, "no-media", time.Time{}},
		{"just published", pub, nil, []ChannelEvent{{Kind: "stream-started", At: now.Add(-2 * time.Second)}}, diag.Report{}, "", time.Time{}},
		{"1002 reached, media not yet", pub, nil, published, states(1002), "", time.Time{}},
		{"browser without video (VP8 offered)", &Member{Publishing: true, Client: Client{Kind: "whip"}}, &Stream{Live: true, Audio: &Track{Codec: "opus"}}, published, diag.Report{}, "vp8", time.Time{}},
		{"rejoin loop", pub, live, joins, states(1002), "background", time.Time{}},
		{"two old joins are no loop", pub, live, joins[:1], states(1002), "", time.Time{}},
		{"suspended pusher", pub, live, published, states(1002, 5000), "background", time.Time{}},
		{"bad network", pub, live, published, net(5, 4, 5), "high-loss", time.Time{}},
		{"one bad sample", pub, live, published, net(1, 1, 5), "", time.Time{}},
		{"token ends in 2 minutes", pub, live, published, states(1002), "token-expiring", now.Add(2 * time.Minute)},
		{"token ends in an hour", pub, live, published, states(1002), "", now.Add(time.Hour)},
		{"token of a member that left", nil, nil, published, diag.Report{}, "", now.Add(time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hints := diagnose(now, tc.m, tc.st, tc.events, tc.rep, tc.tokenExp)
			var ids []string
			for _, h := range hints {
				ids = append(ids, h.ID)
				if h.Title == "" || len(h.Text) < 40 {
					t.Errorf("hint %+v says too little", h)
				}
			}
			if got := strings.Join(ids, ","); got != tc.want {
				t.Errorf("hints %q, want %q", got, tc.want)
			}
		})
	}
}

// TestConsoleKick: a kick removes the member (404 when it is not there), a
// kick with banSeconds also refuses its joins, bad bodies are 400.
func TestConsoleKick(t *testing.T) {
	c := newConsoleFixture(t)
	c.join(6, true)
	path := "/v1/apps/" + c.app.ID + "/channels/room/members/6/kick"
	post := func(body string) (int, string) {
		resp, b := c.do(http.MethodPost, path, c.keyID, c.secret, body)
		return resp.StatusCode, string(b)
	}
	if code, b := post(""); code != 200 || !strings.Contains(b, `"kicked":true`) {
		t.Fatalf("kick: %d %s", code, b)
	}
	if _, ok := c.chans.Member(c.app.ID, "room", 6); ok {
		t.Fatal("still a member after the kick")
	}
	if code, b := post(""); code != 404 {
		t.Errorf("kick of a member that is not there: %d %s", code, b)
	}
	for _, body := range []string{`{"banSeconds":-1}`, `{"banSeconds":99999999999}`, `{"bogus":1}`, `[`, `{"reason":"` + strings.Repeat("x", 201) + `"}`} {
		if code, b := post(body); code != 400 {
			t.Errorf("body %.40s: %d %s", body, code, b)
		}
	}
	c.join(6, false)
	if code, b := post(`{"banSeconds":60,"reason":"spam"}`); code != 200 || !strings.Contains(b, "bannedUntil") {
		t.Fatalf("kick with ban: %d %s", code, b)
	}
	if !c.chans.Banned(c.app.ID, "room", 6) || c.chans.Banned(c.app.ID, "room", 7) {
		t.Error("the ban does not match exactly uid 6 of the channel")
	}
	// The ban is stored as a banning rule: it survives a restart and is
	// listed with the /dev/v1/kicking-rule ones.
	rules, err := c.st.KickingRules(context.Background())
	if err != nil || len(rules) != 1 || rules[0].UID != 6 || rules[0].Channel != "room" {
		t.Errorf("stored rules %+v, %v; want one for uid 6 in room", rules, err)
	}
	if _, err := c.chans.Join(channel.JoinRequest{App: c.app.ID, Channel: "room", UID: 6, Role: channel.RoleBroadcaster, Endpoint: nopEP{}}); err == nil {
		t.Error("a banned uid joined again")
	}
	if resp, _ := c.do(http.MethodPost, path, "", "", ""); resp.StatusCode != 401 {
		t.Errorf("kick without a key: %d", resp.StatusCode)
	}
}

// TestConsoleLogs: a member's uploads are listed (not another member's), and
// read back as text, as an attachment with ?download=1; names that are not
// uploads are 404.
func TestConsoleLogs(t *testing.T) {
	c := newConsoleFixture(t)
	for _, uid := range []uint32{6, 7} {
		if _, err := c.diag.WriteLog(diag.Upload{App: c.app.ID, Channel: "room", UID: uid, Lines: []string{"line of uid", "n " + string(rune('0'+uid))}}); err != nil {
			t.Fatal(err)
		}
	}
	code, b := c.get("/v1/apps/" + c.app.ID + "/channels/room/members/6/logs")
	var l list[diag.LogFile]
	json.Unmarshal(b, &l)
	if code != 200 || len(l.Items) != 1 || l.Items[0].UID != 6 {
		t.Fatalf("logs of uid 6: %d %s", code, b)
	}
	f := l.Items[0]
	logPath := "/v1/apps/" + c.app.ID + "/logs/" + f.Day + "/" + f.Name
	resp, body := c.do(http.MethodGet, logPath, c.keyID, c.secret, "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "n 6") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		resp.Header.Get("Content-Disposition") != "" {
		t.Fatalf("read: %d %q %s", resp.StatusCode, resp.Header, body)
	}
	resp, _ = c.do(http.MethodGet, logPath+"?download=1", c.keyID, c.secret, "")
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+f.Name+`"` {
		t.Errorf("download: Content-Disposition %q", cd)
	}
	for _, bad := range []string{"/logs/" + f.Day + "/..%2F..%2Fetc", "/logs/" + f.Day + "/x.log", "/logs/1999-01-01/" + f.Name, "/logs/today/" + f.Name} {
		if code, b := c.get("/v1/apps/" + c.app.ID + bad); code != 404 {
			t.Errorf("%s: %d %s", bad, code, b)
		}
	}
	if code, _ := c.get("/v1/apps/someoneelse/logs/" + f.Day + "/" + f.Name); code != 404 {
		t.Errorf("another app id: %d", code)
	}
}

// TestConsoleEvents: GET /v1/events streams channel events as server-sent
// events (filtered by ?appId=) and ticks; it ends when the event log closes;
// without a key it is 401, and a script that says so (X-Requested-With)
// gets no WWW-Authenticate (no browser password prompt).
func TestConsoleEvents(t *testing.T) {
	c := newConsoleFixture(t)
	open := func(query string) (*http.Response, *bufio.Reader) {
		req, _ := http.NewRequest(http.MethodGet, c.url+"/v1/events"+query, nil)
		req.SetBasicAuth(c.keyID, c.secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("events: %d %q", resp.StatusCode, resp.Header)
		}
		return resp, bufio.NewReader(resp.Body)
	}
	next := func(r *bufio.Reader) (string, string) {
		var kind, data string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "eof", ""
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				kind = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case line == "":
				return kind, data
			}
		}
	}
	_, all := open("")
	_, other := open("?appId=another")
	for _, r := range []*bufio.Reader{all, other} {
		if k, _ := next(r); k != "hello" {
			t.Fatalf("first event %q", k)
		}
	}
	c.join(6, false)
	for {
		k, data := next(all)
		if k == "tick" || strings.Contains(data, `"channel-created"`) {
			continue
		}
		var ev ChannelEvent
		json.Unmarshal([]byte(data), &ev)
		if k != "channel" || ev.Kind != "member-joined" || ev.AppID != c.app.ID || ev.UID != 6 {
			t.Fatalf("got %s %s", k, data)
		}
		break
	}
	for i := 0; i < 3; i++ {
		if k, data := next(other); k != "tick" {
			t.Fatalf("the stream filtered to another app got %s %s", k, data)
		}
	}
	c.events.Close()
	for {
		if k, _ := next(all); k == "eof" {
			break
		}
	}

	for _, tc := range []struct {
		script bool
		want   string
	}{{false, `Basic realm="minirtc", charset="UTF-8"`}, {true, ""}} {
		req, _ := http.NewRequest(http.MethodGet, c.url+"/v1/events", nil)
		req.SetBasicAuth(c.keyID, "wrong")
		if tc.script {
			req.Header.Set("X-Requested-With", "minirtc-console")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != tc.want {
			t.Errorf("script %v: %d WWW-Authenticate %q", tc.script, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// TestConsoleNode: the node figures, with CPU use from the second call on.
func TestConsoleNode(t *testing.T) {
	c := newConsoleFixture(t)
	code, b := c.get("/v1/node")
	var o NodeOverview
	json.Unmarshal(b, &o)
	if code != 200 || o.Version != "test" || o.CPUSeconds != 1 {
		t.Fatalf("node: %d %s", code, b)
	}
	if code, b := c.get("/v1/state-codes"); code != 200 || !strings.Contains(string(b), "push started") || !strings.Contains(string(b), "-2301") {
		t.Errorf("state codes: %d %.200s", code, b)
	}
}

// TestEventLogBounds: per-member rings keep the newest events, the member
// count is bounded (the stalest goes), and a full subscriber misses events
// without blocking Record and then gets "resync".
func TestEventLogBounds(t *testing.T) {
	l := NewEventLog(3, 2)
	at := time.Unix(1700000000, 0)
	ev := func(uid uint32, kind channel.EventKind, s int) channel.Event {
		return channel.Event{Kind: kind, App: "a", Channel: "c", UID: uid, At: at.Add(time.Duration(s) * time.Second)}
	}
	for i := range 5 {
		l.Record(ev(1, channel.EventMuteChanged, i))
	}
	if got := l.Member("a", "c", 1); len(got) != 3 || !got[0].At.Equal(at.Add(2*time.Second)) {
		t.Fatalf("ring: %+v", got)
	}
	l.Record(ev(2, channel.EventMemberJoined, 10))
	l.Record(ev(3, channel.EventMemberJoined, 11)) // evicts uid 1 (oldest last event)
	if len(l.Member("a", "c", 1)) != 0 || len(l.Member("a", "c", 2)) != 1 || len(l.Member("a", "c", 3)) != 1 {
		t.Fatal("the stalest member was not the one forgotten")
	}
	ch, cancel := l.Subscribe()
	defer cancel()
	for i := range subscriberBuffer + 10 {
		l.Record(ev(3, channel.EventMuteChanged, 20+i)) // must not block
	}
	for range subscriberBuffer {
		<-ch
	}
	l.Record(ev(3, channel.EventMemberLeft, 999))
	if got := <-ch; got.Kind != "resync" {
		t.Fatalf("after missing events: %+v", got)
	}
	if got := <-ch; got.Kind != "member-left" {
		t.Fatalf("then: %+v", got)
	}
	l.Close()
	if _, ok := <-ch; ok {
		t.Fatal("Close did not end the subscription")
	}
	cancel() // after Close: no panic
}
