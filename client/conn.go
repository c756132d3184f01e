package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// DefaultPingInterval is the SDK's heartbeat period (protocol 3.3); the
// gateway drops a connection silent for 10 s.
const DefaultPingInterval = 3 * time.Second

// defaultReadLimit bounds one frame from the server; replies and pushes are
// a few hundred bytes, 1 MiB leaves room for tests that provoke big ones.
const defaultReadLimit = 1 << 20

// defaultQueueSize bounds the frames kept for Next: more than a channel's
// worth of pushes between two reads.
const defaultQueueSize = 4096

// closeReason is what the SDK sends when it closes (protocol 3.6); the
// server treats the close as deliberate.
const closeReason = "close"

// writeTimeout bounds one frame's write. The WebSocket library closes the
// connection when a write's context ends, so writes do not use the
// caller's context (whose end would tear down the connection for one
// canceled request), only this bound: a socket that cannot take a small
// frame for this long is dead anyway.
const writeTimeout = 10 * time.Second

// ErrClosed is returned for requests on a connection that has ended.
var ErrClosed = errors.New("gateway connection closed")

// HandshakeError is a Dial whose upgrade request got an HTTP answer other
// than 101 Switching Protocols (a proxy that does not pass upgrades, a
// wrong path).
type HandshakeError struct {
	Status     string // "502 Bad Gateway"
	StatusCode int
	Err        error
}

// Error implements error.
func (e *HandshakeError) Error() string {
	return "upgrade answered " + e.Status + " instead of 101 Switching Protocols: " + e.Err.Error()
}

// Unwrap returns the WebSocket library's error.
func (e *HandshakeError) Unwrap() error { return e.Err }

// Option configures Dial.
type Option func(*options)

type options struct {
	http                *http.Client
	header              http.Header
	appID, channel, uid string
	sid                 string
	ping                time.Duration
	readLimit           int64
	queueSize           int
	firstRequest        int64
}

// WithHTTPClient dials with hc (TLS settings, proxies). Its Timeout is not
// applied to the connection's lifetime: Dial's context bounds the dial.
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.http = hc } }

// WithHeader adds headers to the upgrade request.
func WithHeader(h http.Header) Option { return func(o *options) { o.header = h } }

// WithIdentity sets the envelope's appId, cname and uid (protocol 3.2)
// before Join does; the server identifies members by connection, not by
// these fields.
func WithIdentity(appID, channel, uid string) Option {
	return func(o *options) { o.appID, o.channel, o.uid = appID, channel, uid }
}

// WithSID sets the SDK session id (default: 32 random upper-case hex digits).
func WithSID(sid string) Option { return func(o *options) { o.sid = sid } }

// WithPingInterval sends the SDK heartbeat every d (DefaultPingInterval
// for a member that stays joined longer than 10 s). Zero, the default,
// sends none: tests with fake clocks stay deterministic.
func WithPingInterval(d time.Duration) Option { return func(o *options) { o.ping = d } }

// WithReadLimit bounds one frame from the server (default 1 MiB).
func WithReadLimit(n int64) Option { return func(o *options) { o.readLimit = n } }

// WithQueueSize bounds the frames kept for Next (default 4096); when full,
// the oldest is dropped.
func WithQueueSize(n int) Option { return func(o *options) { o.queueSize = n } }

// WithFirstRequestID sets the first requestId (default 3, the SDK's join);
// seq follows it, one lower (at least 1).
func WithFirstRequestID(id int64) Option { return func(o *options) { o.firstRequest = id } }

// Conn is one gateway WebSocket. See the package comment for its
// goroutines; all methods are safe for concurrent use.
type Conn struct {
	ws     *websocket.Conn
	stop   context.CancelFunc // ends the read loop's context
	pinger context.CancelFunc // ends the heartbeat
	wg     sync.WaitGroup
	done   chan struct{} // closed when the read loop has ended
	notify chan struct{} // signalled (cap 1) when a frame is queued

	closeOnce sync.Once
	closeErr  error

	mu                  sync.Mutex
	appID, channel, uid string
	sid                 string
	lastID              int64 // last requestId used (requests and pings)
	lastSeq             int64 // last seq used (requests only)
	joinedUID           uint32
	waiters             map[int64]chan Message
	queue               []Message
	queueSize           int
	dropped             int
	closeCode           websocket.StatusCode
	closeText           string
	readErr             error
	lastErrPush         *Push // the last push with an error code
}

// Dial opens a gateway WebSocket at url (ws:// or wss://, the server's
// /api) and starts its read loop; ctx bounds the opening handshake only.
func Dial(ctx context.Context, url string, opts ...Option) (*Conn, error) {
	o := options{readLimit: defaultReadLimit, queueSize: defaultQueueSize, firstRequest: 3}
	for _, f := range opts {
		f(&o)
	}
	if o.sid == "" {
		o.sid = NewSID()
	}
	do := &websocket.DialOptions{HTTPHeader: o.header}
	if o.http != nil {
		hc := *o.http
		hc.Timeout = 0
		do.HTTPClient = &hc
	}
	ws, resp, err := websocket.Dial(ctx, url, do)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			err = &HandshakeError{Status: resp.Status, StatusCode: resp.StatusCode, Err: err}
		}
		return nil, fmt.Errorf("gateway websocket %s: %w", url, err)
	}
	ws.SetReadLimit(o.readLimit)
	c := &Conn{ws: ws, done: make(chan struct{}), notify: make(chan struct{}, 1),
		appID: o.appID, channel: o.channel, uid: o.uid, sid: o.sid,
		lastID: o.firstRequest - 1, lastSeq: max(o.firstRequest-2, 0),
		waiters: map[int64]chan Message{}, queueSize: max(o.queueSize, 1)}
	rctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	pctx, pstop := context.WithCancel(rctx)
	c.pinger = pstop
	c.wg.Add(1)
	go c.readLoop(rctx)
	if o.ping > 0 {
		c.wg.Add(1)
		go c.heartbeat(pctx, o.ping)
	}
	return c, nil
}

// NewSID returns a session id like the SDK's: 32 upper-case hex digits.
func NewSID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

func (c *Conn) readLoop(ctx context.Context) {
	defer c.wg.Done()
	defer close(c.done)
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode, c.closeText = ce.Code, ce.Reason
			}
			c.mu.Unlock()
			return
		}
		c.deliver(decodeMessage(typ, data, time.Now()))
	}
}

// deliver hands a reply to the Call waiting for it, or queues the frame.
func (c *Conn) deliver(m Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := m.RequestID(); ok && m.Command() != "serverStatus" {
		if w := c.waiters[id]; w != nil {
			delete(c.waiters, id)
			w <- m
			return
		}
	}
	if p, ok := m.Push(); ok && p.Code != 0 && p.Code != 200 {
		c.lastErrPush = &p
	}
	if len(c.queue) >= c.queueSize {
		c.queue[0] = Message{}
		c.queue = c.queue[1:]
		c.dropped++
	}
	c.queue = append(c.queue, m)
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *Conn) heartbeat(ctx context.Context, every time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
		}
		wctx, cancel := context.WithTimeout(ctx, every)
		err := c.Ping(wctx)
		cancel()
		if err != nil {
			return
		}
	}
}

// envelope is the SDK's envelope (protocol 3.2); a ping's (3.3) has no
// seq and sdkVersion.
func (c *Conn) envelope(id int64) map[string]any {
	return map[string]any{"appId": c.appID, "cname": c.channel, "uid": c.uid, "sid": c.sid,
		"requestId": id, "ts": time.Now().Unix()}
}

// SetIdentity changes the envelope's appId, cname and uid for the requests
// that follow.
func (c *Conn) SetIdentity(appID, channel, uid string) {
	c.mu.Lock()
	c.appID, c.channel, c.uid = appID, channel, uid
	c.mu.Unlock()
}

// Request is one request for Send: ID and Seq zero take the next numbers of
// the connection's counters.
type Request struct {
	ID     int64
	Seq    int64
	Action string
	Fields map[string]any // clientRequest fields; an "action" here replaces Action (to send a malformed one)
}

// Send writes a request in the SDK's envelope and returns its requestId,
// without waiting: its reply arrives through Next.
func (c *Conn) Send(ctx context.Context, r Request) (int64, error) {
	return c.send(ctx, r, nil)
}

func (c *Conn) send(ctx context.Context, r Request, wait chan Message) (int64, error) {
	cr := make(map[string]any, len(r.Fields)+1)
	cr["action"] = r.Action
	for k, v := range r.Fields {
		cr[k] = v
	}
	c.mu.Lock()
	if r.ID == 0 {
		c.lastID++
		r.ID = c.lastID
	}
	if r.Seq == 0 {
		c.lastSeq++
		r.Seq = c.lastSeq
	}
	env := c.envelope(r.ID)
	env["seq"], env["sdkVersion"] = r.Seq, "1.1.0"
	if wait != nil {
		c.waiters[r.ID] = wait
	}
	c.mu.Unlock()
	env["clientRequest"] = cr
	b, err := json.Marshal(env)
	if err == nil {
		err = c.write(ctx, b)
	}
	if err != nil {
		c.forget(r.ID)
		return r.ID, fmt.Errorf("%s: %w", r.Action, err)
	}
	return r.ID, nil
}

// write writes one text frame unless ctx has already ended; see
// writeTimeout.
func (c *Conn) write(ctx context.Context, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageText, b); err != nil {
		return c.closedErr(err)
	}
	return nil
}

func (c *Conn) forget(id int64) {
	c.mu.Lock()
	delete(c.waiters, id)
	c.mu.Unlock()
}

// closedErr explains a failure on a connection that may have ended.
func (c *Conn) closedErr(err error) error {
	select {
	case <-c.done:
	default:
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	why := ""
	if c.lastErrPush != nil {
		why = fmt.Sprintf(" after push %d %s", c.lastErrPush.Code, c.lastErrPush.Reason)
	}
	if c.closeCode != 0 || c.closeText != "" {
		why += fmt.Sprintf(" (close %d %q)", c.closeCode, c.closeText)
	}
	return fmt.Errorf("%w%s", ErrClosed, why)
}

// Call sends action with fields and waits for its reply. A reply with a
// code other than 200 returns the reply and *Error.
func (c *Conn) Call(ctx context.Context, action string, fields map[string]any) (Message, error) {
	w := make(chan Message, 1)
	id, err := c.send(ctx, Request{Action: action, Fields: fields}, w)
	if err != nil {
		return Message{}, err
	}
	select {
	case m := <-w:
		return m, replyError(action, m)
	case <-c.done:
		c.forget(id)
		select { // the reply may have come just before the close
		case m := <-w:
			return m, replyError(action, m)
		default:
		}
		return Message{}, fmt.Errorf("%s: %w", action, c.closedErr(nil))
	case <-ctx.Done():
		c.forget(id)
		return Message{}, fmt.Errorf("%s: no reply: %w", action, ctx.Err())
	}
}

// SendRaw writes data as one text frame, whatever it holds.
func (c *Conn) SendRaw(ctx context.Context, data []byte) error {
	return c.write(ctx, data)
}

// Ping sends the SDK heartbeat (protocol 3.3): command "ping" with a
// requestId from the request counter. The server's pong arrives through
// Next.
func (c *Conn) Ping(ctx context.Context) error {
	c.mu.Lock()
	c.lastID++
	env := c.envelope(c.lastID)
	c.mu.Unlock()
	env["command"] = "ping"
	b, _ := json.Marshal(env)
	return c.SendRaw(ctx, b)
}

// Next returns the oldest frame that no Call took: pushes, pongs, replies
// to Send (and late replies to Calls whose context ended), undecodable
// frames (Message.Err). It returns ErrClosed once the
// connection has ended and every frame has been taken.
func (c *Conn) Next(ctx context.Context) (Message, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue[0] = Message{}
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return m, nil
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-c.done:
			c.mu.Lock()
			n := len(c.queue)
			c.mu.Unlock()
			if n == 0 {
				return Message{}, c.closedErr(nil)
			}
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// NextPush returns the next push, skipping other frames.
func (c *Conn) NextPush(ctx context.Context) (Push, error) {
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return Push{}, err
		}
		if p, ok := m.Push(); ok {
			return p, nil
		}
	}
}

// WaitPush returns the first push for which match is true, skipping (and
// dropping) every frame before it. A nil match takes any push.
func (c *Conn) WaitPush(ctx context.Context, match func(Push) bool) (Push, error) {
	for {
		p, err := c.NextPush(ctx)
		if err != nil || match == nil || match(p) {
			return p, err
		}
	}
}

// Dropped is how many frames the full queue dropped.
func (c *Conn) Dropped() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// Done is closed when the connection has ended (server close, network
// loss, Close) and the read loop has stopped.
func (c *Conn) Done() <-chan struct{} { return c.done }

// CloseStatus is the close code and reason the server sent (-1 and "" when
// the connection ended without a close frame, or has not ended).
func (c *Conn) CloseStatus() (websocket.StatusCode, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeCode == 0 {
		return -1, c.closeText
	}
	return c.closeCode, c.closeText
}

// Err is why the read loop ended (nil while it runs).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}

// WebSocket is the underlying connection, for tests that need to write
// binary frames or close with their own code. Reading from it would race
// with the read loop.
func (c *Conn) WebSocket() *websocket.Conn { return c.ws }

// Close closes the socket the way the SDK does (code 1000, reason
// "close", protocol 3.6) and waits for the goroutines to end. It does not
// send leave: a member that closes without leave is kept for the grace
// period; use Leave to leave first.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.pinger()
		err := c.ws.Close(websocket.StatusNormalClosure, closeReason)
		c.stop()
		c.wg.Wait()
		if err != nil && !isClosedErr(err) {
			c.closeErr = fmt.Errorf("close: %w", err)
		}
	})
	return c.closeErr
}

// CloseNow drops the socket without a close frame, like a lost network,
// and waits for the goroutines to end.
func (c *Conn) CloseNow() {
	c.closeOnce.Do(func() {
		c.pinger()
		_ = c.ws.CloseNow()
		c.stop()
		c.wg.Wait()
	})
}

// isClosedErr reports whether err only says the connection had already
// ended.
func isClosedErr(err error) bool {
	var ce websocket.CloseError
	return errors.As(err, &ce) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "already wrote close")
}
