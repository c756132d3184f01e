package flv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/egress"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/logsafe"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
)

// authorizer is the admission seam (internal/admission.Gate) as FLV uses it.
type authorizer interface {
	Authorize(ctx context.Context, action token.Action, stream string, q url.Values) (token.MediaGrant, error)
}

// Config holds the FLV server's knobs (config media.writeTimeout and
// media.batchInterval); zero values mean the defaults of
// internal/config/defaults.
type Config struct {
	WriteTimeout time.Duration
	// BatchInterval is the egress loop's least time between two passes
	// (0: none); < 0: no loop, each viewer's goroutine writes its batches.
	// WebSocket and HTTP/2 viewers, written by their goroutines, wait this
	// long between two writes.
	BatchInterval time.Duration
}

// Server serves HTTP-FLV (GET /live/{stream}.flv, chunked) and WebSocket-FLV
// (the same URL with a WebSocket upgrade). It is an http.Handler; sessions
// run on their request goroutines. Close ends them all and waits.
type Server struct {
	cfg  Config
	hub  *media.Hub
	auth authorizer
	log  *slog.Logger

	mu       sync.Mutex
	closed   bool
	sessions map[*session]struct{}
	wg       sync.WaitGroup
	// egress writes the batches of HTTP/1.1 viewers (see session): the
	// node's shared loop (SetEgress), or the server's own, started with the
	// first such viewer and stopped by Close. nil until then, and always
	// when BatchInterval < 0 or the platform has no non-blocking writev.
	egress     *egress.Loop
	stopEgress context.CancelFunc
	// meter receives the metrics (SetMeter); never nil.
	meter Meter
}

// NewServer builds a Server.
func NewServer(cfg Config, hub *media.Hub, auth authorizer, log *slog.Logger) (*Server, error) {
	if hub == nil || auth == nil || log == nil {
		return nil, errors.New("flv: NewServer needs a hub, an authorizer and a logger")
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = defaults.MediaWriteTimeout
	}
	if cfg.BatchInterval == 0 {
		cfg.BatchInterval = defaults.MediaBatchInterval
	}
	return &Server{
		cfg:      cfg,
		hub:      hub,
		auth:     auth,
		log:      log.With("component", "flv"),
		sessions: make(map[*session]struct{}),
		meter:    noMeter{},
	}, nil
}

// Pattern is the ServeMux pattern the server answers.
const Pattern = "GET /live/{stream}"

// Register adds the server's route to mux.
func (s *Server) Register(mux *http.ServeMux) { mux.Handle(Pattern, s) }

// SetEgress makes the server's HTTP/1.1 viewers use l, a loop the caller
// runs and may share with other servers (one write loop per node), instead
// of a loop of the server's own. It does nothing when viewers are written by
// their own goroutines (BatchInterval < 0). Call it before serving.
func (s *Server) SetEgress(l *egress.Loop) {
	if s.cfg.BatchInterval < 0 {
		return
	}
	s.mu.Lock()
	s.egress = l
	s.mu.Unlock()
}

// Close ends every session and the server's own egress loop, and waits for
// them. Idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for ss := range s.sessions {
		ss.cancel()
	}
	if s.stopEgress != nil {
		s.stopEgress()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// lendTarget returns the egress loop, starting the server's own on first
// use, or nil when viewers are written by their own goroutines.
func (s *Server) lendTarget() *egress.Loop {
	if s.cfg.BatchInterval < 0 || !egress.Supported {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if s.egress == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.egress, s.stopEgress = egress.New(egress.Options{MinPass: s.cfg.BatchInterval}), cancel
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.egress.Run(ctx)
		}()
	}
	return s.egress
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	if name == "" {
		name = strings.TrimPrefix(r.URL.Path, "/live/")
	}
	stream, ok := strings.CutSuffix(name, ".flv")
	log := s.log.With("remote", r.RemoteAddr, "stream", logsafe.String(stream))
	s.meter.ConnOpened()
	defer s.meter.ConnClosed()
	if !ok {
		s.refuse(w, errcode.NotFound("FLV URLs end in .flv"))
		return
	}
	q, err := token.ParseMediaQuery(r.URL.RawQuery) // a raw '+' in ?token= stays '+'
	if err != nil {
		s.refuse(w, errcode.BadRequest("URL query: "+err.Error()))
		return
	}
	grant, err := s.auth.Authorize(r.Context(), token.ActionPlay, stream, q)
	if err != nil {
		ec := errcode.From(err)
		s.meter.Refused(ec.Code)
		log.Info("flv play refused", "code", ec.Code, "reason", logsafe.String(ec.Message()), "err", logsafe.Error(err))
		writeError(w, ec)
		return
	}
	ws := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ss := &session{srv: s, cancel: cancel, log: log.With("app", grant.AppID, "channel", grant.Channel, "uid", grant.UID, "ws", ws)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeError(w, errcode.ServiceExited("node shutting down"))
		return
	}
	s.sessions[ss] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, ss)
		s.mu.Unlock()
		s.wg.Done()
	}()

	key := media.Key{AppID: grant.AppID, Channel: grant.Channel, UID: grant.UID}
	// Audio: AAC, what live-player decodes (the hub derives it from Opus).
	rd, err := s.hub.Subscribe(key, media.SubscribeOptions{Viewer: grant.Viewer, Protocol: flvProtocol(ws), Remote: r.RemoteAddr, Audio: media.CodecAAC, WaitAudio: true, OnQueue: ss.due, OnClose: func(reason error) {
		// Once writing, a blocked write must be interrupted; before that the
		// session learns the reason from Next and still answers the viewer.
		// What is queued still goes out (the reader returns it before the
		// reason); a viewer stuck on a full socket is cut after DrainTime.
		if ss.writing.Load() {
			ss.kill(reason, func() *time.Timer { return time.AfterFunc(egress.DrainTime(s.cfg.BatchInterval), cancel) })
		}
		ss.due() // a lent viewer's Flush returns the reason
	}})
	if err != nil {
		ec := errcode.From(err)
		s.meter.Refused(ec.Code)
		ss.log.Info("flv play refused", "code", ec.Code, "reason", logsafe.String(ec.Message()))
		writeError(w, ec)
		return
	}
	defer rd.Close()
	// The viewer's access ending (leave, kick, ban, expiry) ends the reader
	// as a kick does (OnClose above).
	defer grant.Register(rd.End)()
	ss.rd = rd

	var out sink
	if ws {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			ss.log.Info("flv websocket upgrade failed", "err", err)
			return
		}
		c.SetReadLimit(4096)
		// Viewers send nothing; reading keeps control frames flowing and
		// notices a close.
		ctx = c.CloseRead(ctx)
		out = &wsSink{c: c, timeout: s.cfg.WriteTimeout}
		defer func() { _ = c.CloseNow() }() // after the close handshake, or instead of it
	} else if r.ProtoMajor == 1 {
		// HTTP/1.x: take the connection over and write each batch as one
		// chunk in one writev.
		nc, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			ss.log.Info("flv viewer: could not take over the HTTP connection", "err", err)
			return
		}
		defer func() { _ = nc.Close() }() // the viewer is gone or the stream ended
		var readerDone sync.WaitGroup
		readerDone.Add(1)
		go func() {
			// Viewers send nothing more; a read returns when they leave.
			defer readerDone.Done()
			defer cancel()
			var buf [256]byte
			for {
				if _, err := nc.Read(buf[:]); err != nil {
					return
				}
			}
		}()
		defer readerDone.Wait()
		defer func() { _ = nc.Close() }() // the viewer is gone or the stream ended
		// Cancellation interrupts a blocked write or read at once; end() may
		// still write the chunked terminator with a fresh deadline.
		stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
		defer stop()
		rs := &rawSink{out: egress.NewConn(nc, s.cfg.WriteTimeout)}
		out = rs
		if rs.out.Raw != nil {
			if l := s.lendTarget(); l != nil {
				ss.slot, ss.raws = l.Slot(ss), rs
				ss.dueSlot.Store(ss.slot)
			}
		}
	} else {
		out = &httpSink{w: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout}
	}
	ss.log.Info("flv viewer opened", "viewer", logsafe.String(grant.Viewer))
	s.meter.ReadStarted()
	defer s.meter.ReadEnded()
	err = ss.reason(ss.run(ctx, out))
	ss.stopCut()
	out.end(err)
	ss.log.Info("flv viewer closed", "reason", closeReason(err), "drops", rd.Drops())
}

func closeReason(err error) string {
	if ec, ok := errcode.As(err); ok {
		return ec.Message()
	}
	if err == nil {
		return "done"
	}
	return err.Error()
}

// refuse counts a refusal and answers it (writeError).
func (s *Server) refuse(w http.ResponseWriter, ec *errcode.Error) {
	s.meter.Refused(ec.Code)
	writeError(w, ec)
}

// writeError answers an HTTP request with the catalogue JSON body.
func writeError(w http.ResponseWriter, ec *errcode.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ec.HTTPStatus())
	_ = json.NewEncoder(w).Encode(struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}{ec.Code, ec.Message()})
}

// sink is where a session writes its tags.
type sink interface {
	// start is called once before the first write; a refusal before it can
	// still become an HTTP error.
	start() error
	write(bufs [][]byte) error
	// fail reports an error that ended the session before start.
	fail(err error)
	// end finishes a started response after the stream ended with err.
	end(err error)
}

type httpSink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (h *httpSink) start() error {
	hd := h.w.Header()
	hd.Set("Content-Type", "video/x-flv")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Access-Control-Allow-Origin", "*")
	h.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *httpSink) write(bufs [][]byte) error {
	_ = h.rc.SetWriteDeadline(time.Now().Add(h.timeout))
	for _, b := range bufs {
		if _, err := h.w.Write(b); err != nil {
			return fmt.Errorf("flv: write: %w", err)
		}
	}
	if err := h.rc.Flush(); err != nil {
		return fmt.Errorf("flv: flush: %w", err)
	}
	return nil
}

func (h *httpSink) fail(err error) { writeError(h.w, errcode.From(err)) }

func (h *httpSink) end(error) {}

type wsSink struct {
	c       *websocket.Conn
	timeout time.Duration
}

func (s *wsSink) start() error { return nil }

func (s *wsSink) write(bufs [][]byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	w, err := s.c.Writer(ctx, websocket.MessageBinary)
	if err != nil {
		return fmt.Errorf("flv: websocket writer: %w", err)
	}
	for _, b := range bufs {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("flv: websocket write: %w", err)
		}
	}
	return w.Close()
}

func (s *wsSink) end(err error) {
	if _, ok := errcode.As(err); ok {
		_ = s.c.Close(websocket.StatusNormalClosure, "stream ended")
	}
}

func (s *wsSink) fail(err error) {
	ec := errcode.From(err)
	reason := ec.Message()
	if len(reason) > 120 {
		reason = reason[:120]
	}
	_ = s.c.Close(websocket.StatusPolicyViolation, reason)
}

// rawSink writes an HTTP/1.1 chunked response on a hijacked connection: one
// chunk per batch, header and tags in one writev.
type rawSink struct {
	out     egress.Conn
	started bool
	line    []byte
	bufs    [][]byte
}

const flvResponseHead = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: video/x-flv\r\n" +
	"Transfer-Encoding: chunked\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Access-Control-Allow-Origin: *\r\n" +
	"Connection: close\r\n\r\n"

var crlf = []byte("\r\n")

func (s *rawSink) start() error {
	s.started = true
	s.line = append(s.line[:0], flvResponseHead...)
	return nil // sent with the first batch
}

// frame wraps bufs in one HTTP chunk (after the response head, the first
// time): the chunk size line, bufs, CRLF. The result is valid until the next
// frame.
func (s *rawSink) frame(bufs [][]byte) [][]byte {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	s.line = strconv.AppendInt(s.line, int64(n), 16)
	s.line = append(s.line, crlf...)
	s.bufs = append(append(append(egress.Recycle(s.bufs, egress.KeepCap), s.line), bufs...), crlf)
	s.line = s.line[:0]
	return s.bufs
}

func (s *rawSink) write(bufs [][]byte) error { return s.writeRaw(s.frame(bufs)) }

// writeRaw writes framed bytes, blocking, with a deadline.
func (s *rawSink) writeRaw(bufs [][]byte) error {
	if err := s.out.WriteBlocking(bufs); err != nil {
		return fmt.Errorf("flv: write: %w", err)
	}
	return nil
}

// fail writes a whole error response (the viewer is still waiting for one).
func (s *rawSink) fail(err error) {
	ec := errcode.From(err)
	body, _ := json.Marshal(struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}{ec.Code, ec.Message()})
	resp := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		ec.HTTPStatus(), http.StatusText(ec.HTTPStatus()), len(body)+1)
	_ = s.out.NC.SetWriteDeadline(time.Now().Add(s.out.Timeout))
	_, _ = s.out.NC.Write(append(append([]byte(resp), body...), '\n'))
}

// end terminates the chunked body when the stream ended normally.
func (s *rawSink) end(err error) {
	if _, ok := errcode.As(err); ok && s.started {
		_ = s.out.NC.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = s.out.NC.Write([]byte("0\r\n\r\n"))
	}
}

// Config returns the effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// flvProtocol names an FLV reader's protocol for operators (media.SubscribeOptions).
func flvProtocol(ws bool) string {
	if ws {
		return "ws-flv"
	}
	return "http-flv"
}
