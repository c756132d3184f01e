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
	target := demoPath
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusMovedPermanently)
}
