package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/channel/fakeclock"
	"github.com/minirtc/minirtc/internal/diag"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// env is a gateway on loopback with a memory store, a fake clock for token
// and URL timers, and one app with a certificate.
type env struct {
	t      testing.TB
	clk    *fakeclock.Clock
	store  *store.Memory
	mgr    *channel.Manager
	gw     *Gateway
	signer *token.URLSigner
	srv    *httptest.Server
	app    store.App
	wsURL  string
	apURL  string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	diag   *diag.Store
	infos  *recorder // info records whose message ends with "failure reported"

	mu   sync.Mutex
	left []channel.Event // EventMemberLeft seen by an observer
}

func newEnv(t testing.TB, mod func(*Config, *store.App)) *env {
	t.Helper()
	e := &env{t: t, clk: fakeclock.New(time.Now().Truncate(time.Second)), store: store.NewMemory()}
	app, err := store.NewApp("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Clock: e.clk, RTMPHost: "media.example.com", HTTPBase: "https://media.example.com"}
	if mod != nil {
		mod(&cfg, &app)
	}
	e.app = app
	if err := e.store.PutApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	var h slog.Handler = slog.NewTextHandler(io.Discard, nil)
	if testing.Verbose() {
		h = slog.NewTextHandler(testWriter{t}, nil)
	}
	e.infos = &recorder{Handler: h, suffix: "failure reported", mu: new(sync.Mutex), recs: new([]slog.Record)}
	log := slog.New(e.infos)
	e.mgr = channel.NewManager(channel.Config{Clock: e.clk}, log)
	e.mgr.Observe(func(ev channel.Event) {
		if ev.Kind == channel.EventMemberLeft {
			e.mu.Lock()
			e.left = append(e.left, ev)
			e.mu.Unlock()
		}
	})
	e.signer = token.NewURLSigner([]byte("0123456789abcdef0123456789abcdef"))
	e.gw, err = New(cfg, e.store, e.mgr, e.signer, log)
	if err != nil {
		t.Fatal(err)
	}
	e.diag, err = diag.New(diag.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	e.gw.SetDiagnostics(e.diag)
	mux := http.NewServeMux()
	e.gw.Register(mux)
	e.srv = httptest.NewServer(mux)
	e.wsURL = "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/api"
	e.apURL = e.srv.URL + "/api/v1"
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.wg.Add(2)
	go func() { defer e.wg.Done(); _ = e.mgr.Run(ctx) }()
	go func() { defer e.wg.Done(); _ = e.gw.Run(ctx) }()
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	e.cancel()
	e.wg.Wait()
	e.srv.Close()
	// No session goroutine (reader, request, writer) may outlive the gateway.
	e.waitFor("session goroutines exit", func() bool {
		buf := make([]byte, 1<<20)
		return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "gateway.(*session)")
	})
}

// recorder passes records on to Handler and keeps those whose message ends
// with suffix (copies share mu and recs, so WithAttrs loggers record too).
type recorder struct {
	slog.Handler
	suffix string
	mu     *sync.Mutex
	recs   *[]slog.Record
}

func (r *recorder) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || r.Handler.Enabled(ctx, l)
}

func (r *recorder) Handle(ctx context.Context, rec slog.Record) error {
	if strings.HasSuffix(rec.Message, r.suffix) {
		rec = rec.Clone()
		r.mu.Lock()
		*r.recs = append(*r.recs, rec)
		r.mu.Unlock()
	}
	if r.Handler.Enabled(ctx, rec.Level) {
		return r.Handler.Handle(ctx, rec)
	}
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	c.Handler = r.Handler.WithAttrs(as)
	return &c
}

func (r *recorder) WithGroup(name string) slog.Handler {
	c := *r
	c.Handler = r.Handler.WithGroup(name)
	return &c
}

// records returns the kept records as "level message k=v …" strings (the
// attributes given to the logger with With are not included).
func (r *recorder) records() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range *r.recs {
		s := rec.Level.String() + " " + rec.Message
		rec.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
		out = append(out, s)
	}
	return out
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// token builds a 007 token for uid in channel, issued now (fake clock).
func (e *env) token(ch, uid string, lifetime uint32) string {
	e.t.Helper()
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: e.app.ID, AppCert: e.app.Certificate, Channel: ch,
		UID: uid, Role: token.RolePublisher, IssuedAt: e.clk.Now(), Lifetime: lifetime})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// waitFor polls cond (state reached through other goroutines); it fails the
// test only if the state never comes.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("never happened: %s", what)
}

func (e *env) leftEvents() []channel.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]channel.Event(nil), e.left...)
}

// msg is a decoded frame (numbers as json.Number, so types can be checked).
type msg struct {
	raw []byte
	m   map[string]any
}

func (m msg) String() string { return string(m.raw) }

func (m msg) status() map[string]any {
	st, _ := m.m["serverStatus"].(map[string]any)
	return st
}

func (m msg) action() string {
	a, _ := m.status()["action"].(string)
	return a
}

func (m msg) code() string {
	n, _ := m.m["code"].(json.Number)
	return n.String()
}

func (m msg) resp() map[string]any {
	r, _ := m.m["serverResponse"].(map[string]any)
	return r
}

// client is a test WebSocket client speaking the SDK's envelope: the shared
// signaling client (package client) plus the test's own requestId counter
// and the pushes kept while waiting for replies.
type client struct {
	t       testing.TB
	e       *env
	cc      *mc.Conn
	conn    *websocket.Conn // cc's socket, for binary frames and own closes
	done    <-chan struct{} // closed when the connection has ended
	nextID  int
	uid     string
	pending []msg // pushes received while waiting for a reply
}

// testSID is the SDK session id of test clients.
const testSID = "0123456789ABCDEF0123456789ABCDEF"

func (e *env) dial() *client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := mc.Dial(ctx, e.wsURL, mc.WithReadLimit(1<<20), mc.WithSID(testSID))
	if err != nil {
		e.t.Fatal(err)
	}
	c := &client{t: e.t, e: e, cc: cc, conn: cc.WebSocket(), done: cc.Done(), nextID: 3}
	e.t.Cleanup(func() {
		cc.CloseNow()
		// Frames nobody read must still be JSON objects.
		for {
			m, err := cc.Next(context.Background())
			if err != nil {
				return
			}
			c.check(m)
		}
	})
	return c
}

// check reports a frame that is not a text JSON object.
func (c *client) check(m mc.Message) bool {
	if m.Err == nil {
		return true
	}
	if m.Type != websocket.MessageText {
		c.t.Errorf("binary frame from server")
	} else {
		c.t.Errorf("frame is not a JSON object: %q", m.Raw)
	}
	return false
}

func (c *client) next() (msg, bool) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		m, err := c.cc.Next(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			c.t.Fatalf("no frame from the server within 10 s (the SDK would time out with 903)")
			return msg{}, false
		}
		if err != nil {
			return msg{}, false
		}
		if c.check(m) {
			return msg{raw: m.Raw, m: m.Fields}, true
		}
	}
}

func (c *client) sendRaw(data string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.cc.SendRaw(ctx, []byte(data)); err != nil {
		c.t.Fatal(err)
	}
}

// request sends an SDK-shaped request and returns its requestId.
func (c *client) request(action string, fields map[string]any) int {
	c.t.Helper()
	id := c.nextID
	c.nextID++
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.cc.SetIdentity(c.e.app.ID, "room", c.uid)
	if _, err := c.cc.Send(ctx, mc.Request{ID: int64(id), Seq: int64(id - 1), Action: action, Fields: fields}); err != nil {
		c.t.Fatal(err)
	}
	return id
}

// wait returns the reply with requestId id; pushes before it are kept.
func (c *client) wait(id int) msg {
	c.t.Helper()
	for {
		m, ok := c.next()
		if !ok {
			c.t.Fatalf("connection closed while waiting for reply %d", id)
		}
		if raw, ok := m.m["requestId"]; ok {
			if n, _ := raw.(json.Number); n.String() != fmt.Sprint(id) {
				c.t.Fatalf("reply %s while waiting for %d", m, id)
			}
			return m
		}
		c.pending = append(c.pending, m)
	}
}

func (c *client) call(action string, fields map[string]any) msg {
	c.t.Helper()
	return c.wait(c.request(action, fields))
}

// ok calls and requires code 200.
func (c *client) ok(action string, fields map[string]any) msg {
	c.t.Helper()
	r := c.call(action, fields)
	if r.code() != "200" {
		c.t.Fatalf("%s: %s", action, r)
	}
	return r
}

// fail calls and requires the given code and reason prefix.
func (c *client) fail(action string, fields map[string]any, code, reason string) msg {
	c.t.Helper()
	r := c.call(action, fields)
	rs, _ := r.m["reason"].(string)
	if r.code() != code || !strings.HasPrefix(rs, reason) {
		c.t.Fatalf("%s: got %s, want code %s reason %q", action, r, code, reason)
	}
	return r
}

func (c *client) joinFields(key, ch, uid, role string) map[string]any {
	return map[string]any{"role": role, "appId": c.e.app.ID, "customAudioCodec": nil, "key_vocs": key,
		"key_vos": key, "channel_name": ch, "uid": uid, "vid": "48213", "device": "iPhone 13",
		"os": "iOS 17.2", "version": "2.6.4", "clientType": "wechat", "audio_only": false, "uidType": 0}
}

// join joins room with a fresh token.
func (c *client) join(uid, role string) msg {
	c.t.Helper()
	c.uid = uid
	return c.ok("join", c.joinFields(c.e.token("room", uid, 3600), "room", uid, role))
}

// sync makes a round trip and returns every push received before its reply:
// all pushes queued for this session before the call are among them.
func (c *client) sync() []msg {
	c.t.Helper()
	c.ok("ping", nil)
	p := c.pending
	c.pending = nil
	return p
}

// pushes returns the sync'ed pushes as "action uid" strings.
func (c *client) pushes() []string {
	c.t.Helper()
	var out []string
	for _, m := range c.sync() {
		s := m.action()
		if s == "" {
			s = "code " + m.code()
		}
		if uid, ok := m.status()["uid"]; ok {
			s += fmt.Sprintf(" %v", uid)
		}
		if mute, ok := m.status()["mute"]; ok {
			s += fmt.Sprintf(" mute=%v", mute)
		}
		out = append(out, s)
	}
	return out
}

// closed waits for the server to close the connection and returns the close.
func (c *client) closed() (websocket.StatusCode, string, []msg) {
	c.t.Helper()
	var rest []msg
	for {
		m, ok := c.next()
		if !ok {
			<-c.done
			code, reason := c.cc.CloseStatus()
			if code < 0 { // ended without a close frame
				code = 0
			}
			return code, reason, append(c.pending, rest...)
		}
		rest = append(rest, m)
	}
}
