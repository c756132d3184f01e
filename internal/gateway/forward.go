package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/minirtc/minirtc/internal/errcode"
)

// A client that reaches a node which does not own its channel is served, not
// refused: once its join has passed the checks that need no channel (app,
// channel name, uid, key, role), the session dials the owner's gateway
// WebSocket, sends the join frame as it arrived, and from then on only pipes
// frames: the client's to the owner (its reader, on the session goroutine),
// the owner's to the client (fromOwner, through the session's send queue, so
// the queue bound and the write timeout hold as for any session). The owner
// answers every request, pings included, and applies its own rate limit and
// timers; this node keeps the client-side limits: frame size and idle
// timeout. Either side ending ends the other, with the same close code and
// reason; an owner lost without a close frame (a node killed) drops the
// client without one too, so the SDK takes its reconnect path (904).

// Forwarding limits; each states its reason.
const (
	// forwardDialTimeout bounds opening the owner's WebSocket: nodes of one
	// cluster are close, and the SDK gives up on a join after 10 s.
	forwardDialTimeout = 5 * time.Second
	// forwardReadLimit bounds one frame from the owner: the owner builds
	// its frames itself (at most a few KB), this only guards against a
	// broken peer.
	forwardReadLimit = 1 << 20
)

// statusForwardedIdle closes a forwarded WebSocket whose client was silent
// for the idle timeout, so the owner records the member's loss as a timeout
// (leave reason 2), as it would for its own client.
const statusForwardedIdle websocket.StatusCode = 4000

// closeAbrupt as a session's closeCode: drop the connection without a close
// frame once the queued frames are out.
const closeAbrupt websocket.StatusCode = -1

// forward is a session's link to the node that owns its channel.
type forward struct {
	conn  *websocket.Conn
	route Route
	done  chan struct{} // closed when fromOwner has returned
	end   error         // why the owner's side ended; read after done
}

// forwardJoin opens the owner's WebSocket, hands it the client's join frame
// raw, and switches the session to piping (readLoop sees s.fwd). It returns
// a catalogue error when the owner cannot be reached.
func (s *session) forwardJoin(ctx context.Context, rt Route, raw []byte) error {
	if rt.WebSocketURL == "" {
		return errcode.ClusterUnavailable(fmt.Sprintf("node %q, which serves this channel, has no known address; retry the join in a few seconds", rt.Node))
	}
	hdr := http.Header{}
	for k, v := range s.g.cfg.Router.ForwardHeader() {
		hdr[k] = append([]string(nil), v...)
	}
	hdr.Set(ForwardedForHeader, s.remote)
	dctx, cancel := context.WithTimeout(ctx, forwardDialTimeout)
	defer cancel()
	up, _, err := websocket.Dial(dctx, rt.WebSocketURL, &websocket.DialOptions{HTTPHeader: hdr})
	if err == nil {
		up.SetReadLimit(forwardReadLimit)
		if err = up.Write(dctx, websocket.MessageText, raw); err != nil {
			_ = up.CloseNow()
		}
	}
	if err != nil {
		return errcode.ClusterUnavailable(fmt.Sprintf("node %q, which serves this channel, cannot be reached; retry the join in a few seconds", rt.Node)).
			WithCause(fmt.Errorf("gateway: forward to %s: %w", rt.WebSocketURL, err))
	}
	f := &forward{conn: up, route: rt, done: make(chan struct{})}
	s.mu.Lock()
	s.fwd = f
	// The owner judges the join (and times its own join timeout); the key
	// was valid here, so the socket may send full-size frames.
	s.joinedOnce = true
	s.joinTimer.Stop()
	if s.leaveClose != nil {
		s.leaveClose.Stop()
		s.leaveClose = nil
	}
	s.conn.SetReadLimit(s.g.cfg.MaxMessageBytes)
	s.mu.Unlock()
	go s.fromOwner(ctx, f)
	s.log.Info("session forwarded to the channel's node", "node", rt.Node, "url", rt.WebSocketURL)
	return nil
}

// forwarding returns the session's forward, nil while it serves itself.
func (s *session) forwarding() *forward {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fwd
}

// pipe carries the client's frames to the owner until the client's side
// ends. A failed write drops the owner's connection; fromOwner then closes
// the client's, which ends the loop.
func (s *session) pipe(ctx context.Context, f *forward) error {
	for {
		typ, data, err := s.conn.Read(ctx)
		if err != nil {
			return err
		}
		s.idle.Reset(s.g.cfg.IdleTimeout)
		wctx, cancel := context.WithTimeout(ctx, s.g.cfg.WriteTimeout)
		err = f.conn.Write(wctx, typ, data)
		cancel()
		if err != nil {
			_ = f.conn.CloseNow()
		}
	}
}

// fromOwner queues the owner's frames for the client until the owner's side
// ends, then closes the client's connection the same way.
// ctx is the session's; endForward ends it in practice by closing the owner's
// socket.
func (s *session) fromOwner(ctx context.Context, f *forward) {
	defer close(f.done)
	for {
		typ, data, err := f.conn.Read(ctx)
		if err != nil {
			f.end = err
			s.closeLike(err)
			return
		}
		if typ != websocket.MessageText {
			continue // the gateway protocol has only text frames
		}
		s.send(data)
	}
}

// closeLike queues the client's close as the owner closed: its code and
// reason, or abruptly when it vanished without a close frame.
func (s *session) closeLike(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.ended {
		return
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) && wireCloseCode(ce.Code) {
		s.closeCode, s.closeReason = ce.Code, ce.Reason
	} else {
		s.closeCode = closeAbrupt
	}
	s.closing = true
	s.kickLocked()
}

// endForward closes the owner's side after the client's ended with err, and
// waits for fromOwner.
func (s *session) endForward(f *forward, err error) {
	var ce websocket.CloseError
	switch {
	case s.idleHit.Load():
		_ = f.conn.Close(statusForwardedIdle, "client idle")
	case errors.As(err, &ce) && wireCloseCode(ce.Code):
		// A close handshake, bounded by coder/websocket (5 s to write, 5 s
		// for the answer).
		_ = f.conn.Close(ce.Code, ce.Reason)
	default:
		_ = f.conn.CloseNow()
	}
	<-f.done
	s.log.Info("forwarded session ended", "node", f.route.Node,
		"client_close", closeText(err), "node_close", closeText(f.end))
}

// wireCloseCode reports whether a received close code can be sent on (1005,
// "no status", is sent as a close frame without a code).
func wireCloseCode(c websocket.StatusCode) bool {
	switch {
	case c == websocket.StatusNoStatusRcvd:
		return true
	case c == 1004 || c == websocket.StatusAbnormalClosure || c == websocket.StatusTLSHandshake:
		return false
	case c >= websocket.StatusNormalClosure && c <= websocket.StatusBadGateway:
		return true
	}
	return c >= 3000 && c <= 4999
}

// closeText describes how a connection ended, for logs.
func closeText(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("%d %q", int(ce.Code), ce.Reason)
	}
	if err == nil {
		return ""
	}
	return "no close frame"
}
