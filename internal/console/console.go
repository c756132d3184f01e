// Package console serves the web console (docs/console.md): static pages
// embedded in the binary (dist/, with the chart library uPlot vendored at
// build time by web/build.sh), so it works without internet. The pages
// sign in with an API key and call the REST API (internal/api) with HTTP
// Basic auth; they hold no server state. The console is mounted by
// internal/node at /console/ on the REST API's address.
package console

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed dist
var dist embed.FS

// Files is the embedded console (index.html at its root).
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil { // cannot happen: dist is embedded
		panic(err)
	}
	return sub
}

// Handler serves the console at /console/. apiBase is the path prefix of
// the REST API on the same origin ("/rest" on the HTTP port, "" on
// api.addr); the pages read it from /console/config.json.
func Handler(apiBase string) http.Handler {
	cfg, _ := json.Marshal(map[string]string{"apiBase": apiBase})
	files := http.StripPrefix("/console/", http.FileServerFS(Files()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		// Everything is same-origin and embedded: nothing may load from elsewhere.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "/console" {
			http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
			return
		}
		if r.URL.Path == "/console/config.json" {
			h.Set("Content-Type", "application/json")
			_, _ = w.Write(cfg)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/console/") {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}
