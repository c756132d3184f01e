package webrtc

import (
	"net/http"
)

// demoPath is where the node serves the demo page, whose bare WHIP/WHEP
// test mode replaced the test page that used to live at /webrtc/.
const demoPath = "/demo/"

// handlePage redirects the old WHIP/WHEP test page (/webrtc/ and
// /webrtc/index.html) to the demo page with the same query (app, channel,
// pub, ptoken, play, vtoken), which runs the same test in its WHIP/WHEP
// mode. Anything else under /webrtc/ that GET reaches is not found.
func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/webrtc/" && r.URL.Path != "/webrtc/index.html" {
		http.NotFound(w, r)
		return
	}
	// The target is the fixed path demoPath, rooted and not "//", with the
	// client's query after "?": a query cannot name another scheme or host,
	// and the server has already refused a request line with CR or LF in it
	// (TestPageRedirectStaysOnDemo).
	target := demoPath
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusMovedPermanently) //nolint:gosec // G710: a fixed same-origin path; only the query is the client's (see above)
}
