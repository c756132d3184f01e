package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/diag"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
)

// Store is what the API reads and changes in the store (store.Store has it).
type Store interface {
	App(ctx context.Context, id string) (store.App, error)
	PutApp(ctx context.Context, a store.App) error
	Apps(ctx context.Context) ([]store.App, error)
	APIKey(ctx context.Context, id string) (store.APIKey, error)
	APIKeys(ctx context.Context) ([]store.APIKey, error)
	KickingRule(ctx context.Context, id uint64) (store.KickingRule, error)
	PutKickingRule(ctx context.Context, r store.KickingRule) (uint64, error)
	KickingRules(ctx context.Context) ([]store.KickingRule, error)
	DeleteKickingRule(ctx context.Context, id uint64) error
}

// Channels is the channel model's read side (*channel.Manager has it).
type Channels interface {
	Channels(app string) []string
	Members(app, channel string) []channel.MemberInfo
	Member(app, channel string, uid uint32) (channel.MemberInfo, bool)
}

// Media is the media hub's operator side (*media.Hub has it).
type Media interface {
	Streams() []media.StreamDetail
	CloseReader(id uint64, reason error) bool
}

// Diagnostics are the clients' own reports (*diag.Store has it).
type Diagnostics interface {
	Recent(app, channel string, uid uint32) (diag.Report, bool)
}

// Deps are the Server's data sources. Media and Diagnostics may be nil (the
// answers then have no streams or network reports); without Bans the
// banning rule endpoints answer 404.
type Deps struct {
	Store       Store
	Channels    Channels
	Media       Media
	Diagnostics Diagnostics
	Bans        Bans
}

// Config holds the Server's knobs.
type Config struct {
	// RequestsPerSecond and Burst limit the calls of one API key; more get
	// 429 with Retry-After. Zero RequestsPerSecond means the default of
	// config api.requestsPerSecond (internal/config/defaults), zero Burst
	// twice the rate.
	RequestsPerSecond float64
	Burst             int
	// Key is one more accepted credential, "id:secret" (MINIRTC_API_KEY).
	Key string
	// Now is the time source of banning rules' ends (time.Now when nil);
	// the node passes its channel model's clock, which matches them.
	Now func() time.Time
	// MaxKickingRules caps the active banning rules; more are refused
	// (400). Zero means 10000.
	MaxKickingRules int
}

// storeTimeout bounds one store call of a request.
const storeTimeout = 5 * time.Second

// Server is the REST API, an http.Handler whose paths start at the API's
// root (/dev/v1/..., /v1/...); internal/node mounts it under a prefix or on
// its own listener. Safe for concurrent use.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	mux  *http.ServeMux

	envID, envHash string // Config.Key, hashed; empty when unset

	mu       sync.Mutex
	limiters map[string]*rate.Limiter // by key id
}

// New builds the Server. It validates cfg and needs Store and Channels.
func New(cfg Config, deps Deps, log *slog.Logger) (*Server, error) {
	if log == nil || deps.Store == nil || deps.Channels == nil {
		return nil, errors.New("api: New needs a logger, a store and the channel model")
	}
	if cfg.RequestsPerSecond < 0 || cfg.Burst < 0 {
		return nil, errors.New("api: negative rate limit")
	}
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = defaults.APIRequestsPerSecond
	}
	if cfg.Burst == 0 {
		cfg.Burst = max(1, int(2*cfg.RequestsPerSecond))
	}
	if cfg.MaxKickingRules <= 0 {
		cfg.MaxKickingRules = defaultMaxKickingRules
	}
	s := &Server{cfg: cfg, deps: deps, log: log.With("component", "api"), mux: http.NewServeMux(),
		limiters: map[string]*rate.Limiter{}}
	if cfg.Key != "" {
		id, secret, ok := strings.Cut(cfg.Key, ":")
		if !ok || id == "" || secret == "" {
			return nil, errors.New("api: Key must be id:secret")
		}
		s.envID, s.envHash = id, store.HashAPISecret(secret)
	}
	s.routes()
	return s, nil
}

// Handle adds an endpoint (a ServeMux pattern relative to the API root, e.g.
// "GET /v1/metrics"). It gets the API's authentication, rate limit
// and log line; errors should be answered with WriteError. Call it before
// the Server serves.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) routes() {
	// Agora-compatible (docs/rest-api.md, "Agora-compatible endpoints").
	s.mux.HandleFunc("GET /dev/v1/channel/{appid}", s.agoraChannels)
	s.mux.HandleFunc("GET /dev/v1/channel/user/{appid}/{channelName}", s.agoraUsers(false))
	s.mux.HandleFunc("GET /dev/v1/channel/user/{appid}/{channelName}/hosts_only", s.agoraUsers(true))
	s.mux.HandleFunc("GET /dev/v1/channel/user/property/{appid}/{uid}/{channelName}", s.agoraUserProperty)
	s.mux.HandleFunc("GET /dev/v1/projects", s.agoraProjects)
	s.mux.HandleFunc("GET /dev/v1/project", s.agoraProjects)
	s.mux.HandleFunc("POST /dev/v1/project", s.agoraCreateProject)
	s.mux.HandleFunc("POST /dev/v1/project_status", s.agoraProjectStatus)
	s.mux.HandleFunc("POST /dev/v1/signkey", s.agoraSignKey)
	s.mux.HandleFunc("POST /dev/v1/reset_signkey", s.agoraResetSignKey)
	s.mux.HandleFunc("POST /dev/v1/kicking-rule", s.agoraCreateRule)
	s.mux.HandleFunc("GET /dev/v1/kicking-rule", s.agoraListRules)
	s.mux.HandleFunc("PUT /dev/v1/kicking-rule", s.agoraUpdateRule)
	s.mux.HandleFunc("DELETE /dev/v1/kicking-rule", s.agoraDeleteRule)
	// minirtc's own (docs/rest-api.md, "minirtc endpoints").
	s.mux.HandleFunc("GET /v1/apps", s.listApps)
	s.mux.HandleFunc("POST /v1/apps", s.createApp)
	s.mux.HandleFunc("GET /v1/apps/{appId}", s.getApp)
	s.mux.HandleFunc("POST /v1/apps/{appId}/enable", s.setEnabled(true))
	s.mux.HandleFunc("POST /v1/apps/{appId}/disable", s.setEnabled(false))
	s.mux.HandleFunc("POST /v1/apps/{appId}/rotate-certificate", s.rotateCertificate)
	s.mux.HandleFunc("GET /v1/apps/{appId}/channels", s.listChannels)
	s.mux.HandleFunc("GET /v1/apps/{appId}/channels/{channel}/members", s.listMembers)
	s.mux.HandleFunc("GET /v1/apps/{appId}/channels/{channel}/members/{uid}", s.getMember)
	s.mux.HandleFunc("GET /v1/streams", s.listStreams)
	s.mux.HandleFunc("DELETE /v1/readers/{id}", s.closeReader)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, errcode.NotFound(fmt.Sprintf("no API endpoint %s %s (see docs/rest-api.md)", r.Method, r.URL.Path)))
	})
}

// logWriter records what a call answered, for its log line.
type logWriter struct {
	http.ResponseWriter
	status int
	err    error
}

func (w *logWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP authenticates the call, applies its key's rate limit, serves it
// and logs one line with the key id.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lw := &logWriter{ResponseWriter: w}
	key, err := s.authenticate(r)
	if err == nil && !s.allow(key) {
		lw.Header().Set("Retry-After", "1")
		err = errcode.TooManyRequests(fmt.Sprintf("at most %g calls per second per API key", s.cfg.RequestsPerSecond))
	}
	if err != nil {
		// Not to scripts that ask (the console's fetch sets X-Requested-With):
		// the header would make the browser open its own password prompt.
		if e, ok := errcode.As(err); ok && e.HTTPStatus() == http.StatusUnauthorized && r.Header.Get("X-Requested-With") == "" {
			lw.Header().Set("WWW-Authenticate", `Basic realm="minirtc", charset="UTF-8"`)
		}
		WriteError(lw, r, err)
	} else {
		r.Body = http.MaxBytesReader(lw, r.Body, maxBody)
		s.mux.ServeHTTP(lw, r)
	}
	if len(key) > 64 { // a refused call's id is whatever the caller sent
		key = key[:64] + "..."
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", lw.status, "key", key,
		"remote", r.RemoteAddr, "duration", time.Since(start).Round(time.Microsecond)}
	switch {
	case lw.err != nil && errcode.From(lw.err).Code == errcode.CodeInternal:
		s.log.Error("api call failed", append(attrs, "err", lw.err)...)
	case lw.err != nil:
		s.log.Info("api call refused", append(attrs, "reason", errcode.From(lw.err).Message())...)
	default:
		s.log.Info("api call", attrs...)
	}
}

// authenticate checks the call's Basic credentials. It returns the key id
// the call presented (for the log line, also when it is refused).
func (s *Server) authenticate(r *http.Request) (string, error) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		if err := s.anyKey(r.Context()); err != nil {
			return "", err
		}
		return "", errcode.Unauthorized("send an API key with HTTP Basic auth (Authorization: Basic base64(id:secret))")
	}
	if s.envID != "" && id == s.envID {
		if (store.APIKey{ID: id, SecretHash: s.envHash}).Verify(secret) {
			return id, nil
		}
		return id, errcode.Unauthorized("wrong API key id or secret")
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	k, err := s.deps.Store.APIKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.anyKey(ctx); err != nil {
			return id, err
		}
		// Spend the same work as a known key, so timing does not tell.
		(store.APIKey{SecretHash: store.HashAPISecret("")}).Verify(secret)
		return id, errcode.Unauthorized("wrong API key id or secret")
	}
	if err != nil {
		return id, fmt.Errorf("api: load key: %w", err)
	}
	if !k.Verify(secret) {
		return id, errcode.Unauthorized("wrong API key id or secret")
	}
	return id, nil
}

// anyKey refuses with a hint when no key exists at all (a fresh node).
func (s *Server) anyKey(ctx context.Context) error {
	if s.envID != "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	keys, err := s.deps.Store.APIKeys(ctx)
	if err != nil {
		return fmt.Errorf("api: list keys: %w", err)
	}
	if len(keys) == 0 {
		return errcode.Unauthorized("no API key exists yet: create one with `minirtc apikey create` (or set MINIRTC_API_KEY=id:secret)")
	}
	return nil
}

// allow takes one token from key's limiter.
func (s *Server) allow(key string) bool {
	s.mu.Lock()
	l := s.limiters[key]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(s.cfg.RequestsPerSecond), s.cfg.Burst)
		s.limiters[key] = l
	}
	s.mu.Unlock()
	return l.Allow()
}
