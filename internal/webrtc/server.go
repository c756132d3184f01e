package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minirtc/minirtc/internal/egress"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/listen"
	"github.com/minirtc/minirtc/internal/logsafe"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/pion/ice/v4"
	pion "github.com/pion/webrtc/v4"
)

// Authorizer decides whether a media connection may publish or play a
// stream: the admission seam (internal/admission.Gate).
type Authorizer interface {
	Authorize(ctx context.Context, action token.Action, stream string, q url.Values) (token.MediaGrant, error)
}

// Channels makes WHIP publishers members of their channel, like a mini
// program that joined and published, and carries video rotation between the
// channel and WebRTC. The admission seam implements it
// (internal/admission.Members); it may be nil (media only).
type Channels interface {
	// JoinPublisher makes uid a publisher of the channel: it publishes for
	// uid's member when uid is already in the channel (leave then only
	// unpublishes), or joins uid as a broadcaster that publishes (leave then
	// ends the membership). kicked is called at most once if the member goes
	// (leave, kick, ban, the same uid joining elsewhere). wildcard: the
	// client's token names no uid (uid 0), so it may only publish for a uid
	// that joined the channel over the gateway, never join one itself.
	// leave's published says whether the session's media reached the hub: a
	// session that announced nothing and sent nothing leaves the member's
	// stream alone (its own pusher may be live).
	JoinPublisher(app, channel, uid, session string, wildcard bool, kicked func(reason error)) (leave func(published bool), err error)
	// SetRotation reports the rotation (degrees clockwise) of uid's video.
	SetRotation(app, channel, uid string, degrees int)
	// Rotation is the known rotation of uid's video (0 when unknown).
	Rotation(app, channel, uid string) int
}

// maxOfferSize bounds the SDP body read from clients.
const maxOfferSize = 64 << 10

// Server serves WHIP and WHEP. Create it with New, add its routes with
// Register, and run it with Run.
type Server struct {
	cfg   Config
	log   *slog.Logger
	hub   *media.Hub
	auth  Authorizer
	chans Channels
	api   apis
	// redirector sends requests for streams served by another node there
	// (cluster mode); nil: everything is served here.
	redirector Redirector
	conn       net.PacketConn
	udp        *retryConn // conn as the mux reads it
	mux        ice.UDPMux
	now        func() time.Time

	mu       sync.Mutex
	sessions map[string]session
	// ended remembers recently ended session ids, so that a client's
	// DELETE after its connection already closed still gets 200.
	ended recentIDs
	// playing counts the attached WHEP sessions by stream (Stats.Feeds).
	playing map[media.Key]int
	// publishers are the WHIP sessions of this node by stream.
	publishers map[media.Key]*whipSession
	closed     bool
	// egress writes WHEP sessions' frames (one loop per core, started with
	// the first session; writers.go); stopEgress stops it.
	egress     *egress.Group
	stopEgress context.CancelFunc
	wg         sync.WaitGroup // every goroutine the server started
	stop       chan struct{}  // closed when Run's context ends
	// resendsRefused counts the NACKed packets WHEP sessions did not
	// resend (resend.go).
	resendsRefused atomic.Uint64
	// meter receives the metrics (SetMeter); never nil.
	meter Meter
}

// session is a WHIP or WHEP session.
type session interface {
	close(reason error)
	pc() *pion.PeerConnection
	sid() string
	neg() *negotiation
}

// New builds the server and opens its UDP socket. chans may be nil.
func New(cfg Config, hub *media.Hub, auth Authorizer, chans Channels, log *slog.Logger) (*Server, error) {
	if log == nil || hub == nil || auth == nil {
		return nil, errors.New("webrtc: nil logger, hub or authorizer")
	}
	cfg = cfg.withDefaults()
	log = log.With("component", "webrtc")
	api, conn, rc, udpMux, err := newAPI(cfg, log.With("listener", "webrtc-udp"))
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: log, hub: hub, auth: auth, chans: chans,
		api: api, conn: conn, udp: rc, mux: udpMux, now: time.Now,
		sessions:   make(map[string]session),
		playing:    make(map[media.Key]int),
		publishers: make(map[media.Key]*whipSession),
		stop:       make(chan struct{}),
		meter:      noMeter{},
	}
	s.checkCandidates()
	return s, nil
}

// checkCandidates warns at start when answers would carry no ICE
// candidate (requests are then refused with errNoCandidates).
func (s *Server) checkCandidates() {
	n, err := probeCandidates(s.api.play)
	addr := s.cfg.UDPAddr
	if s.conn != nil {
		addr = s.conn.LocalAddr().String()
	} else if s.cfg.PortMin != 0 || s.cfg.PortMax != 0 {
		addr = fmt.Sprintf("ports %d-%d", s.cfg.PortMin, s.cfg.PortMax)
	}
	switch {
	case err != nil:
		s.log.Warn("could not check which ICE candidates WebRTC answers will carry", "udp", addr, "err", err)
	case n == 0:
		s.log.Warn("WebRTC has no usable address: answers would carry no ICE candidate, so WHIP and WHEP requests will be refused",
			"udp", addr, "fix", noCandidatesFix)
	}
}

// UDPAddr is the shared UDP address (nil with a port range).
func (s *Server) UDPAddr() net.Addr {
	if s.conn == nil {
		return nil
	}
	return s.conn.LocalAddr()
}

// UDPStats are the shared UDP socket's read failures and state (nil with
// a port range): it is stopped once a read failed for good.
func (s *Server) UDPStats() *listen.Stats {
	if s.udp == nil {
		return nil
	}
	return s.udp.stats
}

// Register adds the WHIP/WHEP routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /whip/{app}/{channel}/{uid}", s.handleWHIP)
	mux.HandleFunc("POST /whep/{app}/{channel}/{uid}", s.handleWHEP)
	mux.HandleFunc("OPTIONS /whip/{app}/{channel}/{uid}", s.handleOptions)
	mux.HandleFunc("OPTIONS /whep/{app}/{channel}/{uid}", s.handleOptions)
	mux.HandleFunc("DELETE /webrtc/session/{id}", s.handleDelete)
	mux.HandleFunc("PATCH /webrtc/session/{id}", s.handlePatch)
	mux.HandleFunc("OPTIONS /webrtc/session/{id}", s.handleOptions)
	mux.HandleFunc("GET /webrtc/", s.handlePage)
}

// Run serves until ctx ends, then closes every session and waits for all
// goroutines.
func (s *Server) Run(ctx context.Context) error {
	<-ctx.Done()
	s.mu.Lock()
	s.closed = true
	close(s.stop)
	if s.stopEgress != nil {
		s.stopEgress()
	}
	sessions := make([]session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	reason := errcode.ServiceExited("node shutting down")
	for _, ss := range sessions {
		ss.close(reason)
	}
	s.wg.Wait()
	if s.mux != nil {
		_ = s.mux.Close() // shutting down: the sessions are gone
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
	return nil
}

// Stats are the server's counters. Feeds is the number of streams WHEP
// sessions play (each session is its own hub reader). ResendsRefused is how
// many packets WHEP clients NACKed that were not resent (over the resend
// budget, or resent moments ago) since the server started.
type Stats struct {
	Sessions, Feeds int
	ResendsRefused  uint64
}

// Stats returns the current counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Sessions: len(s.sessions), Feeds: len(s.playing), ResendsRefused: s.resendsRefused.Load()}
}

// goRun starts f as a server-owned goroutine; false when shutting down.
func (s *Server) goRun(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

func (s *Server) addSession(id string, ss session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errcode.ServiceExited("node shutting down")
	}
	if len(s.sessions) >= s.cfg.MaxSessions {
		return errcode.Overloaded(fmt.Sprintf("WebRTC session limit of this node (%d) reached", s.cfg.MaxSessions))
	}
	s.sessions[id] = ss
	s.meter.ConnOpened()
	return nil
}

func (s *Server) removeSession(id string) {
	s.mu.Lock()
	if _, ok := s.sessions[id]; ok {
		delete(s.sessions, id)
		s.ended.add(id)
		s.meter.ConnClosed()
	}
	s.mu.Unlock()
}

// endedRecently reports whether id is a session that ended lately.
func (s *Server) endedRecently(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended.has(id)
}

// recentIDsCap bounds recentIDs: a few KB of ids, far more sessions than
// end between a client closing its connection and sending its DELETE.
const recentIDsCap = 1024

// recentIDs holds the last recentIDsCap ids added (a ring plus an index).
type recentIDs struct {
	ring [recentIDsCap]string
	next int
	set  map[string]struct{}
}

func (r *recentIDs) add(id string) {
	if r.set == nil {
		r.set = make(map[string]struct{}, recentIDsCap)
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = id
	r.set[id] = struct{}{}
	r.next = (r.next + 1) % recentIDsCap
}

func (r *recentIDs) has(id string) bool {
	_, ok := r.set[id]
	return ok
}

func (s *Server) session(id string) session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeError sends a catalogue error as JSON with its HTTP status.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := errcode.From(err)
	status := e.HTTPStatus()
	s.meter.Refused(e.Code)
	if e.Code == errcode.CodeInternal {
		s.log.Error("request failed", "path", logsafe.String(r.URL.Path), "err", err)
	} else {
		s.log.Info("request refused", "path", logsafe.String(r.URL.Path), "status", status, "reason", logsafe.String(e.Message()))
	}
	setCORS(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}{e.Code, e.Message()})
}

func setCORS(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Location, ETag, Link")
}

func (s *Server) handleOptions(w http.ResponseWriter, r *http.Request) {
	setCORS(w)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST, DELETE, PATCH, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	h.Set("Accept-Post", "application/sdp")
	h.Set("Accept-Patch", sdpfragType)
	w.WriteHeader(http.StatusNoContent)
}

// request is a parsed and authorized WHIP/WHEP POST.
type request struct {
	key   media.Key
	grant token.MediaGrant
	offer string
	info  offerInfo
}

// parseRequest checks the path, the token and the offer, in that order.
func (s *Server) parseRequest(r *http.Request, action token.Action) (request, error) {
	var req request
	app, ch, uid := r.PathValue("app"), r.PathValue("channel"), r.PathValue("uid")
	if app == "" || ch == "" || uid == "" {
		return req, errcode.BadRequest("the path must be /whip|whep/{appId}/{channel}/{uid}")
	}
	authz := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(authz, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return req, errcode.Unauthorized("send Authorization: Bearer <AccessToken> for this channel")
	}
	q := url.Values{"token": {tok}}
	if v := r.URL.Query().Get("uid"); v != "" {
		q.Set("uid", v) // the viewer uid of a 006 token (WHEP)
	}
	grant, err := s.auth.Authorize(r.Context(), action, token.StreamName(app, ch, uid), q)
	if err != nil {
		return req, err
	}
	req.key = media.Key{AppID: app, Channel: ch, UID: uid}
	req.grant = grant
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/sdp" {
		e := errcode.BadRequest("the body must be an SDP offer with Content-Type: application/sdp")
		e.Status = http.StatusUnsupportedMediaType
		return req, e
	}
	if r.ContentLength > maxOfferSize {
		return req, tooLarge("offer", maxOfferSize)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxOfferSize+1))
	if err != nil {
		return req, errcode.BadRequest("reading the offer: " + err.Error())
	}
	if len(body) > maxOfferSize {
		return req, tooLarge("offer", maxOfferSize)
	}
	req.offer = string(body)
	req.info, err = checkOffer(req.offer)
	return req, err
}

// tooLarge is the 413 for a request body over its limit.
func tooLarge(what string, limit int) error {
	e := errcode.BadRequest(fmt.Sprintf("the %s is larger than %d bytes", what, limit))
	e.Status = http.StatusRequestEntityTooLarge
	return e
}

// answer sets the offer, creates the answer and waits for ICE gathering
// (host candidates on a shared port: immediate), so the answer is complete.
func answer(ctx context.Context, pc *pion.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return "", errcode.CodecNotAcceptable("the offer cannot be answered: " + err.Error())
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", errcode.CodecNotAcceptable("no answer for this offer: " + err.Error())
	}
	return setLocalAndGather(ctx, pc, ans)
}

// gatherWait bounds the wait for ICE gathering; what was gathered by then
// is answered and the rest is lost (no server-side trickle).
const gatherWait = 5 * time.Second

// setLocalAndGather sets the answer and waits for ICE gathering (host
// candidates on a shared port: immediate), so the answer is complete.
func setLocalAndGather(ctx context.Context, pc *pion.PeerConnection, ans pion.SessionDescription) (string, error) {
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("webrtc: set local description: %w", err)
	}
	t := time.NewTimer(gatherWait)
	defer t.Stop()
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-t.C:
	}
	sdp := pc.LocalDescription().SDP
	if candidateCount(sdp) == 0 {
		return "", errNoCandidates()
	}
	return sdp, nil
}

// writeAnswer sends a new session's 201: its answer, its URL and the
// entity-tag of its ICE session.
func writeAnswer(w http.ResponseWriter, id, etag, sdp string) {
	setCORS(w)
	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Location", "/webrtc/session/"+id)
	h.Set("ETag", etag)
	h.Set("Accept-Patch", sdpfragType)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, sdp) //nolint:gosec // G705: application/sdp with nosniff, never rendered as HTML (TestAnswersAreNotSniffed)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ss := s.session(id)
	if ss == nil {
		if !s.endedRecently(id) {
			s.writeError(w, r, errcode.NotFound("no such WebRTC session"))
			return
		}
		// Already over (the client closed its connection first, as
		// whip-whep-js does): the DELETE's goal is reached.
	} else {
		ss.close(nil)
	}
	setCORS(w)
	w.WriteHeader(http.StatusOK)
}
