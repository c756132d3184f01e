package webrtc

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed page
var pageFS embed.FS

// handlePage serves the small WHIP/WHEP test page at /webrtc/ (publish the
// camera as a uid, play another uid), used by the Chromium test and handy
// for checking a deployment from a browser.
func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	sub, _ := fs.Sub(pageFS, "page")
	http.StripPrefix("/webrtc/", http.FileServer(http.FS(sub))).ServeHTTP(w, r)
}
