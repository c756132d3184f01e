package tokenserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/token"
)

// Credentials are the appId and certificate tokens are signed for.
type Credentials struct {
	AppID, AppCert string
}

// Config configures a Handler.
type Config struct {
	// Credentials returns the app to sign for; it is called per request, so
	// a rotated certificate takes effect at once.
	Credentials func(ctx context.Context) (Credentials, error)
	// Secret, when set, is accepted in X-Token-Secret or as a bearer token.
	Secret string
	// AllowedOrigins are the callers accepted by origin: "https://host[:port]",
	// "servicewechat.com/{wxAppID}", "self" (same host as the request) or "*".
	AllowedOrigins []string
	// Lifetime of the tokens handed out.
	Lifetime time.Duration
	// NoPublish hands out subscriber tokens only.
	NoPublish bool
	// Now returns the time; nil means time.Now.
	Now func() time.Time
}

// Validate reports a configuration that would hand tokens to anybody or to nobody.
func (c Config) Validate() error {
	if c.Credentials == nil {
		return errors.New("tokenserver: no app to sign for")
	}
	if c.Secret == "" && len(c.AllowedOrigins) == 0 {
		return errors.New("tokenserver: set a secret or allowed origins (\"*\" allows every caller: development only)")
	}
	if c.Lifetime < time.Minute || c.Lifetime > 24*time.Hour {
		return fmt.Errorf("tokenserver: lifetime %s: want 1m..24h", c.Lifetime)
	}
	for _, o := range c.AllowedOrigins {
		if o != "*" && o != "self" && !strings.HasPrefix(o, "servicewechat.com/") {
			if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
				return fmt.Errorf("tokenserver: allowed origin %q: want https://host[:port], servicewechat.com/{wxAppID}, self or *", o)
			}
		}
	}
	return nil
}

// Response is the JSON answer.
type Response struct {
	Token     string `json:"token"`
	AppID     string `json:"appId"`
	Channel   string `json:"channel"`
	UID       string `json:"uid"`
	Role      string `json:"role"`
	ExpiresAt string `json:"expiresAt"`
}

type errorResponse struct {
	Error string `json:"error"`
}

// Handler answers token requests as described in the package comment.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and returns a Handler.
func New(cfg Config, log *slog.Logger) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, log: log.With("component", "tokenserver")}, nil
}

// Limits of a request's claims (as the gateway's join).
const (
	maxChannelBytes = 64
	maxAccountBytes = 255
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin, allowed := h.callerAllowed(r)
	if origin != "" && allowed {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Vary", "Origin")
		w.Header().Set("Access-Control-Allow-Headers", "X-Token-Secret, Authorization")
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", "GET, OPTIONS")
		h.fail(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	if !allowed {
		h.log.Warn("token request refused", "remote", r.RemoteAddr, "origin", clip(origin))
		h.fail(w, http.StatusForbidden, "caller not allowed: send the shared secret (X-Token-Secret) or call from an allowed origin (tokenServer.allowedOrigins)")
		return
	}
	q := r.URL.Query()
	channel := q.Get("channel")
	if channel == "" || len(channel) > maxChannelBytes {
		h.fail(w, http.StatusBadRequest, fmt.Sprintf("channel must be 1..%d bytes", maxChannelBytes))
		return
	}
	uid, account := q.Get("uid"), q.Get("account")
	switch {
	case uid != "" && account != "":
		h.fail(w, http.StatusBadRequest, "give uid or account, not both")
		return
	case account != "":
		if strings.TrimSpace(account) == "" || len(account) > maxAccountBytes {
			h.fail(w, http.StatusBadRequest, fmt.Sprintf("account must be 1..%d bytes and not blank", maxAccountBytes))
			return
		}
		uid = account
	default:
		n, err := strconv.ParseUint(uid, 10, 32)
		if err != nil || n == 0 || strconv.FormatUint(n, 10) != uid {
			h.fail(w, http.StatusBadRequest, fmt.Sprintf("uid must be a decimal integer 1..4294967295 (got %q); a token for uid 0 would fit every uid", clip(uid)))
			return
		}
	}
	role := q.Get("role")
	if role == "" {
		role = "publisher"
		if h.cfg.NoPublish {
			role = "subscriber"
		}
	}
	r0, err := token.ParseRole(role)
	if err != nil {
		h.fail(w, http.StatusBadRequest, "role must be publisher or subscriber")
		return
	}
	if r0 == token.RolePublisher && h.cfg.NoPublish {
		h.fail(w, http.StatusForbidden, "this token server hands out subscriber tokens only")
		return
	}
	creds, err := h.cfg.Credentials(r.Context())
	if err != nil {
		h.log.Error("token server has no app to sign for", "err", err)
		h.fail(w, http.StatusServiceUnavailable, "no app to sign for: "+err.Error())
		return
	}
	now := time.Now()
	if h.cfg.Now != nil {
		now = h.cfg.Now()
	}
	life := uint32(h.cfg.Lifetime / time.Second) //nolint:gosec // G115: New accepts 1m..24h only
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: creds.AppID, AppCert: creds.AppCert, Channel: channel,
		UID: uid, Role: r0, IssuedAt: now, Lifetime: life})
	if err != nil {
		h.fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, Response{Token: tok, AppID: creds.AppID, Channel: channel, UID: uid, Role: role,
		ExpiresAt: now.Add(time.Duration(life) * time.Second).UTC().Format(time.RFC3339)})
}

// callerAllowed returns the caller's origin (for CORS) and whether it may
// have a token.
func (h *Handler) callerAllowed(r *http.Request) (string, bool) {
	origin := r.Header.Get("Origin")
	if h.cfg.Secret != "" {
		got := r.Header.Get("X-Token-Secret")
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && got == "" {
			got = b
		}
		if got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(h.cfg.Secret)) == 1 {
			return origin, true
		}
	}
	referer := r.Header.Get("Referer")
	for _, allowed := range h.cfg.AllowedOrigins {
		if originMatches(allowed, origin, referer, r.Host) {
			return origin, true
		}
	}
	return origin, false
}

// originMatches reports whether the caller (Origin header, else Referer)
// matches one allowed entry.
func originMatches(allowed, origin, referer, host string) bool {
	if allowed == "*" {
		return true
	}
	if wx, ok := strings.CutPrefix(allowed, "servicewechat.com/"); ok {
		// WeChat sends Referer: https://servicewechat.com/{wxAppID}/{version}/page-frame.html
		rest, ok := strings.CutPrefix(referer, "https://servicewechat.com/")
		return ok && wx != "" && (rest == wx || strings.HasPrefix(rest, wx+"/"))
	}
	caller := origin
	if caller == "" && referer != "" {
		if u, err := url.Parse(referer); err == nil && u.Host != "" {
			caller = u.Scheme + "://" + u.Host
		}
	}
	if caller == "" {
		return false
	}
	if allowed == "self" {
		u, err := url.Parse(caller)
		return err == nil && u.Host == host
	}
	return strings.TrimSuffix(allowed, "/") == caller
}

func (h *Handler) fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorResponse{Error: msg})
}

// writeJSON marshals v before writing the status, so a value that cannot be
// encoded is a 500, not a 200 with half a body. A failed write means the
// client went away: there is nobody left to tell.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// clip bounds a client-supplied string for logs and answers.
func clip(s string) string {
	const maxLen = 80
	if len(s) > maxLen {
		return s[:maxLen] + "…"
	}
	return s
}
