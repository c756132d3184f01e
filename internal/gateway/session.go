package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/logsafe"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// session is one WebSocket connection. Its handler goroutine reads and
// handles requests strictly in order; a writer goroutine (owned by run) sends
// the queued frames. Channel events arrive through Notify (under the channel
// lock) and token/URL timers fire on the clock's goroutines; both only take
// s.mu and queue frames. Nothing holding s.mu ever calls the channel Manager.
type session struct {
	g        *Gateway
	conn     *websocket.Conn
	id       string
	remote   string
	rtmpHost string
	httpBase string
	log      *slog.Logger
	idle     *time.Timer
	idleHit  atomic.Bool
	// joinTimer closes the socket if it has not joined in time; the first
	// join stops it.
	joinTimer *time.Timer

	// handler goroutine only
	tokens    float64
	lastToken time.Time

	mu         sync.Mutex
	out        [][]byte
	queued     int
	closing    bool          // a terminal close is queued; later frames are dropped
	closeDelay time.Duration // delay before the terminal close frame
	ended      bool          // the connection is gone
	abort      bool          // close abruptly (send queue overflow)
	writing    bool          // a writer goroutine is draining out
	writers    sync.WaitGroup
	done       chan struct{}   // closed when the connection is gone
	held       []channel.Event // events that arrive while a join reply is pending
	holding    bool
	st         *member // nil when not joined
	joinedOnce bool    // a join succeeded on this socket
	leaveClose *time.Timer
	// closeCode and closeReason replace the terminal close's 1000 "close"
	// when set (a forwarded session closes as the owner closed; closeAbrupt:
	// without a close frame).
	closeCode   websocket.StatusCode
	closeReason string
	fwd         *forward // set once: the session is forwarded to the channel's node
	// relayed: another node of the cluster forwarded this client (remote is
	// the client's address it vouched for).
	relayed bool
}

// member is the session's joined state. Timers compare their *member with
// s.st, so a timer of an old membership does nothing.
type member struct {
	app      store.App
	ref      channel.Ref
	uidStr   string // decimal uid (stream names)
	account  string
	claimUID string // the uid the token must name: decimal uid or account
	noToken  bool   // joined with the appId as key
	grant    token.Grant
	willExp  channel.Timer
	expired  channel.Timer
	refresh  channel.Timer
	subs     map[uint32]bool // subscribed targets -> FLV URL
	// edges: the subscriptions whose play URLs name an edge node (a
	// cluster's PlayHoster); refreshed URLs keep naming it.
	edges map[uint32]playHost
}

func (m *member) stopTimers() {
	for _, t := range []channel.Timer{m.willExp, m.expired, m.refresh} {
		if t != nil {
			t.Stop()
		}
	}
	m.willExp, m.expired, m.refresh = nil, nil, nil
}

func newSession(g *Gateway, conn *websocket.Conn, r *http.Request) *session {
	s := &session{g: g, conn: conn, id: newSessionID(), remote: r.RemoteAddr, done: make(chan struct{}),
		tokens: float64(g.cfg.RateBurst), lastToken: time.Now()}
	s.rtmpHost, s.httpBase = g.hosts(r)
	fwdFor, ignored := g.forwardedFor(r)
	if fwdFor != "" {
		s.remote, s.relayed = fwdFor, true
		s.log = g.log.With("session", s.id, "remote", s.remote, "via", r.RemoteAddr)
	} else {
		s.log = g.log.With("session", s.id, "remote", s.remote)
	}
	if ignored {
		s.log.Info("untrusted "+ForwardedForHeader+" header ignored", "value", logsafe.String(r.Header.Get(ForwardedForHeader)))
	}
	return s
}

// run serves the connection until it ends, then cleans up.
func (s *session) run(ctx context.Context) {
	s.idle = time.AfterFunc(s.g.cfg.IdleTimeout, func() {
		s.idleHit.Store(true)
		_ = s.conn.CloseNow()
	})
	s.joinTimer = time.AfterFunc(s.g.cfg.JoinTimeout, func() {
		s.log.Info("socket closed", "reason", "no join within the join timeout", "timeout", s.g.cfg.JoinTimeout)
		_ = s.conn.Close(websocket.StatusPolicyViolation, "join within "+s.g.cfg.JoinTimeout.String())
	})

	err := s.readLoop(ctx)

	s.idle.Stop()
	s.joinTimer.Stop()
	reason := errcode.LeaveNetwork
	if s.idleHit.Load() || (s.relayed && websocket.CloseStatus(err) == statusForwardedIdle) {
		reason = errcode.LeaveTimeout
	}
	s.mu.Lock()
	s.ended = true
	st := s.st
	s.st = nil
	if st != nil {
		st.stopTimers()
	}
	if s.leaveClose != nil {
		s.leaveClose.Stop()
	}
	joined := s.joinedOnce
	fwd := s.fwd
	close(s.done)
	s.mu.Unlock()
	if fwd != nil {
		s.endForward(fwd, err)
	}
	if !joined && strings.Contains(err.Error(), "read limited at") { // readLoop ends only with an error
		// coder/websocket has closed the socket with 1009 (message too big).
		s.log.Info("socket closed", "reason", "frame over the pre-join limit", "limit", s.g.cfg.PreJoinMaxBytes)
	}
	if st != nil {
		grace := s.g.cfg.Grace
		if derr := s.g.channels.Detach(st.ref, reason, grace); derr == nil {
			s.log.Info("client connection lost: member kept for the grace period", "app", st.ref.App, "channel", st.ref.Channel, "uid", st.ref.UID,
				"leave_reason", int(reason), "reason", reason.String(), "grace", grace, "err", err)
		}
	}
	s.writers.Wait()
	_ = s.conn.CloseNow()
}

// readLoop serves the socket's messages; it returns only when reading fails,
// so its error is never nil.
func (s *session) readLoop(ctx context.Context) error {
	for {
		typ, data, err := s.conn.Read(ctx)
		if err != nil {
			return err
		}
		s.idle.Reset(s.g.cfg.IdleTimeout)
		if typ != websocket.MessageText {
			// Binary frames take a token like any other frame: a flood of
			// them is answered with 429, not with one 430 each.
			if !s.allow() {
				s.send(s.tooMany(nil))
				continue
			}
			s.send(encodeReply(nil, errcode.BadRequest("binary frames are not supported; send JSON text"), nil))
			continue
		}
		s.handleOnFreshStack(ctx, data)
		if f := s.forwarding(); f != nil {
			return s.pipe(ctx, f)
		}
	}
}

// handleOnFreshStack runs handle on a short-lived goroutine and waits for it.
// Requests stay strictly ordered; the point is memory: JSON and token work
// grows a stack to 16 KB, and the reader goroutine that idles in Read for the
// whole session would keep that growth.
func (s *session) handleOnFreshStack(ctx context.Context, data []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			// A bug must cost one reply, not the node: answer 500 and log it.
			if v := recover(); v != nil {
				s.log.Error("panic while handling a request", "panic", v, "stack", string(debug.Stack()))
				s.send(encodeReply(nil, errcode.Internal(fmt.Errorf("panic: %v", v)), nil))
			}
		}()
		s.handle(ctx, data)
	}()
	<-done
}

// kickLocked starts the writer goroutine if there is work and none runs;
// s.mu held. The writer exits when the queue is empty, so an idle session
// holds one goroutine (its handler), not two. run waits for it.
func (s *session) kickLocked() {
	if s.writing || (len(s.out) == 0 && !s.closing) {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.writing = true
	s.writers.Add(1)
	go func() {
		defer s.writers.Done()
		s.drain()
	}()
}

// drain sends queued frames, then the terminal close if one is queued.
func (s *session) drain() {
	for {
		s.mu.Lock()
		frames := s.out
		s.out, s.queued = nil, 0
		closing, delay, abort := s.closing, s.closeDelay, s.abort
		code, reason := s.closeCode, s.closeReason
		if len(frames) == 0 && !closing {
			s.writing = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if abort {
			_ = s.conn.CloseNow()
			return
		}
		for _, f := range frames {
			ctx, cancel := context.WithTimeout(context.Background(), s.g.cfg.WriteTimeout)
			err := s.conn.Write(ctx, websocket.MessageText, f)
			cancel()
			if err != nil {
				_ = s.conn.CloseNow()
				return
			}
		}
		if !closing {
			continue
		}
		s.mu.Lock()
		more := len(s.out) > 0 // queued before the close was requested
		s.mu.Unlock()
		if more {
			continue
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return
			}
		}
		switch code {
		case 0:
			// Reason "close" keeps the SDK from reporting 904 and rejoining (3.6).
			_ = s.conn.Close(websocket.StatusNormalClosure, "close")
		case closeAbrupt:
			_ = s.conn.CloseNow()
		default:
			_ = s.conn.Close(code, reason)
		}
		return
	}
}

// queueLocked queues a frame; s.mu held. A client that falls too far behind
// is disconnected.
func (s *session) queueLocked(frame []byte) {
	if s.closing || s.ended {
		return
	}
	if s.queued >= s.g.cfg.MaxQueue {
		// The writer drops the queue and closes the connection abruptly; the
		// member gets its grace period like any lost socket.
		s.log.Warn("client too slow to read its messages: closing its connection", "queued", s.queued)
		s.closing, s.abort = true, true
		s.out, s.queued = nil, 0
		s.kickLocked()
		return
	}
	s.out = append(s.out, frame)
	s.queued++
	s.kickLocked()
}

func (s *session) send(frames ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range frames {
		s.queueLocked(f)
	}
}

// terminate pushes an explanation and then closes with reason "close" after
// delay. The member, if any, is left with reason (drain) — callers that
// already removed it clear s.st first.
func (s *session) terminate(explanation []byte, delay time.Duration, reason errcode.LeaveReason) {
	s.mu.Lock()
	st := s.st
	s.st = nil
	if st != nil {
		st.stopTimers()
	}
	s.queueLocked(explanation)
	s.closing, s.closeDelay = true, delay
	s.kickLocked()
	s.mu.Unlock()
	if st != nil {
		_ = s.g.channels.Leave(st.ref, reason)
		s.log.Info("session closed by server", "app", st.ref.App, "channel", st.ref.Channel,
			"uid", st.ref.UID, "leave_reason", int(reason), "reason", reason.String())
	}
}

// Notify implements channel.Endpoint: it turns channel events into pushes.
func (s *session) Notify(ev channel.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holding {
		s.held = append(s.held, ev)
		return
	}
	s.eventLocked(ev)
}

func (s *session) eventLocked(ev channel.Event) {
	switch ev.Kind {
	case channel.EventStreamStarted:
		s.queueLocked(encodePush(uidStatus("stream-added", ev.UID)))
	case channel.EventStreamStopped:
		if s.st != nil {
			delete(s.st.subs, ev.UID)
			delete(s.st.edges, ev.UID)
		}
		s.queueLocked(encodePush(uidStatus("stream-removed", ev.UID)))
	case channel.EventMuteChanged:
		action := "audio-mute"
		if ev.Media == channel.MediaVideo {
			action = "video-mute"
		}
		s.queueLocked(encodePush(muteStatus(action, ev.UID, ev.Muted)))
	case channel.EventRotationChanged:
		rot := ev.Rotation
		uid := ev.UID
		s.queueLocked(encodePush(&status{Action: "video-rotation", UID: &uid, Rotation: &rot}))
	case channel.EventKicked:
		st := s.st
		if st == nil || st.ref.UID != ev.UID {
			return
		}
		s.st = nil
		st.stopTimers()
		if ev.LeaveReason == errcode.LeaveUIDConflict {
			s.queueLocked(encodeErrorPush(ev.Err))
		} else if ev.Err != nil {
			// The catalogue's banned error (433) with the status, as for
			// key-expired: the SDK emits error, then client-banned.
			s.queueLocked(encodeStatusPush(ev.Err, &status{Action: "client-is-banned-by-server"}))
		} else {
			s.queueLocked(encodePush(&status{Action: "client-is-banned-by-server"}))
		}
		s.closing = true
		s.kickLocked()
		s.log.Info("session ended: member removed by the server", "app", st.ref.App, "channel", st.ref.Channel, "uid", st.ref.UID,
			"leave_reason", int(ev.LeaveReason), "reason", ev.Err.Message())
	}
}

// allow applies the per-connection request rate limit (a token bucket).
func (s *session) allow() bool {
	now := time.Now()
	s.tokens += now.Sub(s.lastToken).Seconds() * s.g.cfg.RateLimit
	s.lastToken = now
	if burst := float64(s.g.cfg.RateBurst); s.tokens > burst {
		s.tokens = burst
	}
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

type pong struct {
	Command string `json:"command"`
	TS      int64  `json:"ts"`
}

// tooMany is the 429 reply of a frame over the connection's rate limit.
func (s *session) tooMany(requestID json.RawMessage) []byte {
	return encodeReply(requestID, errcode.TooManyRequests("at most "+
		strconv.FormatFloat(s.g.cfg.RateLimit, 'f', -1, 64)+" requests per second per connection"), nil)
}

// handle answers one frame; every request gets exactly one reply. Every
// frame takes a token from the connection's rate limit first, heartbeats and
// malformed frames included (the SDK pings every 3 s, far below the limit),
// so no kind of frame can be flooded at the cost of a reply each.
func (s *session) handle(ctx context.Context, data []byte) {
	req, err := decodeRequest(data)
	if !s.allow() {
		s.g.countError(errcode.CodeTooManyRequests)
		s.send(s.tooMany(req.RequestID))
		return
	}
	if err != nil {
		e := errcode.From(err)
		s.g.countError(e.Code)
		s.send(encodeReply(req.RequestID, e, nil))
		return
	}
	if req.Command == "ping" {
		b, _ := json.Marshal(pong{Command: "pong", TS: time.Now().UnixMilli()})
		s.send(b)
		return
	}
	resp, after, err := s.dispatch(ctx, req)
	if err != nil {
		e := errcode.From(err)
		s.g.countError(e.Code)
		if e.Code == errcode.CodeInternal {
			s.log.Error("request failed", "action", logsafe.String(req.Action), "err", err)
		}
		s.send(encodeReply(req.RequestID, e, nil))
		return
	}
	if after != nil {
		after(encodeReply(req.RequestID, nil, resp))
		return
	}
	s.send(encodeReply(req.RequestID, nil, resp))
}
