package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"

	"github.com/minirtc/minirtc/internal/api"
	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/token"
)

// TestConsole drives the web console (/console/, docs/console.md) in
// headless Chromium against a node with a mini program member publishing
// over RTMP (ffmpeg): sign in with an API key, see the app and the live
// channel with the member publishing H.264 (a second member joining shows up
// without reload: the live event stream), open the member's page and find
// its pusher state events in words and the network chart, view the SDK log
// the member uploaded, kick the member with a ban and see its media stop
// (the stream leaves the hub and ffmpeg's push ends), and open the node
// page. Every page is screenshotted into $MINIRTC_ARTIFACTS (or a temporary
// folder, logged). No resource of the console comes from another origin.
// The whole test runs in a network namespace with only loopback.
func TestConsole(t *testing.T) {
	inLoopbackNetns(t, "TestConsole", 4*time.Minute, "console:", consoleTest)
}

// call sends one CDP command and decodes its result into out (when not nil).
func (d *devtools) call(ctx context.Context, method string, params map[string]any, out any) error {
	d.id++
	id := d.id
	if err := wsjson.Write(ctx, d.conn, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return fmt.Errorf("CDP write: %w", err)
	}
	for {
		var resp struct {
			ID     int                       `json:"id"`
			Result json.RawMessage           `json:"result"`
			Error  *struct{ Message string } `json:"error"`
		}
		if err := wsjson.Read(ctx, d.conn, &resp); err != nil {
			return fmt.Errorf("CDP read: %w", err)
		}
		if resp.ID != id {
			continue
		}
		if resp.Error != nil {
			return fmt.Errorf("CDP %s: %s", method, resp.Error.Message)
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(resp.Result, out)
	}
}

func consoleTest(t *testing.T) {
	const keyID, keySecret = "operator", "console-test-secret"
	e := newNodeEnv(t, func(c *config.Config) {
		c.API.Key = keyID + ":" + keySecret
		c.API.RequestsPerSecond = 50
	})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	art := os.Getenv("MINIRTC_ARTIFACTS")
	if art == "" {
		art = t.TempDir()
	}
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console: screenshots in %s", art)
	const uid = 6

	// A mini program joins (asking for a log ticket), publishes and pushes
	// with ffmpeg; its SDK reports pusher states and network samples and
	// uploads its log.
	mp := dialMiniProgram(ctx, t, "ws://"+e.n.HTTPAddr()+"/api")
	defer mp.close()
	// A token that ends in 5 minutes: the member page warns about it.
	tok, _ := e.shortToken(fmt.Sprint(uid), token.RolePublisher, 300)
	joined := mp.request("join", map[string]any{"role": "broadcaster", "appId": e.app.ID, "key_vos": tok, "key_vocs": tok,
		"channel_name": "room", "uid": fmt.Sprint(uid), "uidType": 0, "clientType": "wechat", "audio_only": false, "logTicket": true})
	ticket, _ := joined["logTicket"].(string)
	if ticket == "" {
		t.Fatalf("join gave no log ticket: %v", joined)
	}
	pushURL := mp.request("publish", map[string]any{"uid": uid})["url"].(string)
	push := pushCmd(ctx, t, pushURL, 150)
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	pushDone := make(chan error, 1)
	go func() { pushDone <- push.Wait() }()
	defer func() {
		cancel()
		<-pushDone
	}()
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, fmt.Sprint(uid)))
	now := time.Now().UnixMilli()
	mp.request("report_pusher_state", map[string]any{"events": []map[string]any{
		{"code": 1001, "message": "Already connected to push server", "ts": now},
		{"code": 1008, "message": "encoder started", "ts": now},
		{"code": 1002, "message": "Push started", "ts": now}}})
	for i, q := range []int{1, 2, 1} {
		mp.request("report_pusher_net", map[string]any{"stats": []map[string]any{{"ts": now + int64(i)*1000,
			"videoBitrate": 700 + 50*i, "audioBitrate": 48, "videoFPS": 15, "netQualityLevel": q, "videoWidth": 320, "videoHeight": 240}}})
		time.Sleep(300 * time.Millisecond)
	}
	const logMarker = "console-test log line: pusher state 1002"
	upload, _ := json.Marshal(map[string]any{"appId": e.app.ID, "channel": "room", "uid": uid, "sid": "sdk-session-1",
		"sdkVersion": "1.1.0", "clientType": "wechat", "device": "iPhone 15", "os": "iOS 18", "ts": now, "ticket": ticket,
		"lines": []string{"[info] join ok", "[info] " + logMarker, "[warn] netQualityLevel 2"}})
	resp, err := http.Post("http://"+e.n.HTTPAddr()+"/api/v1/logs", "application/json", bytes.NewReader(upload))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("log upload: HTTP %d", resp.StatusCode)
	}

	// The console.
	origin := "http://" + e.n.HTTPAddr()
	page, _ := openChromium(ctx, t, origin+"/console/", "/console/")
	if err := page.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 1000,
		"deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		t.Fatal(err)
	}
	// waitFor polls a page expression that returns a string ("" = not yet).
	waitFor := func(what, expr string) string {
		t.Helper()
		for {
			var got string
			err := page.eval(ctx, "JSON.stringify((function(){ try { return "+expr+" || '' } catch (e) { return '' } })())", &got)
			if err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			if got != "" {
				return got
			}
			select {
			case <-ctx.Done():
				var body string
				dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = page.eval(dctx, "JSON.stringify(document.body.innerText)", &body)
				dcancel()
				t.Fatalf("timed out waiting for %s; the page shows:\n%s", what, body)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	run := func(js string) {
		t.Helper()
		if err := page.eval(ctx, "(function(){ "+js+" })(), true", nil); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
	}
	shot := func(name string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // let the last render paint
		// Basic accessibility: every control has a label or text, and is
		// reachable with the keyboard (no negative tabindex).
		var unlabeled []string
		if err := page.eval(ctx, `JSON.stringify([...document.querySelectorAll('input, select, button, a[href]')]
			.filter(el => el.offsetParent !== null)
			.filter(el => el.tabIndex < 0 || ((el.tagName === 'INPUT' || el.tagName === 'SELECT') ? el.labels.length === 0 : !(el.textContent.trim() || el.getAttribute('aria-label'))))
			.map(el => el.outerHTML.slice(0, 80)))`, &unlabeled); err != nil {
			t.Fatal(err)
		}
		if len(unlabeled) > 0 {
			t.Errorf("page %s: controls without a label or not reachable by keyboard: %q", name, unlabeled)
		}
		var res struct {
			Data string `json:"data"`
		}
		if err := page.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &res); err != nil {
			t.Fatal(err)
		}
		b, err := base64.StdEncoding.DecodeString(res.Data)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(art, name+".png")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("console: screenshot %s (%d bytes)", p, len(b))
	}

	// Sign in: a wrong secret is refused, the right one shows the apps.
	waitFor("the sign-in form", "!document.getElementById('signin-view').hidden && 'ok'")
	shot("signin")
	signIn := func(secret string) {
		run(fmt.Sprintf(`document.getElementById('key-id').value = %q; document.getElementById('key-secret').value = %q;
			document.getElementById('signin').requestSubmit()`, keyID, secret))
	}
	signIn("wrong")
	waitFor("the refusal", "document.getElementById('signin-error').textContent")
	signIn(keySecret)
	waitFor("the apps page with the app", fmt.Sprintf("document.querySelector('a[href=\"#/apps/%s\"]') && 'ok'", e.app.ID))
	var stored string
	if err := page.eval(ctx, "JSON.stringify(localStorage.length + ':' + (sessionStorage.getItem('minirtc.auth') ? 'session' : ''))", &stored); err != nil || stored != "0:session" {
		t.Errorf("the key should be in sessionStorage only: %q %v", stored, err)
	}
	shot("apps")

	// The app page lists the live channel and the webhook endpoints: one is
	// added and gets a test event. Without webhooks on this node (another
	// branch adds them) a stand-in of their documented API answers.
	tested := fakeWebhooksIfMissing(t, e, keyID, keySecret)
	run(fmt.Sprintf("location.hash = '#/apps/%s'", e.app.ID))
	waitFor("the live channel", fmt.Sprintf("document.querySelector('a[href=\"#/apps/%s/channels/room\"]') && 'ok'", e.app.ID))
	waitFor("the webhook section", "document.getElementById('add-webhook') && 'ok'")
	run("document.getElementById('hook-url').value = 'http://127.0.0.1:9/minirtc-hook'; document.getElementById('add-webhook').requestSubmit()")
	waitFor("the new endpoint and its secret", "document.querySelector('button[data-test-webhook]') && /shown once/.test(document.getElementById('webhooks').innerText) && 'ok'")
	run("document.querySelector('button[data-test-webhook]').click()")
	waitFor("the test event's confirmation", "/Test event sent$/.test(document.getElementById('status').textContent) && 'ok'")
	t.Logf("console: webhook section driven against the node's real webhooks API: %v", tested == nil)
	if tested != nil && tested() != 1 {
		t.Errorf("the stand-in webhook API got %d test calls, want 1", tested())
	}
	shot("app")
	run(fmt.Sprintf("location.hash = '#/apps/%s/channels/room'", e.app.ID))
	row := waitFor("the publishing member", fmt.Sprintf("(r => r && /publishing/.test(r.innerText) && r.innerText)(document.querySelector('tr[data-uid=\"%d\"]'))", uid))
	stream := waitFor("the member's H.264 stream with its readers", fmt.Sprintf("(r => r && /h264 320×240/.test(r.innerText) && /live/.test(r.innerText) && r.innerText)(document.querySelector('tr[data-stream=\"%d\"]'))", uid))
	t.Logf("console: member row %q, stream row %q", row, stream)
	// A second member joins: the page shows it without reload.
	ref := channel.Ref{App: e.app.ID, Channel: "room", UID: 9, Endpoint: nopEndpoint{}}
	if _, err := e.n.Channels().Join(channel.JoinRequest{App: e.app.ID, Channel: "room", UID: 9, Role: channel.RoleAudience, Endpoint: ref.Endpoint}); err != nil {
		t.Fatal(err)
	}
	waitFor("the second member, live", "document.querySelector('tr[data-uid=\"9\"]') && 'ok'")
	shot("channel")

	// The member page: the pusher's state codes in words and the network chart.
	run(fmt.Sprintf("location.hash = '#/apps/%s/channels/room/members/%d'", e.app.ID, uid))
	state1002 := waitFor("pusher state 1002 in the timeline", "(r => r && /push started/.test(r.innerText) && r.innerText)(document.querySelector('tr[data-source=\"pusher\"][data-code=\"1002\"]'))")
	waitFor("pusher state 1001", "document.querySelector('tr[data-source=\"pusher\"][data-code=\"1001\"]') && 'ok'")
	waitFor("the join and publish events", "document.querySelector('tr[data-source=\"channel\"]') && /stream-started/.test(document.body.innerText) && 'ok'")
	waitFor("the network chart", "document.querySelector('#net-chart canvas') && document.querySelector('#net-chart .u-legend') && 'ok'")
	hint := waitFor("the token expiry hint", "(h => h && h.innerText)(document.querySelector('[data-hint=\"token-expiring\"]'))")
	t.Logf("console: timeline row %q; hint %q", state1002, hint)
	shot("member")

	// The uploaded log: listed, and its content shown.
	waitFor("the uploaded log", "document.querySelector('button[data-view]') && 'ok'")
	run("document.querySelector('button[data-view]').click()")
	waitFor("the log's content", fmt.Sprintf("(p => p && p.textContent.includes(%q) && 'ok')(document.getElementById('log-text'))", logMarker))
	shot("member-log")

	// Kick with a ban: the member leaves, its stream ends, ffmpeg's push stops.
	run("window.confirm = () => true; document.getElementById('ban-duration').value = '300'; document.getElementById('kick-form').requestSubmit()")
	waitFor("the page to show the member gone", "document.getElementById('member-gone') && /kicked/.test(document.body.innerText) && 'ok'")
	if _, ok := e.n.Channels().Member(e.app.ID, "room", uid); ok {
		t.Fatal("the member is still in the channel after the kick")
	}
	key := mediaKey(e.app.ID, fmt.Sprint(uid))
	for deadline := time.Now().Add(15 * time.Second); e.n.Media().Live(key); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the member's stream is still live after the kick")
		}
	}
	select {
	case <-pushDone:
		pushDone <- nil // for the deferred wait
	case <-time.After(20 * time.Second):
		t.Fatal("ffmpeg still pushes 20 s after the kick")
	}
	if !e.n.Channels().Banned(e.app.ID, "room", uid) {
		t.Error("the kick with a ban did not ban the uid")
	}
	shot("member-kicked")

	// The node page.
	run("location.hash = '#/node'")
	waitFor("the node figures", "(g => g && /TCP connections/.test(g.textContent) && 'ok')(document.getElementById('node-stats'))")
	time.Sleep(2500 * time.Millisecond) // a second sample for the chart
	shot("node")

	// Nothing of the console came from another origin.
	var foreign []string
	if err := page.eval(ctx, fmt.Sprintf("JSON.stringify(performance.getEntriesByType('resource').map(e => e.name).filter(u => !u.startsWith(%q)))", origin), &foreign); err != nil {
		t.Fatal(err)
	}
	if len(foreign) > 0 {
		t.Errorf("the console fetched from other origins: %q", foreign)
	}
	var resources int
	_ = page.eval(ctx, "JSON.stringify(performance.getEntriesByType('resource').length)", &resources)
	t.Logf("console: %d resources, all from %s", resources, origin)
	if !strings.Contains(state1002, "1002") {
		t.Errorf("timeline row %q lacks the code", state1002)
	}
}

// fakeWebhooksIfMissing registers a stand-in of the webhook endpoints API
// (docs/rest-api.md, "Webhooks") when the node has none, and returns how
// many test events it was asked for (nil when the node has the real API).
func fakeWebhooksIfMissing(t *testing.T, e *nodeEnv, id, secret string) func() int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.n.HTTPAddr()+"/rest/v1/apps/"+e.app.ID+"/webhooks", nil)
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		return nil
	}
	var mu sync.Mutex
	var hooks []map[string]any
	tests := 0
	e.n.API().Handle("GET /v1/apps/{appId}/webhooks", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		api.WriteJSON(w, http.StatusOK, map[string]any{"items": hooks})
	}))
	e.n.API().Handle("POST /v1/apps/{appId}/webhooks", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ URL string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.URL == "" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		h := map[string]any{"id": fmt.Sprintf("hook%d", len(hooks)+1), "appId": r.PathValue("appId"), "url": body.URL,
			"createdAt": time.Now().UTC()}
		hooks = append(hooks, h)
		made := map[string]any{"secret": "stand-in-secret-0123456789"}
		for k, v := range h {
			made[k] = v
		}
		api.WriteJSON(w, http.StatusCreated, made)
	}))
	e.n.API().Handle("POST /v1/apps/{appId}/webhooks/{id}/test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		tests++
		api.WriteJSON(w, http.StatusAccepted, map[string]any{"noticeId": "n1", "eventType": 1000})
	}))
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return tests
	}
}
