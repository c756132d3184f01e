package webrtc

import (
	"context"
	"net/http"
	"strings"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
)

// Redirector says, in a cluster, which node serves a WHIP publish or a WHEP
// play of key: it returns the base URL of that node (scheme://host:port,
// optionally with a query to add) and true when it is another node, which the client is sent to with a
// 307 (the WHIP and WHEP specifications allow redirects of the POST).
// The request is passed along so that a node can tell a client it sent on
// itself (a query marker) from a new one.
type Redirector func(ctx context.Context, action token.Action, key media.Key, r *http.Request) (base string, redirect bool)

// SetRedirector installs the cluster's Redirector (nil: every stream is
// served here). Call it before Run.
func (s *Server) SetRedirector(fn Redirector) { s.redirector = fn }

// redirect answers 307 to the node that serves the request's stream, and
// reports whether it did.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, action token.Action) bool {
	if s.redirector == nil {
		return false
	}
	app, ch, uid := r.PathValue("app"), r.PathValue("channel"), r.PathValue("uid")
	if app == "" || ch == "" || uid == "" {
		return false // parseRequest answers the bad path
	}
	base, ok := s.redirector(r.Context(), action, media.Key{AppID: app, Channel: ch, UID: uid}, r)
	if !ok {
		return false
	}
	// base may carry a query of its own (a marker for the other node): it
	// goes before the client's.
	base, extra, _ := strings.Cut(base, "?")
	loc := strings.TrimSuffix(base, "/") + r.URL.EscapedPath()
	switch q := r.URL.RawQuery; {
	case extra != "" && q != "":
		loc += "?" + extra + "&" + q
	case extra != "":
		loc += "?" + extra
	case q != "":
		loc += "?" + q
	}
	s.log.Debug("WebRTC request sent to another node", "action", action, "location", loc)
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusTemporaryRedirect)
	return true
}
