package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/gateway"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// server is a real gateway on loopback with one app that has a certificate.
type server struct {
	t     *testing.T
	app   store.App
	mgr   *channel.Manager
	gw    *gateway.Gateway
	base  string // http://127.0.0.1:port
	wsURL string
}

func newServer(t *testing.T) *server {
	t.Helper()
	st := store.NewMemory()
	app, err := store.NewApp("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr := channel.NewManager(channel.Config{}, log)
	gw, err := gateway.New(gateway.Config{RTMPHost: "media.example.com", HTTPBase: "https://media.example.com"},
		st, mgr, token.NewURLSigner([]byte("0123456789abcdef0123456789abcdef")), log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	gw.Register(mux)
	srv := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = mgr.Run(ctx) }()
	go func() { defer wg.Done(); _ = gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		srv.Close()
	})
	s := &server{t: t, app: app, mgr: mgr, gw: gw, base: srv.URL}
	s.wsURL, err = client.WSURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *server) token(ch, uid string) string {
	s.t.Helper()
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: s.app.ID, AppCert: s.app.Certificate, Channel: ch,
		UID: uid, Role: token.RolePublisher, IssuedAt: time.Now(), Lifetime: 3600})
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// dial opens a connection that the test closes at its end.
func (s *server) dial(ctx context.Context, opts ...client.Option) *client.Conn {
	s.t.Helper()
	c, err := client.Dial(ctx, s.wsURL, opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(c.CloseNow)
	return c
}

func (s *server) join(ctx context.Context, uid, role string) *client.Conn {
	s.t.Helper()
	c := s.dial(ctx)
	got, err := c.Join(ctx, client.JoinParams{AppID: s.app.ID, Channel: "room", UID: uid, Key: s.token("room", uid), Role: role})
	if err != nil {
		s.t.Fatalf("join %s: %v", uid, err)
	}
	if want := uid; got != parseUID(s.t, want) {
		s.t.Fatalf("join %s: reply uid %d", uid, got)
	}
	return c
}

func parseUID(t *testing.T, s string) uint32 {
	var n uint32
	for _, r := range s {
		if r < '0' || r > '9' {
			t.Fatalf("uid %q", s)
		}
		n = n*10 + uint32(r-'0')
	}
	return n
}

// goroutines counts this package's client goroutines (read loops and
// heartbeats) still running.
func goroutines() int {
	buf := make([]byte, 1<<20)
	st := string(buf[:runtime.Stack(buf, true)])
	return strings.Count(st, "client.(*Conn).readLoop") + strings.Count(st, "client.(*Conn).heartbeat")
}

// TestAllocate: the allocation endpoint answers what the SDK needs, and
// the client parses it.
func TestAllocate(t *testing.T) {
	s := newServer(t)
	ap, err := client.APURL(s.base)
	if err != nil {
		t.Fatal(err)
	}
	a, err := client.Allocate(t.Context(), nil, ap, client.AllocateRequest{AppID: s.app.ID, Channel: "room", UID: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if a.VID == "" || len(a.Servers) == 0 || a.Servers[0].Address == "" {
		t.Fatalf("allocation %+v", a)
	}
	if _, err := client.Allocate(t.Context(), nil, s.base+"/nope", client.AllocateRequest{}); err == nil {
		t.Fatal("a 404 allocation answer was accepted")
	}
}

// TestEndpoints maps base URLs to the gateway's URLs.
func TestEndpoints(t *testing.T) {
	for _, c := range []struct{ base, ws, ap string }{
		{"http://h:8080", "ws://h:8080/api", "http://h:8080/api/v1"},
		{"https://h/", "wss://h/api", "https://h/api/v1"},
		{"https://h/rtc", "wss://h/rtc/api", "https://h/rtc/api/v1"},
	} {
		ws, err := client.WSURL(c.base)
		if err != nil || ws != c.ws {
			t.Errorf("WSURL(%q) = %q, %v; want %q", c.base, ws, err, c.ws)
		}
		ap, err := client.APURL(c.base)
		if err != nil || ap != c.ap {
			t.Errorf("APURL(%q) = %q, %v; want %q", c.base, ap, err, c.ap)
		}
	}
	if _, err := client.WSURL("ftp://h"); err == nil {
		t.Error("WSURL accepted ftp://")
	}
}

// TestJoinPublishSubscribeLeave: two members on one channel; the audience
// member sees stream-added when the broadcaster publishes, gets a play URL,
// and sees stream-removed when the broadcaster leaves.
func TestJoinPublishSubscribeLeave(t *testing.T) {
	s := newServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	before := goroutines()
	a := s.join(ctx, "111", client.RoleBroadcaster)
	b := s.join(ctx, "222", client.RoleAudience)

	push, err := a.Publish(ctx)
	if err != nil || !strings.HasPrefix(push, "rtmp://media.example.com/live/") {
		t.Fatalf("publish: %q %v", push, err)
	}
	p, err := b.NextPush(ctx)
	if err != nil || p.Action != "stream-added" || !p.HasUID || p.UID != 111 {
		t.Fatalf("b's first push: %+v %v, want stream-added 111", p, err)
	}
	play, err := b.Subscribe(ctx, 111, client.SubscribeOptions{Audio: true, Video: true})
	if err != nil || !strings.HasPrefix(play.URL, "rtmp://") || play.Rotation != 0 {
		t.Fatalf("subscribe: %+v %v", play, err)
	}
	flv, err := b.Subscribe(ctx, 111, client.SubscribeOptions{Audio: true, Video: true, FLV: true})
	if err != nil || !strings.HasPrefix(flv.URL, "https://media.example.com/live/") || !strings.Contains(flv.URL, ".flv") {
		t.Fatalf("subscribe flv: %+v %v", flv, err)
	}
	if err := a.MuteLocal(ctx, "audio", true); err != nil {
		t.Fatal(err)
	}
	if p, err := b.NextPush(ctx); err != nil || p.Action != "audio-mute" || p.UID != 111 || !p.Mute {
		t.Fatalf("after mute: %+v %v", p, err)
	}
	if err := a.Leave(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	if p, err := b.WaitPush(ctx, func(p client.Push) bool { return p.Action == "stream-removed" }); err != nil || p.UID != 111 {
		t.Fatalf("after leave: %+v %v", p, err)
	}
	// a's connection is closed: requests fail with ErrClosed at once.
	if _, err := a.Publish(ctx); !errors.Is(err, client.ErrClosed) && !strings.Contains(err.Error(), "closed") {
		t.Fatalf("publish after leave: %v", err)
	}
	if err := b.Leave(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	// Close waited for the goroutines (wg); one that has called Done may
	// still be returning, so the stack is polled briefly.
	waitFor(t, "no client goroutines left after Leave", func() bool { return goroutines() <= before })
	waitFor(t, "members gone", func() bool { return len(s.mgr.Members(s.app.ID, "room")) == 0 })
}

// TestErrorCodes: refused requests come back as *Error with the
// catalogue's code and reason, and errors.Is matches the catalogue.
func TestErrorCodes(t *testing.T) {
	s := newServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	bad := s.dial(ctx)
	_, err := bad.Join(ctx, client.JoinParams{AppID: s.app.ID, Channel: "room", UID: "5", Key: "007garbage", Role: client.RoleBroadcaster})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != errcode.CodeVendorKey || ce.Catalogue() != errcode.ReasonInvalidKey {
		t.Fatalf("join with a bad token: %v, want 401 %q", err, errcode.ReasonInvalidKey)
	}

	early := s.dial(ctx)
	if _, err := early.Publish(ctx); !errors.Is(err, errcode.BadRequest("")) {
		t.Fatalf("publish before join: %v, want 430 bad request", err)
	}

	aud := s.join(ctx, "6", client.RoleAudience)
	if _, err := aud.Publish(ctx); !errors.Is(err, errcode.NoAuthorized("")) {
		t.Fatalf("audience publish: %v, want 433 no authorized", err)
	}
	if _, err := aud.Subscribe(ctx, 99, client.SubscribeOptions{Audio: true, Video: true}); !errors.Is(err, errcode.NotPublishing("")) {
		t.Fatalf("subscribe to a non-publisher: %v, want 432", err)
	}
	if err := aud.SetRole(ctx, "king"); !errors.Is(err, errcode.BadRole("")) {
		t.Fatalf("set_role king: %v, want 431", err)
	}
	if _, err := aud.Call(ctx, "dance", nil); !errors.As(err, &ce) || ce.Code != errcode.CodeBadRequest || ce.Action != "dance" {
		t.Fatalf("unknown action: %v", err)
	}
	// The connection still works after refusals.
	if err := aud.PingRequest(ctx); err != nil {
		t.Fatalf("ping after refusals: %v", err)
	}
}

// TestKicked: a kicked member gets client-is-banned-by-server, the server
// closes with reason "close", and later requests fail with ErrClosed.
func TestKicked(t *testing.T) {
	s := newServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c := s.join(ctx, "7", client.RoleBroadcaster)
	if err := s.mgr.Kick(s.app.ID, "room", 7, "kicked by the test"); err != nil {
		t.Fatal(err)
	}
	p, err := c.NextPush(ctx)
	if err != nil || p.Action != "client-is-banned-by-server" || p.Code != errcode.CodeRefused {
		t.Fatalf("kicked: %+v %v", p, err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the server never closed the kicked member's socket")
	}
	if code, reason := c.CloseStatus(); code != websocket.StatusNormalClosure || reason != "close" {
		t.Fatalf("close %d %q, want 1000 \"close\"", code, reason)
	}
	_, err = c.Publish(ctx)
	if !errors.Is(err, client.ErrClosed) || !strings.Contains(err.Error(), "433") {
		t.Fatalf("publish after the kick: %v, want ErrClosed naming the 433 push", err)
	}
	if _, err := c.Next(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Next after the close: %v", err)
	}
}

// TestRawFramesAndHeartbeat: SendRaw reaches the server as is (a malformed
// frame gets a 430 reply with its requestId; Send with a chosen id too),
// and the heartbeat gets pongs.
func TestRawFramesAndHeartbeat(t *testing.T) {
	s := newServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// Slower than the gateway's per-connection request rate (20/s), which
	// heartbeats count against.
	c := s.dial(ctx, client.WithPingInterval(100*time.Millisecond))
	if err := c.SendRaw(ctx, []byte(`{"requestId": 77, "clientRequest": {"action": 5}}`)); err != nil {
		t.Fatal(err)
	}
	var sawPong, sawReply bool
	for !sawPong || !sawReply {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("next: %v (pong %v, reply %v)", err, sawPong, sawReply)
		}
		switch {
		case m.Command() == "pong":
			if m.IsReply() {
				t.Fatalf("pong with a requestId: %s", m)
			}
			sawPong = true
		case m.IsReply():
			if id, _ := m.RequestID(); id != 77 || m.Code() != errcode.CodeBadRequest || m.Reason() == "" {
				t.Fatalf("reply to a malformed request: %s", m)
			}
			sawReply = true
		}
	}
	id, err := c.Send(ctx, client.Request{ID: 1000, Action: "ping"})
	if err != nil || id != 1000 {
		t.Fatalf("send: %d %v", id, err)
	}
	for {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rid, ok := m.RequestID(); ok && rid == 1000 {
			if m.CodeText() != "200" {
				t.Fatalf("ping reply %s", m)
			}
			break
		}
	}
	before := goroutines()
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if n := goroutines(); n != before-2 {
		t.Fatalf("client goroutines %d after Close, want %d (read loop and heartbeat ended)", n, before-2)
	}
}

// TestQueueBound: a connection whose owner never reads keeps at most its
// queue size of frames and counts what it dropped; replies to Call still
// arrive.
func TestQueueBound(t *testing.T) {
	s := newServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c := s.dial(ctx, client.WithQueueSize(2), client.WithPingInterval(100*time.Millisecond))
	waitFor(t, "pongs dropped", func() bool { return c.Dropped() >= 3 })
	if err := c.PingRequest(ctx); err != nil {
		t.Fatalf("request with a full queue: %v", err)
	}
}

// TestContextBoundsWait: a request whose context ends returns at once, and
// the connection stays usable.
func TestContextBoundsWait(t *testing.T) {
	s := newServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c := s.join(ctx, "9", client.RoleAudience)
	done, stop := context.WithCancel(ctx)
	stop()
	if _, err := c.Call(done, "ping", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("call with a canceled context: %v", err)
	}
	if err := c.PingRequest(ctx); err != nil {
		t.Fatalf("ping after a canceled call: %v", err)
	}
	if _, err := c.Next(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("next with a canceled context: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
	}
}

// TestHandshakeError: an upgrade answered with another HTTP status says
// which.
func TestHandshakeError(t *testing.T) {
	s := newServer(t)
	_, err := client.Dial(t.Context(), strings.Replace(s.wsURL, "/api", "/nope", 1))
	var he *client.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
		t.Fatalf("dial a 404 path: %v", err)
	}
}

// TestRejoinAndConflict: a second connection joining with the same uid
// takes the member over (the first gets 433 uid conflict and a "close"),
// and a rejoin with known_speakers learns which speaker is gone.
func TestRejoinAndConflict(t *testing.T) {
	s := newServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	pub := s.join(ctx, "1", client.RoleBroadcaster)
	if _, err := pub.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	old := s.join(ctx, "2", client.RoleAudience)
	c := s.dial(ctx)
	uid, err := c.Join(ctx, client.JoinParams{AppID: s.app.ID, Channel: "room", UID: "2", Key: s.token("room", "2"),
		Role: client.RoleAudience, KnownSpeakers: []string{"2", "1", "3"}})
	if err != nil || uid != 2 {
		t.Fatalf("rejoin: %d %v", uid, err)
	}
	var got []string
	for len(got) < 2 {
		p, err := c.NextPush(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if p.At.IsZero() {
			t.Fatal("push without a receive time")
		}
		got = append(got, p.Action+" "+strconv.Itoa(int(p.UID)))
	}
	if want := []string{"stream-added 1", "stream-removed 3"}; !slices.Equal(got, want) {
		t.Fatalf("rejoin pushes %v, want %v", got, want)
	}
	// old saw stream-added 1 when it joined; then the conflict.
	p, err := old.WaitPush(ctx, func(p client.Push) bool { return p.Code != 0 })
	if err != nil || p.Code != errcode.CodeRefused || !strings.HasPrefix(p.Reason, errcode.ReasonUIDConflict) {
		t.Fatalf("the replaced connection got %+v %v, want 433 uid conflict", p, err)
	}
	<-old.Done()
	if code, reason := old.CloseStatus(); code != websocket.StatusNormalClosure || reason != "close" {
		t.Fatalf("replaced connection closed %d %q", code, reason)
	}
}

// TestEnvelope: requests and the heartbeat carry the SDK's envelope
// (protocol 3.2, 3.3): requestIds from one counter starting at 3, seq on
// requests only, starting at 2; a 32-hex sid; the identity Join set.
func TestEnvelope(t *testing.T) {
	frames := make(chan map[string]any, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for {
			_, data, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Errorf("client sent %q", data)
				return
			}
			frames <- m
			if id, ok := m["requestId"].(float64); ok && m["clientRequest"] != nil {
				reply, _ := json.Marshal(map[string]any{"command": "serverResponse", "requestId": id, "code": 200,
					"serverResponse": map[string]any{"uid": 12}})
				_ = ws.Write(r.Context(), websocket.MessageText, reply)
			}
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if uid, err := c.Join(ctx, client.JoinParams{AppID: "app", Channel: "room", UID: "12"}); err != nil || uid != 12 {
		t.Fatalf("join: %d %v", uid, err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx); err == nil {
		t.Fatal("a publish reply without url was accepted")
	}
	join, ping, pub := <-frames, <-frames, <-frames
	sid, _ := join["sid"].(string)
	if len(sid) != 32 || strings.ToUpper(sid) != sid || ping["sid"] != sid {
		t.Errorf("sid %q (ping %q)", sid, ping["sid"])
	}
	for _, c := range []struct {
		name string
		m    map[string]any
		id   float64
		seq  any
	}{{"join", join, 3, 2.0}, {"ping", ping, 4, nil}, {"publish", pub, 5, 3.0}} {
		if c.m["requestId"] != c.id || c.m["seq"] != c.seq || c.m["appId"] != "app" || c.m["cname"] != "room" || c.m["uid"] != "12" {
			t.Errorf("%s envelope %v, want requestId %v seq %v", c.name, c.m, c.id, c.seq)
		}
	}
	if ping["command"] != "ping" || ping["clientRequest"] != nil || ping["sdkVersion"] != nil {
		t.Errorf("heartbeat %v", ping)
	}
	cr, _ := join["clientRequest"].(map[string]any)
	if cr["action"] != "join" || cr["key_vos"] != "app" || cr["key_vocs"] != "app" || cr["role"] != "audience" ||
		cr["uidType"] != 0.0 || cr["version"] != "2.6.4" || cr["vid"] != "1" {
		t.Errorf("join request %v (no key: the appId, as the SDK sends)", cr)
	}
}

// TestJoinRejectsOutOfRangeUID: a join reply whose uid is not a 32-bit
// unsigned number is an error, not a uid wrapped into uint32 (before: 2^32+7
// became 7 and -1 became 4294967295).
func TestJoinRejectsOutOfRangeUID(t *testing.T) {
	for _, uid := range []int64{1<<32 + 7, -1} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer ws.CloseNow()
			for {
				_, data, err := ws.Read(r.Context())
				if err != nil {
					return
				}
				var m map[string]any
				if json.Unmarshal(data, &m) != nil {
					return
				}
				if id, ok := m["requestId"].(float64); ok && m["clientRequest"] != nil {
					reply, _ := json.Marshal(map[string]any{"command": "serverResponse", "requestId": id, "code": 200,
						"serverResponse": map[string]any{"uid": uid}})
					_ = ws.Write(r.Context(), websocket.MessageText, reply)
				}
			}
		}))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Join(ctx, client.JoinParams{AppID: "app", Channel: "room", UID: "7"})
		if err == nil || !strings.Contains(err.Error(), "32-bit") || got != 0 || c.UID() != 0 {
			t.Errorf("reply uid %d: Join gave %d (UID %d), err %v; want an error naming the range", uid, got, c.UID(), err)
		}
		c.CloseNow()
		cancel()
		srv.Close()
	}
}
