package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// pingInterval is the SDK's heartbeat period (docs/protocol.md 3.3).
const pingInterval = 3 * time.Second

// maxSigMessage bounds a gateway frame we accept; replies are a few hundred
// bytes.
const maxSigMessage = 64 << 10

// sigUser is one simulated mini program user's identity.
type sigUser struct {
	appID, channel, key string
	uid                 uint32
	role                string // "broadcaster" or "audience"
	sid                 string
}

// sigReply is a gateway reply (docs/protocol.md 3.4).
type sigReply struct {
	Code   int
	Reason string
	Resp   json.RawMessage
	at     time.Time // when the read loop received it
}

// errSigClosed is returned for requests on a connection that ended.
var errSigClosed = errors.New("gateway connection closed")

// sigConn is one user's gateway WebSocket. It owns a read loop and a pinger
// goroutine; close ends both and waits for them.
type sigConn struct {
	c    *websocket.Conn
	u    sigUser
	stop chan struct{} // closed by close
	done chan struct{} // closed when the read loop ends
	wg   sync.WaitGroup

	mu        sync.Mutex
	requestID int64 // last used; shared with pings
	seq       int64 // last used; requests only
	pending   map[int64]chan sigReply
	pushErr   string // last error push (code != 200), e.g. a uid conflict
	closeOnce sync.Once
}

// newSID returns a session id like the SDK's: 32 upper-case hex characters.
func newSID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// allocate calls the allocation endpoint (docs/protocol.md 2.1) and
// checks that the answer is what the SDK needs.
func allocate(ctx context.Context, client *http.Client, base string, u sigUser) error {
	inner, _ := json.Marshal(map[string]any{
		"command": "convergeAllocateEdge", "sid": u.sid, "appId": u.appID, "token": u.appID,
		"uid": strconv.FormatUint(uint64(u.uid), 10), "cname": u.channel, "ts": time.Now().Unix(),
		"version": "1.1.0", "seq": 0, "requestId": 1,
	})
	body, _ := json.Marshal(map[string]any{"service_name": "miniapp", "json_body": string(inner)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("allocate: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Packet-URI", "61")
	req.Header.Set("X-Packet-Service-Type", "0")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("allocate: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSigMessage))
	if err != nil {
		return fmt.Errorf("allocate: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("allocate: HTTP %s", resp.Status)
	}
	var outer struct {
		JSONBody string `json:"json_body"`
	}
	var ans struct {
		Vid     json.RawMessage  `json:"vid"`
		Servers []map[string]any `json:"servers"`
	}
	if err := json.Unmarshal(data, &outer); err != nil {
		return fmt.Errorf("allocate: answer: %w", err)
	}
	if err := json.Unmarshal([]byte(outer.JSONBody), &ans); err != nil || len(ans.Vid) == 0 || ans.Servers == nil {
		return fmt.Errorf("allocate: answer lacks json_body.vid or servers: %.200s", data)
	}
	return nil
}

// wsURL maps the server's http(s) base URL to its gateway WebSocket URL.
func wsURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("server URL %q: want http:// or https://", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api"
	return u.String(), nil
}

// dialSig opens the gateway WebSocket and starts its read loop and pinger.
func dialSig(ctx context.Context, client *http.Client, wsu string, u sigUser) (*sigConn, error) {
	c, _, err := websocket.Dial(ctx, wsu, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		return nil, fmt.Errorf("gateway websocket: %w", err)
	}
	c.SetReadLimit(maxSigMessage)
	s := &sigConn{c: c, u: u, stop: make(chan struct{}), done: make(chan struct{}),
		requestID: 2, seq: 1, pending: map[int64]chan sigReply{}}
	s.wg.Add(2)
	go s.readLoop()
	go s.pinger()
	return s, nil
}

func (s *sigConn) readLoop() {
	defer s.wg.Done()
	defer close(s.done)
	for {
		_, data, err := s.c.Read(context.Background())
		if err != nil {
			return
		}
		at := time.Now()
		var m struct {
			Command        string          `json:"command"`
			RequestID      *int64          `json:"requestId"`
			Code           *int            `json:"code"`
			Reason         string          `json:"reason"`
			Msg            string          `json:"msg"`
			ServerResponse json.RawMessage `json:"serverResponse"`
		}
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		if m.Command == "serverStatus" || m.RequestID == nil {
			if m.Code != nil && *m.Code != 200 && m.Command == "serverStatus" {
				s.mu.Lock()
				s.pushErr = fmt.Sprintf("%d %s", *m.Code, m.Reason)
				s.mu.Unlock()
			}
			continue
		}
		r := sigReply{Code: 0, Reason: m.Reason, Resp: m.ServerResponse, at: at}
		if m.Code != nil {
			r.Code = *m.Code
		}
		if m.Msg != "" {
			r.Reason = m.Msg
		}
		s.mu.Lock()
		ch := s.pending[*m.RequestID]
		delete(s.pending, *m.RequestID)
		s.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

func (s *sigConn) envelope(id, seq int64) map[string]any {
	return map[string]any{
		"appId": s.u.appID, "cname": s.u.channel, "uid": strconv.FormatUint(uint64(s.u.uid), 10),
		"sid": s.u.sid, "ts": time.Now().Unix(), "requestId": id, "seq": seq, "sdkVersion": "1.1.0",
	}
}

func (s *sigConn) pinger() {
	defer s.wg.Done()
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.requestID++
		id := s.requestID
		s.mu.Unlock()
		m := s.envelope(id, 0)
		delete(m, "seq")
		delete(m, "sdkVersion")
		m["command"] = "ping"
		b, _ := json.Marshal(m)
		ctx, cancel := context.WithTimeout(context.Background(), pingInterval)
		err := s.c.Write(ctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			return
		}
	}
}

// request sends one action and waits for its reply. rtt runs from just
// before the write to the moment the read loop received the reply.
func (s *sigConn) request(ctx context.Context, action string, fields map[string]any) (sigReply, time.Duration, error) {
	ch := make(chan sigReply, 1)
	s.mu.Lock()
	s.requestID++
	s.seq++
	id := s.requestID
	m := s.envelope(id, s.seq)
	s.pending[id] = ch
	s.mu.Unlock()
	cr := map[string]any{"action": action}
	for k, v := range fields {
		cr[k] = v
	}
	m["clientRequest"] = cr
	b, _ := json.Marshal(m)
	t0 := time.Now()
	if err := s.c.Write(ctx, websocket.MessageText, b); err != nil {
		return sigReply{}, 0, fmt.Errorf("%s: %w", action, err)
	}
	select {
	case r := <-ch:
		rtt := r.at.Sub(t0)
		if r.Code != 200 {
			return r, rtt, fmt.Errorf("%s: refused: %d %s", action, r.Code, r.Reason)
		}
		return r, rtt, nil
	case <-s.done:
		s.mu.Lock()
		why := s.pushErr
		s.mu.Unlock()
		if why != "" {
			return sigReply{}, 0, fmt.Errorf("%s: %w (%s)", action, errSigClosed, why)
		}
		return sigReply{}, 0, fmt.Errorf("%s: %w", action, errSigClosed)
	case <-ctx.Done():
		return sigReply{}, 0, fmt.Errorf("%s: no reply: %w", action, ctx.Err())
	}
}

// join sends the SDK's join request (docs/protocol.md 4.1).
func (s *sigConn) join(ctx context.Context) (time.Duration, error) {
	uid := strconv.FormatUint(uint64(s.u.uid), 10)
	_, rtt, err := s.request(ctx, "join", map[string]any{
		"role": s.u.role, "appId": s.u.appID, "customAudioCodec": nil,
		"key_vocs": s.u.key, "key_vos": s.u.key, "channel_name": s.u.channel,
		"uid": uid, "vid": "1", "device": "minirtc-bench", "os": "linux",
		"version": "2.6.4", "clientType": "wechat", "audio_only": false, "uidType": 0,
	})
	return rtt, err
}

// urlReply extracts serverResponse.url.
func urlReply(action string, r sigReply) (string, error) {
	var v struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(r.Resp, &v); err != nil || v.URL == "" {
		return "", fmt.Errorf("%s: reply without serverResponse.url: %s", action, r.Resp)
	}
	return v.URL, nil
}

// publish asks for the push URL (4.3).
func (s *sigConn) publish(ctx context.Context) (string, time.Duration, error) {
	r, rtt, err := s.request(ctx, "publish", map[string]any{"uid": s.u.uid})
	if err != nil {
		return "", rtt, err
	}
	u, err := urlReply("publish", r)
	return u, rtt, err
}

// subscribe asks for a play URL of target (4.5), as HTTP-FLV when flv.
func (s *sigConn) subscribe(ctx context.Context, target uint32, flv bool) (string, time.Duration, error) {
	r, rtt, err := s.request(ctx, "subscribe", map[string]any{
		"uid": target, "options": map[string]any{"audio": true, "video": true, "flv": flv},
	})
	if err != nil {
		return "", rtt, err
	}
	u, err := urlReply("subscribe", r)
	return u, rtt, err
}

// close sends leave (best effort, short timeout), closes the socket with
// reason "close" as the SDK does, and waits for the goroutines.
func (s *sigConn) close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _, _ = s.request(ctx, "leave", map[string]any{"uid": strconv.FormatUint(uint64(s.u.uid), 10)})
		cancel()
		_ = s.c.Close(websocket.StatusNormalClosure, "close")
		s.wg.Wait()
	})
}
