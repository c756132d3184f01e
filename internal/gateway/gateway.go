package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/diag"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/logsafe"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// appSource is the one store method the gateway needs.
type appSource interface {
	App(ctx context.Context, id string) (store.App, error)
}

// Gateway serves the allocation endpoint and the WebSocket sessions.
// Its handlers are safe for concurrent use.
type Gateway struct {
	cfg      Config
	apps     appSource
	channels *channel.Manager
	signer   *token.URLSigner
	log      *slog.Logger
	vid      atomic.Int64
	rtmpPort atomic.Int32 // Config.RTMPPort, or the real port set later with SetRTMPPort
	diag     atomic.Pointer[diag.Store]
	logsIP   *keyedLimiter // log uploads per client IP
	logsApp  *keyedLimiter // log uploads per app
	meter    Meter         // nil: no metrics (SetMeter)

	mu       sync.Mutex
	sessions map[*session]struct{}
	draining bool
	wg       sync.WaitGroup // one per live session handler
}

// New returns a gateway. channels is shared with the media plane; signer
// signs the media URLs the gateway hands out.
func New(cfg Config, apps appSource, channels *channel.Manager, signer *token.URLSigner, log *slog.Logger) (*Gateway, error) {
	if apps == nil || channels == nil || signer == nil || log == nil {
		return nil, errors.New("gateway: apps, channels, signer and log are required")
	}
	cfg = cfg.withDefaults()
	if cfg.URLTTL < 24*time.Hour {
		return nil, fmt.Errorf("gateway: URLTTL %v: signed URLs must last at least 24h", cfg.URLTTL)
	}
	if cfg.URLRefreshLead >= cfg.URLTTL {
		return nil, fmt.Errorf("gateway: URLRefreshLead %v must be below URLTTL %v", cfg.URLRefreshLead, cfg.URLTTL)
	}
	if cfg.RTMPPort < 1 || cfg.RTMPPort > 65535 {
		return nil, fmt.Errorf("gateway: RTMPPort %d: want 1..65535", cfg.RTMPPort)
	}
	g := &Gateway{cfg: cfg, apps: apps, channels: channels, signer: signer,
		log: log.With("component", "gateway"), sessions: make(map[*session]struct{}),
		logsIP:  newKeyedLimiter(cfg.LogUploadRatePerIP, cfg.LogUploadBurstPerIP, maxLimiterKeys),
		logsApp: newKeyedLimiter(cfg.LogUploadRatePerApp, cfg.LogUploadBurstPerApp, maxLimiterKeys)}
	n, err := rand.Int(rand.Reader, big.NewInt(1<<30))
	if err != nil {
		return nil, fmt.Errorf("gateway: random vid: %w", err)
	}
	g.vid.Store(n.Int64() + 1)
	g.rtmpPort.Store(int32(cfg.RTMPPort))
	return g, nil
}

// SetRTMPPort sets the RTMP port put into the URLs of sessions that connect
// from now on, for a node whose RTMP listener is bound (e.g. to port 0) after
// the gateway is built.
func (g *Gateway) SetRTMPPort(port int) {
	if port > 0 && port < 1<<16 {
		g.rtmpPort.Store(int32(port))
	}
}

// SetDiagnostics gives the gateway the store for client reports
// (report_* actions) and uploaded logs (POST /api/v1/logs). Without one,
// the report actions are unknown (430) and log uploads answer 404. Call it
// before serving.
func (g *Gateway) SetDiagnostics(d *diag.Store) { g.diag.Store(d) }

// Diagnostics returns the store set with SetDiagnostics (nil if none).
func (g *Gateway) Diagnostics() *diag.Store { return g.diag.Load() }

// Register adds POST /api/v1 (allocation), GET /api (WebSocket) and
// POST /api/v1/logs (SDK log upload) to mux. The two POST endpoints answer
// CORS preflights, so a web page served from another origin can join (the
// requests carry no cookies; the token in the body is the credential).
func (g *Gateway) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1", withCORS(g.ServeAllocate))
	mux.HandleFunc("OPTIONS /api/v1", withCORS(nil))
	mux.HandleFunc("GET /api", g.ServeWebSocket)
	mux.HandleFunc("POST /api/v1/logs", withCORS(g.ServeLogs))
	mux.HandleFunc("OPTIONS /api/v1/logs", withCORS(nil))
}

// withCORS allows any origin to call h; with h nil it answers the preflight.
func withCORS(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Origin", "*")
		if h == nil {
			hdr.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			hdr.Set("Access-Control-Allow-Headers", "Content-Type")
			hdr.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h(w, r)
	}
}

// Sessions is the number of open WebSocket sessions.
func (g *Gateway) Sessions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sessions)
}

// Run logs members removed while detached (grace expiry, kicks) and, when ctx ends,
// tells every session to rejoin elsewhere (501), closes them and waits for
// their handlers (at most DrainTimeout). It returns nil.
func (g *Gateway) Run(ctx context.Context) error {
	stop := g.channels.Observe(func(ev channel.Event) {
		if ev.Kind == channel.EventMemberLeft && ev.Detached {
			g.log.Info("member removed after its grace period", "app", ev.App, "channel", ev.Channel, "uid", ev.UID,
				"session", ev.Session, "leave_reason", int(ev.LeaveReason), "reason", ev.LeaveReason.String())
		}
	})
	defer stop()
	<-ctx.Done()
	g.mu.Lock()
	g.draining = true
	all := make([]*session, 0, len(g.sessions))
	for s := range g.sessions {
		all = append(all, s)
	}
	g.mu.Unlock()
	for _, s := range all {
		s.terminate(drainPush(), 0, errcode.LeaveDrain)
	}
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(g.cfg.DrainTimeout):
		g.mu.Lock()
		for s := range g.sessions {
			_ = s.conn.CloseNow()
		}
		g.mu.Unlock()
		<-done
	}
	return nil
}

func drainPush() []byte {
	return encodeErrorPush(errcode.ServiceLost("node shutting down: rejoin"))
}

// bodyReadTimeout bounds reading a request body (allocation, log upload), so
// a client trickling bytes cannot hold a handler.
const bodyReadTimeout = 30 * time.Second

// maxAPBody bounds the allocation request body (the SDK sends ~400 bytes).
const maxAPBody = 16 << 10

type apRequest struct {
	ServiceName string `json:"service_name"`
	JSONBody    string `json:"json_body"`
}

type apInner struct {
	Command string `json:"command"`
	SID     string `json:"sid"`
	AppID   string `json:"appId"`
	UID     any    `json:"uid"`
	Cname   string `json:"cname"`
}

type apServer struct {
	Address string `json:"address"`
	WS      int    `json:"ws"`
}

type apAnswer struct {
	Code    int        `json:"code"`
	VID     int64      `json:"vid"`
	Servers []apServer `json:"servers"`
	Detail  struct{}   `json:"detail"`
}

// ServeAllocate answers the SDK's allocation request (docs/protocol.md 2):
// always 200 with a json_body string holding vid and servers, whatever the body.
func (g *Gateway) ServeAllocate(w http.ResponseWriter, r *http.Request) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAPBody))
	var req apRequest
	var inner apInner
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err == nil {
		err = json.Unmarshal([]byte(req.JSONBody), &inner)
	}
	vid := g.vid.Add(1)
	if err != nil {
		g.log.Info("allocation request with a malformed body (answered anyway)", "remote", r.RemoteAddr, "vid", vid, "err", logsafe.Error(err))
	} else {
		g.log.Debug("allocation", "remote", r.RemoteAddr, "vid", vid, "app", logsafe.String(inner.AppID),
			"channel", logsafe.String(inner.Cname), "uid", logsafe.String(fmt.Sprint(inner.UID)), "sid", logsafe.String(inner.SID))
	}
	addr, port := g.publicAddress(r)
	if err == nil && g.cfg.Router != nil {
		if rt, ok := g.allocationRoute(r.Context(), inner.AppID, inner.Cname, vid); ok && !rt.Local {
			addr, port = rt.Address, rt.Port
		}
	}
	innerJSON, _ := json.Marshal(apAnswer{Code: 200, VID: vid, Servers: []apServer{{Address: addr, WS: port}}})
	out, _ := json.Marshal(struct {
		Code     int    `json:"code"`
		JSONBody string `json:"json_body"`
	}{0, string(innerJSON)})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// allocationRoute asks the Router for the owner of the channel an
// allocation names, so the client connects straight to it. It answers false
// (answer this node) when the request names no valid channel of a known,
// enabled app (nothing is placed for those; the join will refuse them) or the
// placement cannot be known (the join then gets 502 cluster unavailable).
func (g *Gateway) allocationRoute(ctx context.Context, appID, chName string, vid int64) (Route, bool) {
	if appID == "" || validateChannel(chName) != nil {
		return Route{}, false
	}
	lctx, cancel := context.WithTimeout(ctx, storeTimeout)
	app, err := g.apps.App(lctx, appID)
	cancel()
	if err != nil || !app.Enabled {
		return Route{}, false
	}
	rt, err := g.route(ctx, app.ID, chName)
	if err != nil {
		g.log.Warn("allocation: channel placement failed: answering this node", "vid", vid, "app", app.ID,
			"channel", logsafe.String(chName), "err", err)
		return Route{}, false
	}
	if !rt.Local && (rt.Address == "" || rt.Port <= 0 || rt.Port >= 1<<16) {
		return Route{}, false // an owner without a public address: it is reached through this node
	}
	return rt, true
}

// publicAddress is the dotted quad and port reported in servers[0].
func (g *Gateway) publicAddress(r *http.Request) (string, int) {
	host, portStr, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, portStr = r.Host, ""
	}
	port, _ := strconv.Atoi(portStr)
	if port == 0 {
		port = 80
		if r.TLS != nil {
			port = 443
		}
	}
	if g.cfg.PublicAddress != "" {
		return g.cfg.PublicAddress, port
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
		return ip.To4().String(), port
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := la.(*net.TCPAddr); ok && ta.IP.To4() != nil && !ta.IP.IsUnspecified() {
			return ta.IP.To4().String(), port
		}
	}
	return "127.0.0.1", port
}

// ServeWebSocket upgrades GET /api and hands the connection to a session
// goroutine owned by the Gateway (Run waits for it). Returning from the HTTP
// handler lets net/http's connection goroutine, with its deep stack, exit:
// an idle session then costs one small goroutine.
func (g *Gateway) ServeWebSocket(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	if g.draining {
		g.mu.Unlock()
		http.Error(w, "node shutting down", http.StatusServiceUnavailable)
		return
	}
	g.wg.Add(1)
	g.mu.Unlock()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		g.wg.Done()
		g.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", logsafe.Error(err))
		return
	}
	conn.SetReadLimit(g.cfg.PreJoinMaxBytes) // raised to MaxMessageBytes by the first join
	s := newSession(g, conn, r)
	g.mu.Lock()
	g.sessions[s] = struct{}{}
	draining := g.draining // Run took its snapshot before this session existed
	g.mu.Unlock()
	if draining {
		s.terminate(drainPush(), 0, errcode.LeaveDrain)
	}
	go func() {
		defer g.wg.Done()
		// Not r.Context(): net/http cancels it when this handler returns.
		s.run(context.Background())
		g.mu.Lock()
		delete(g.sessions, s)
		g.mu.Unlock()
	}()
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// hosts computes the public RTMP authority and HTTP base for URLs.
func (g *Gateway) hosts(r *http.Request) (rtmp, httpBase string) {
	host := g.cfg.RTMPHost
	if host == "" {
		host = r.Host
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			host = h
		}
		if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
			host = "[" + host + "]"
		}
	}
	rtmp = host
	if p := int(g.rtmpPort.Load()); p != DefaultRTMPPort {
		rtmp = host + ":" + strconv.Itoa(p)
	}
	httpBase = g.cfg.HTTPBase
	if httpBase == "" {
		scheme := "http"
		if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
			scheme = "https"
		}
		httpBase = scheme + "://" + r.Host
	}
	return rtmp, httpBase
}
