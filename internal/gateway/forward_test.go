package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
)

// testClusterHeader carries the fake cluster credential between nodes.
const testClusterHeader = "X-Test-Cluster-Key"

// fakeRouter is one node's view of a cluster's placement: channels listed in
// owners belong to that node, every other channel to this one.
type fakeRouter struct {
	self   string
	secret string

	mu     sync.Mutex
	owners map[string]string // channel -> owner node id
	nodes  map[string]Route  // node id -> where it is
	err    error             // Route fails with it (the store is unreachable)
}

func newFakeRouter(self string) *fakeRouter {
	return &fakeRouter{self: self, secret: "cluster-secret", owners: map[string]string{}, nodes: map[string]Route{}}
}

func (r *fakeRouter) Route(ctx context.Context, app, ch string) (Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return Route{}, r.err
	}
	owner, ok := r.owners[ch]
	if !ok || owner == r.self {
		return Route{Local: true, Node: r.self}, nil
	}
	return r.nodes[owner], nil
}

func (r *fakeRouter) ForwardHeader() http.Header {
	return http.Header{testClusterHeader: {r.secret}}
}

func (r *fakeRouter) TrustForwarded(req *http.Request) bool {
	return subtle.ConstantTimeCompare([]byte(req.Header.Get(testClusterHeader)), []byte(r.secret)) == 1
}

func (r *fakeRouter) own(ch, node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.owners[ch] = node
}

func (r *fakeRouter) node(rt Route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nodes[rt.Node] = rt
}

func (r *fakeRouter) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// twoNodes is a cluster of two gateways on loopback, each with its own
// channel Manager and listener, sharing one app (as nodes share their store).
// Channel "room" is owned by B; any other channel by the node asked.
type twoNodes struct {
	a, b   *env
	ra, rb *fakeRouter
}

func newTwoNodes(t testing.TB, modA, modB func(*Config)) *twoNodes {
	t.Helper()
	n := &twoNodes{ra: newFakeRouter("a"), rb: newFakeRouter("b")}
	n.b = newEnv(t, func(c *Config, _ *store.App) {
		c.Router = n.rb
		if modB != nil {
			modB(c)
		}
	})
	n.a = newEnv(t, func(c *Config, app *store.App) {
		c.Router = n.ra
		*app = n.b.app
		if modA != nil {
			modA(c)
		}
	})
	for _, p := range []struct {
		r    *fakeRouter
		e    *env
		node string
	}{{n.ra, n.b, "b"}, {n.rb, n.a, "a"}} {
		p.r.node(Route{Node: p.node, Address: "127.0.0.1", Port: port(p.e), WebSocketURL: p.e.wsURL})
	}
	n.ra.own("room", "b")
	n.rb.own("room", "b")
	return n
}

func port(e *env) int { return e.srv.Listener.Addr().(*net.TCPAddr).Port }

// dialNode opens a test client on node's WebSocket (tokens and app from b),
// from the loopback address from ("" for any) with extra request headers.
func (n *twoNodes) dialNode(node *env, from string, hdr http.Header) *client {
	return dialWS(n.b, node.wsURL, from, hdr)
}

func dialWS(e *env, wsURL, from string, hdr http.Header) *client {
	e.t.Helper()
	d := &net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := mc.Dial(ctx, wsURL, mc.WithReadLimit(1<<20), mc.WithSID(testSID), mc.WithHTTPClient(hc), mc.WithHeader(hdr))
	if err != nil {
		e.t.Fatal(err)
	}
	c := &client{t: e.t, e: e, cc: cc, conn: cc.WebSocket(), done: cc.Done(), nextID: 3}
	e.t.Cleanup(func() { cc.CloseNow() })
	return c
}

func TestClusterForwardedSession(t *testing.T) {
	n := newTwoNodes(t, nil, nil)
	app := n.b.app.ID
	p := n.dialNode(n.a, "", nil) // reaches A, the wrong node
	if r := p.join("111", "broadcaster"); r.resp()["uid"] != json.Number("111") {
		t.Fatalf("join reply %s", r)
	}
	if _, ok := n.b.mgr.Member(app, "room", 111); !ok {
		t.Fatal("the forwarded member is not in the owner's channel")
	}
	if _, ok := n.a.mgr.Member(app, "room", 111); ok {
		t.Fatal("the forwarding node holds the member itself")
	}
	if n.a.gw.Sessions() != 1 || n.b.gw.Sessions() != 1 {
		t.Fatalf("sessions A %d, B %d; want 1 and 1", n.a.gw.Sessions(), n.b.gw.Sessions())
	}
	q := n.dialNode(n.b, "", nil) // on the owner
	q.join("222", "broadcaster")

	u, _ := p.ok("publish", nil).resp()["url"].(string)
	if !strings.HasPrefix(u, "rtmp://media.example.com/live/") {
		t.Fatalf("push URL %q", u)
	}
	want(t, q.pushes(), "stream-added 111")
	q.ok("publish", nil)
	want(t, p.pushes(), "stream-added 222")
	sub := p.ok("subscribe", map[string]any{"uid": 222, "options": map[string]any{"audio": true, "video": true}}).resp()
	if u, _ := sub["url"].(string); !strings.HasPrefix(u, "rtmp://media.example.com/live/") || sub["rotation"] != json.Number("0") {
		t.Fatalf("subscribe reply %v", sub)
	}
	p.ok("mute_local", map[string]any{"target": "audio", "mute": true})
	want(t, q.pushes(), "audio-mute 111 mute=true")
	if u2 := p.ok("publish", nil).resp()["url"]; u2 != u { // publishing again answers the same URL
		t.Fatalf("second publish %v, want %v", u2, u)
	}
	p.fail("frobnicate", nil, "430", `bad request: unknown action "frobnicate"`)

	// A third member through A sees both streams at its join, in order.
	o := n.dialNode(n.a, "", nil)
	o.join("333", "audience")
	want(t, o.pushes(), "stream-added 111", "stream-added 222", "audio-mute 111 mute=true")

	// The forwarded client drops without leave: the owner keeps its member
	// for the grace period, and a rejoin through A resumes it unseen.
	p.conn.CloseNow()
	n.b.waitFor("member detached on the owner", func() bool {
		mi, ok := n.b.mgr.Member(app, "room", 111)
		return ok && mi.Detached
	})
	p2 := n.dialNode(n.a, "", nil)
	p2.join("111", "broadcaster")
	if u2 := p2.ok("publish", nil).resp()["url"]; u2 != u {
		t.Fatalf("push URL changed across the rejoin: %v vs %v", u2, u)
	}
	want(t, q.pushes())
	p2.ok("leave", nil)
	want(t, q.pushes(), "stream-removed 111")
	want(t, o.pushes(), "stream-removed 111")
}

func TestClusterOwnerClosesForwardedSession(t *testing.T) {
	n := newTwoNodes(t, nil, func(c *Config) { c.MaxMessageBytes = 4 << 10 })
	app := n.b.app.ID

	// A kick on the owner: the push, then 1000 "close", as on the owner.
	p := n.dialNode(n.a, "", nil)
	p.join("1", "broadcaster")
	if err := n.b.mgr.Kick(app, "room", 1, "test"); err != nil {
		t.Fatal(err)
	}
	code, reason, rest := p.closed()
	if code != websocket.StatusNormalClosure || reason != "close" || len(rest) != 1 || rest[0].action() != "client-is-banned-by-server" {
		t.Fatalf("close %d %q after %v", code, reason, rest)
	}

	// The owner's frame limit is below A's: its 1009 reaches the client.
	q := n.dialNode(n.a, "", nil)
	q.join("2", "broadcaster")
	q.sendRaw(`{"command":"x","pad":"` + strings.Repeat("a", 8<<10) + `"}`)
	if code, reason, _ := q.closed(); code != websocket.StatusMessageTooBig || !strings.Contains(reason, "read limited") {
		t.Fatalf("close %d %q, want 1009 from the owner", code, reason)
	}
	n.a.waitFor("sessions on A end", func() bool { return n.a.gw.Sessions() == 0 })
}

func TestClusterForwardingNodeKeepsClientLimits(t *testing.T) {
	n := newTwoNodes(t, func(c *Config) { c.MaxMessageBytes = 4 << 10 }, nil)
	app := n.b.app.ID
	// Before the join: the pre-join limit of the node the client reached.
	pre := n.dialNode(n.a, "", nil)
	pre.sendRaw(`{"command":"x","pad":"` + strings.Repeat("a", 5<<10) + `"}`)
	if code, _, _ := pre.closed(); code != websocket.StatusMessageTooBig {
		t.Fatalf("pre-join close %d, want 1009", code)
	}
	// After a forwarded join: its frame limit, though the owner's is larger.
	p := n.dialNode(n.a, "", nil)
	p.join("1", "broadcaster")
	p.sendRaw(`{"command":"x","pad":"` + strings.Repeat("a", 8<<10) + `"}`)
	if code, reason, _ := p.closed(); code != websocket.StatusMessageTooBig || !strings.Contains(reason, "4097") { // coder/websocket names limit+1
		t.Fatalf("close %d %q, want 1009 at 4096 bytes from the forwarding node", code, reason)
	}
	// The owner lost the connection without a leave: grace, as for its own.
	n.b.waitFor("member detached on the owner", func() bool {
		mi, ok := n.b.mgr.Member(app, "room", 1)
		return ok && mi.Detached
	})
}

// fakeOwner is a node's gateway WebSocket reduced to what forwarding
// touches: it records the handshake and the first frame, answers it, then
// closes as told (code 0: without a close frame) or records the client's
// close.
type fakeOwner struct {
	srv     *httptest.Server
	hdr     chan http.Header
	first   chan []byte
	closeBy chan websocket.CloseError // the owner's close to send
	closed  chan error                // how the owner's side ended
}

func newFakeOwner(t *testing.T) *fakeOwner {
	o := &fakeOwner{hdr: make(chan http.Header, 1), first: make(chan []byte, 1),
		closeBy: make(chan websocket.CloseError, 1), closed: make(chan error, 1)}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		o.hdr <- r.Header.Clone()
		_, data, err := c.Read(context.Background())
		if err != nil {
			o.closed <- err
			return
		}
		o.first <- data
		var req struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		_ = json.Unmarshal(data, &req)
		_ = c.Write(context.Background(), websocket.MessageText,
			[]byte(`{"command":"serverResponse","requestId":`+string(req.RequestID)+`,"code":200,"serverResponse":{"uid":7}}`))
		readErr := make(chan error, 1)
		go func() {
			_, _, err := c.Read(context.Background())
			readErr <- err
		}()
		select {
		case err := <-readErr:
			o.closed <- err
		case ce := <-o.closeBy:
			if ce.Code == 0 {
				_ = c.CloseNow()
			} else {
				_ = c.Close(ce.Code, ce.Reason)
			}
			o.closed <- <-readErr
		}
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// recv waits for what the fake owner reports.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("the fake owner reported nothing within 10 s")
		panic("unreachable")
	}
}

func TestClusterCloseCodesPassThrough(t *testing.T) {
	n := newTwoNodes(t, nil, nil)
	o := newFakeOwner(t)
	n.ra.node(Route{Node: "c", Address: "127.0.0.1", Port: 1, WebSocketURL: "ws" + strings.TrimPrefix(o.srv.URL, "http") + "/api"})
	n.ra.own("elsewhere", "c")
	join := func() *client {
		t.Helper()
		c := n.dialNode(n.a, "127.0.0.2", http.Header{ForwardedForHeader: {"198.51.100.7:1"}, testClusterHeader: {"guess"}})
		c.uid = "7"
		id := c.request("join", c.joinFields(n.b.token("elsewhere", "7", 3600), "elsewhere", "7", "broadcaster"))
		if r := c.wait(id); r.code() != "200" || r.resp()["uid"] != json.Number("7") {
			t.Fatalf("join reply %s", r)
		}
		// The owner got the credential and the client's real address (not
		// the one the client claimed), and the join frame byte for byte.
		h := recv(t, o.hdr)
		if h.Get(testClusterHeader) != "cluster-secret" || !strings.HasPrefix(h.Get(ForwardedForHeader), "127.0.0.2:") {
			t.Fatalf("owner saw %s=%q %s=%q", testClusterHeader, h.Get(testClusterHeader), ForwardedForHeader, h.Get(ForwardedForHeader))
		}
		if f := recv(t, o.first); !strings.Contains(string(f), `"requestId":`+strconv.Itoa(id)+`,`) || !strings.Contains(string(f), `"channel_name":"elsewhere"`) {
			t.Fatalf("owner got %s", f)
		}
		return c
	}

	t.Run("owner closes with a code", func(t *testing.T) {
		c := join()
		o.closeBy <- websocket.CloseError{Code: 4321, Reason: "owner says bye"}
		if code, reason, _ := c.closed(); code != 4321 || reason != "owner says bye" {
			t.Fatalf("client got close %d %q", code, reason)
		}
		recv(t, o.closed)
	})
	t.Run("client closes with a code", func(t *testing.T) {
		c := join()
		if err := c.conn.Close(4001, "client says bye"); err != nil {
			t.Fatal(err)
		}
		var ce websocket.CloseError
		if err := recv(t, o.closed); !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "client says bye" {
			t.Fatalf("owner saw %v", err)
		}
	})
	t.Run("owner vanishes", func(t *testing.T) {
		c := join()
		o.closeBy <- websocket.CloseError{} // no close frame, as a killed node
		if code, reason, _ := c.closed(); code != 0 || reason != "" {
			t.Fatalf("client got close %d %q, want none (904 in the SDK)", code, reason)
		}
		recv(t, o.closed)
	})
	t.Run("client vanishes", func(t *testing.T) {
		c := join()
		c.conn.CloseNow()
		if err := recv(t, o.closed); websocket.CloseStatus(err) != -1 {
			t.Fatalf("owner saw %v, want a lost connection", err)
		}
	})
	n.a.waitFor("sessions on A end", func() bool { return n.a.gw.Sessions() == 0 })
}

// allocate posts an SDK allocation request to apURL and returns servers[0].
func allocate(t *testing.T, apURL, appID, cname string) (string, int) {
	t.Helper()
	inner, _ := json.Marshal(map[string]any{"command": "convergeAllocateEdge", "sid": "AB", "appId": appID,
		"uid": "1", "cname": cname, "ts": 1})
	body, _ := json.Marshal(map[string]any{"service_name": "miniapp", "json_body": string(inner)})
	res, err := http.Post(apURL, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var outer struct {
		JSONBody string `json:"json_body"`
	}
	var ans struct {
		Code    int `json:"code"`
		Servers []struct {
			Address string `json:"address"`
			WS      int    `json:"ws"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(b, &outer); err != nil || res.StatusCode != 200 {
		t.Fatalf("allocation: %d %s", res.StatusCode, b)
	}
	if err := json.Unmarshal([]byte(outer.JSONBody), &ans); err != nil || ans.Code != 200 || len(ans.Servers) != 1 {
		t.Fatalf("allocation answer %s", outer.JSONBody)
	}
	return ans.Servers[0].Address, ans.Servers[0].WS
}

func TestClusterAllocationNamesOwner(t *testing.T) {
	n := newTwoNodes(t, nil, nil)
	app := n.b.app.ID
	n.ra.node(Route{Node: "c", Address: "192.0.2.10", Port: 8443, WebSocketURL: "ws://192.0.2.10:8443/api"})
	n.ra.own("far", "c")
	cases := []struct {
		name, app, cname string
		fail             bool
		addr             string
		port             int
	}{
		{"owned by B", app, "room", false, "127.0.0.1", port(n.b)},
		{"owned by C", app, "far", false, "192.0.2.10", 8443},
		{"owned by A", app, "lobby", false, "127.0.0.1", port(n.a)},
		{"unknown app", "0123456789abcdef0123456789abcdef", "room", false, "127.0.0.1", port(n.a)},
		{"bad channel name", app, strings.Repeat("x", 65), false, "127.0.0.1", port(n.a)},
		{"store unreachable", app, "room", true, "127.0.0.1", port(n.a)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.fail {
				n.ra.fail(errors.New("dial tcp 127.0.0.1:6379: connect: connection refused"))
				defer n.ra.fail(nil)
			}
			addr, p := allocate(t, n.a.apURL, c.app, c.cname)
			if addr != c.addr || p != c.port {
				t.Fatalf("servers[0] %s:%d, want %s:%d", addr, p, c.addr, c.port)
			}
		})
	}
}

func TestClusterPlacementFailure(t *testing.T) {
	n := newTwoNodes(t, nil, nil)
	app := n.b.app.ID
	// Before the outage: a member of A's own channel, one forwarded to B.
	l := n.dialNode(n.a, "", nil)
	l.uid = "1"
	l.ok("join", l.joinFields(n.b.token("lobby", "1", 3600), "lobby", "1", "broadcaster"))
	f := n.dialNode(n.a, "", nil)
	f.join("2", "broadcaster")
	watcher := n.dialNode(n.b, "", nil)
	watcher.join("3", "audience")

	n.ra.fail(fmt.Errorf("cluster: owner of %s/room: %w", app, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")))
	for _, ch := range []string{"room", "lobby"} {
		c := n.dialNode(n.a, "", nil)
		c.uid = "9"
		r := c.fail("join", c.joinFields(n.b.token(ch, "9", 3600), ch, "9", "broadcaster"),
			strconv.Itoa(errcode.CodeOverloaded), "cluster unavailable: the cluster store cannot be reached")
		if strings.Contains(r.String(), "6379") {
			t.Fatalf("the reply leaks the cause: %s", r)
		}
	}
	// A catalogue error from the Router is answered as it is.
	n.ra.fail(errcode.Overloaded("no node takes new channels"))
	c := n.dialNode(n.a, "", nil)
	c.uid = "9"
	c.fail("join", c.joinFields(n.b.token("room", "9", 3600), "room", "9", "broadcaster"), "502", "vendor over load: no node takes new channels")

	// Existing sessions keep working, local and forwarded.
	if u, _ := l.ok("publish", nil).resp()["url"].(string); u == "" {
		t.Fatal("no push URL")
	}
	f.ok("publish", nil)
	want(t, watcher.pushes(), "stream-added 2")
	f.ok("mute_local", map[string]any{"target": "video", "mute": true})
	want(t, watcher.pushes(), "video-mute 2 mute=true")

	// An owner that cannot be reached: the same code, saying so.
	n.ra.fail(nil)
	n.ra.node(Route{Node: "dead", Address: "127.0.0.1", Port: 1, WebSocketURL: "ws://127.0.0.1:1/api"})
	n.ra.own("gone", "dead")
	d := n.dialNode(n.a, "", nil)
	d.uid = "9"
	d.fail("join", d.joinFields(n.b.token("gone", "9", 3600), "gone", "9", "broadcaster"),
		"502", `cluster unavailable: node "dead", which serves this channel, cannot be reached`)

	// The store is back: joins work again, without a restart; the socket
	// refused before may join.
	d.ok("join", d.joinFields(n.b.token("room", "9", 3600), "room", "9", "audience"))
	want(t, d.pushes(), "stream-added 2", "video-mute 2 mute=true")
	if _, ok := n.b.mgr.Member(app, "room", 9); !ok {
		t.Fatal("the join after recovery did not reach the owner")
	}
}

func TestClusterForwardedAddress(t *testing.T) {
	n := newTwoNodes(t, nil, nil)
	app := n.b.app.ID
	ip := func(t *testing.T, uid uint32) string {
		t.Helper()
		mi, ok := n.b.mgr.Member(app, "room", uid)
		if !ok {
			t.Fatalf("uid %d is not a member on the owner", uid)
		}
		return mi.RemoteIP
	}
	spoof := "203.0.113.9:4444"
	cases := []struct {
		name string
		node *env
		from string
		hdr  http.Header
		want string
	}{
		{"forwarded by A", n.a, "127.0.0.2", nil, "127.0.0.2"},
		{"forwarded by A, client claims an address", n.a, "127.0.0.3", http.Header{ForwardedForHeader: {spoof}}, "127.0.0.3"},
		{"header without credential", n.b, "127.0.0.4", http.Header{ForwardedForHeader: {spoof}}, "127.0.0.4"},
		{"header with a wrong credential", n.b, "127.0.0.5", http.Header{ForwardedForHeader: {spoof}, testClusterHeader: {"cluster-secreT"}}, "127.0.0.5"},
		{"trusted header, not an address", n.b, "127.0.0.6", http.Header{ForwardedForHeader: {"<script>"}, testClusterHeader: {"cluster-secret"}}, "127.0.0.6"},
		{"genuine node", n.b, "127.0.0.7", http.Header{ForwardedForHeader: {spoof}, testClusterHeader: {"cluster-secret"}}, "203.0.113.9"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			uid := strconv.Itoa(10 + i)
			cl := n.dialNode(c.node, c.from, c.hdr)
			cl.join(uid, "audience")
			if got := ip(t, uint32(10+i)); got != c.want {
				t.Fatalf("owner sees the member at %q, want %q", got, c.want)
			}
		})
	}

	// Bans by address apply to the real client, not to the forwarding node.
	n.b.mgr.Ban(channel.BanRule{App: app, Channel: "room", IP: "127.0.0.1", Until: n.b.clk.Now().Add(time.Hour)})
	n.b.mgr.Ban(channel.BanRule{App: app, Channel: "room", IP: "127.0.0.8", Until: n.b.clk.Now().Add(time.Hour)})
	ok := n.dialNode(n.a, "127.0.0.9", nil)
	ok.join("30", "audience")
	for _, c := range []struct {
		name string
		node *env
		hdr  http.Header
	}{
		{"through A", n.a, nil},
		{"through A, claiming another address", n.a, http.Header{ForwardedForHeader: {spoof}}},
		{"on B, claiming another address", n.b, http.Header{ForwardedForHeader: {spoof}}},
	} {
		t.Run("banned "+c.name, func(t *testing.T) {
			b := n.dialNode(c.node, "127.0.0.8", c.hdr)
			b.uid = "31"
			b.fail("join", b.joinFields(n.b.token("room", "31", 3600), "room", "31", "audience"), "433", "banned")
		})
	}

}

// A single node (no Router) ignores the forwarded header, credential or not.
func TestForwardedHeaderIgnoredWithoutRouter(t *testing.T) {
	spoof := "203.0.113.9:4444"
	s := newEnv(t, nil)
	c := dialWS(s, s.wsURL, "127.0.0.10", http.Header{ForwardedForHeader: {spoof}, testClusterHeader: {"cluster-secret"}})
	c.join("40", "audience")
	if mi, _ := s.mgr.Member(s.app.ID, "room", 40); mi.RemoteIP != "127.0.0.10" {
		t.Fatalf("single node sees %q", mi.RemoteIP)
	}
}

func TestClusterNoSecondForward(t *testing.T) {
	n := newTwoNodes(t, nil, nil)
	n.rb.own("moved", "a") // B thinks A owns it; A would send it to B
	c := n.dialNode(n.b, "", http.Header{ForwardedForHeader: {"127.0.0.1:5"}, testClusterHeader: {"cluster-secret"}})
	c.uid = "5"
	c.fail("join", c.joinFields(n.b.token("moved", "5", 3600), "moved", "5", "audience"),
		"502", `cluster unavailable: the channel moved to node "a" while this join was forwarded`)
	if n.a.gw.Sessions() != 0 {
		t.Fatal("B forwarded a forwarded join")
	}
}

func TestClusterIdleForwardedClientTimesOut(t *testing.T) {
	n := newTwoNodes(t, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond }, func(c *Config) { c.IdleTimeout = time.Hour })
	app := n.b.app.ID
	p := n.dialNode(n.a, "", nil)
	p.join("1", "broadcaster")
	// Silence: A's idle timer closes the client; the owner learns it was a
	// timeout, as if its own idle timer had fired.
	if code, _, _ := p.closed(); code != 0 {
		t.Fatalf("idle close %d, want an abrupt close", code)
	}
	n.b.waitFor("member detached on the owner", func() bool {
		mi, ok := n.b.mgr.Member(app, "room", 1)
		return ok && mi.Detached
	})
	n.b.clk.Advance(defaults.GatewayGraceTimeout + time.Second)
	n.b.waitFor("leave event", func() bool { return len(n.b.leftEvents()) > 0 })
	if left := n.b.leftEvents(); len(left) != 1 || left[0].UID != 1 || left[0].LeaveReason != errcode.LeaveTimeout {
		t.Fatalf("left %+v, want uid 1 with reason timeout", left)
	}
}

func TestClusterDrainClosesForwarded(t *testing.T) {
	n := newTwoNodes(t, nil, nil)
	app := n.b.app.ID
	p := n.dialNode(n.a, "", nil)
	p.join("1", "broadcaster")
	n.a.cancel() // A shuts down
	code, reason, rest := p.closed()
	if code != websocket.StatusNormalClosure || reason != "close" || len(rest) != 1 || rest[0].code() != "501" {
		t.Fatalf("close %d %q after %v, want the 501 push and 1000 close", code, reason, rest)
	}
	n.a.wg.Wait()
	// The owner keeps the member for its grace period: the rejoin resumes it.
	n.b.waitFor("member detached on the owner", func() bool {
		mi, ok := n.b.mgr.Member(app, "room", 1)
		return ok && mi.Detached
	})
	q := n.dialNode(n.b, "", nil)
	q.join("1", "broadcaster")
}

func TestClusterOwnerDrainReachesForwarded(t *testing.T) {
	n := newTwoNodes(t, nil, nil)
	p := n.dialNode(n.a, "", nil)
	p.join("1", "broadcaster")
	n.b.cancel() // the owner shuts down: its 501 and close reach the client
	code, reason, rest := p.closed()
	if code != websocket.StatusNormalClosure || reason != "close" || len(rest) != 1 || rest[0].code() != "501" {
		t.Fatalf("close %d %q after %v, want the 501 push and 1000 close", code, reason, rest)
	}
	n.b.wg.Wait()
	n.a.waitFor("the forwarding session ends", func() bool { return n.a.gw.Sessions() == 0 })
}

func TestClusterForwardNoLeak(t *testing.T) {
	n := newTwoNodes(t, nil, nil)
	app := n.b.app.ID
	settle := func(what string, cond func() bool) {
		t.Helper()
		n.a.waitFor(what, cond)
	}
	warm := n.dialNode(n.a, "", nil) // the first dial starts transports' goroutines
	warm.join("100", "audience")
	warm.conn.CloseNow()
	settle("warm-up ends", func() bool { return n.a.gw.Sessions() == 0 && n.b.gw.Sessions() == 0 })
	base := runtime.NumGoroutine()

	const count = 20
	var cs []*client
	for i := range count {
		c := n.dialNode(n.a, "", nil)
		c.join(strconv.Itoa(i+1), "broadcaster")
		cs = append(cs, c)
	}
	if n.a.gw.Sessions() != count || n.b.gw.Sessions() != count {
		t.Fatalf("sessions A %d, B %d; want %d each", n.a.gw.Sessions(), n.b.gw.Sessions(), count)
	}
	for i, c := range cs {
		switch i % 4 {
		case 0: // the client leaves and closes
			c.ok("leave", nil)
			_ = c.conn.Close(websocket.StatusNormalClosure, "")
		case 1: // the client vanishes
			c.conn.CloseNow()
		case 2: // the owner kicks it
			if err := n.b.mgr.Kick(app, "room", uint32(i+1), "test"); err != nil {
				t.Fatal(err)
			}
			c.closed()
		case 3: // the owner drops its own side (as if its connection died)
			n.b.gw.mu.Lock()
			for s := range n.b.gw.sessions {
				s.mu.Lock()
				if s.st != nil && s.st.ref.UID == uint32(i+1) {
					_ = s.conn.CloseNow()
				}
				s.mu.Unlock()
			}
			n.b.gw.mu.Unlock()
			c.closed()
		}
	}
	settle("all sessions end", func() bool { return n.a.gw.Sessions() == 0 && n.b.gw.Sessions() == 0 })
	settle("goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base })
}
