package node

import (
	"fmt"
	"io/fs"
	"net/http"

	websdk "github.com/minirtc/minirtc/sdk/web"
)

// wireDemo serves the browser SDK at /sdk/ (the self-contained ES module
// /sdk/minirtc-web-sdk.js and its declarations) and the demo page at
// /demo/ (with its bare WHIP/WHEP test mode, where /webrtc/ redirects),
// both embedded in the binary by the SDK's own package.
func (n *Node) wireDemo() error {
	sdk, err := websdk.FS()
	if err != nil {
		return fmt.Errorf("node: web SDK files: %w", err)
	}
	demo, err := websdk.DemoFS()
	if err != nil {
		return fmt.Errorf("node: web demo files: %w", err)
	}
	n.mux.Handle("GET /sdk/", http.StripPrefix("/sdk/", staticFiles(sdk)))
	n.mux.Handle("GET /demo/", http.StripPrefix("/demo/", staticFiles(demo)))
	n.mux.Handle("GET /demo", http.RedirectHandler("/demo/", http.StatusMovedPermanently))
	return nil
}

// staticFiles serves embedded files; browsers revalidate them on every
// load, so a new binary's SDK is picked up at once.
func staticFiles(fsys fs.FS) http.Handler {
	files := http.FileServer(http.FS(fsys))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
