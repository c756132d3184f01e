package bench

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	mc "github.com/minirtc/minirtc/client"
)

// sigUser is one simulated mini program user's identity.
type sigUser struct {
	appID, channel, key string
	uid                 uint32
	role                string // "broadcaster" or "audience"
	sid                 string
}

// sigConn is one user's gateway WebSocket: the shared signalling client
// (package client) with its read loop and heartbeat; close ends both and
// waits for them.
type sigConn struct {
	cc *mc.Conn
	c  *websocket.Conn // cc's socket, for dropping it without a close
	u  sigUser
}

// newSID returns a session id like the SDK's: 32 upper-case hex characters.
func newSID() string { return mc.NewSID() }

// allocate calls the allocation endpoint (docs/protocol.md 2.1) and
// checks that the answer is what the SDK needs.
func allocate(ctx context.Context, client *http.Client, base string, u sigUser) error {
	ap, err := mc.APURL(base)
	if err != nil {
		return fmt.Errorf("allocate: %w", err)
	}
	_, err = mc.Allocate(ctx, client, ap, mc.AllocateRequest{AppID: u.appID, Channel: u.channel,
		UID: strconv.FormatUint(uint64(u.uid), 10), SID: u.sid})
	return err
}

// wsURL maps the server's http(s) base URL to its gateway WebSocket URL.
func wsURL(base string) (string, error) { return mc.WSURL(base) }

// dialSig opens the gateway WebSocket with the SDK's heartbeat. The bench
// reads no pushes: the client keeps only the last one.
func dialSig(ctx context.Context, client *http.Client, wsu string, u sigUser) (*sigConn, error) {
	c, err := mc.Dial(ctx, wsu, mc.WithHTTPClient(client), mc.WithSID(u.sid),
		mc.WithIdentity(u.appID, u.channel, strconv.FormatUint(uint64(u.uid), 10)),
		mc.WithPingInterval(mc.DefaultPingInterval), mc.WithReadLimit(64<<10), mc.WithQueueSize(1))
	if err != nil {
		return nil, err
	}
	return &sigConn{cc: c, c: c.WebSocket(), u: u}, nil
}

// request sends one action and waits for its reply. rtt runs from just
// before the write to the moment the read loop received the reply.
func (s *sigConn) request(ctx context.Context, action string, fields map[string]any) (mc.Message, time.Duration, error) {
	t0 := time.Now()
	m, err := s.cc.Call(ctx, action, fields)
	var rtt time.Duration
	if !m.At.IsZero() {
		rtt = m.At.Sub(t0)
	}
	return m, rtt, err
}

// join sends the SDK's join request (docs/protocol.md 4.1).
func (s *sigConn) join(ctx context.Context) (time.Duration, error) {
	p := mc.JoinParams{AppID: s.u.appID, Channel: s.u.channel, UID: strconv.FormatUint(uint64(s.u.uid), 10),
		Key: s.u.key, Role: s.u.role, Extra: map[string]any{"device": "minirtc-bench", "os": "linux"}}
	_, rtt, err := s.request(ctx, "join", p.Fields())
	return rtt, err
}

// publish asks for the push URL (4.3).
func (s *sigConn) publish(ctx context.Context) (string, time.Duration, error) {
	m, rtt, err := s.request(ctx, "publish", map[string]any{"uid": s.u.uid})
	if err != nil {
		return "", rtt, err
	}
	u, _ := m.Response()["url"].(string)
	if u == "" {
		return "", rtt, fmt.Errorf("publish: reply without serverResponse.url: %s", m)
	}
	return u, rtt, nil
}

// subscribe asks for a play URL of target (4.5), as HTTP-FLV when flv.
func (s *sigConn) subscribe(ctx context.Context, target uint32, flv bool) (string, time.Duration, error) {
	m, rtt, err := s.request(ctx, "subscribe", map[string]any{
		"uid": target, "options": map[string]any{"audio": true, "video": true, "flv": flv},
	})
	if err != nil {
		return "", rtt, err
	}
	u, _ := m.Response()["url"].(string)
	if u == "" {
		return "", rtt, fmt.Errorf("subscribe: reply without serverResponse.url: %s", m)
	}
	return u, rtt, nil
}

// close sends leave (best effort, short timeout), closes the socket with
// reason "close" as the SDK does, and waits for the goroutines.
func (s *sigConn) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.cc.Leave(ctx)
}
