package console

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestVendoredUPlot: the committed copy of uPlot is the version that
// web/package.json pins (run web/build.sh after changing it).
func TestVendoredUPlot(t *testing.T) {
	b, err := os.ReadFile("web/package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	want := pkg.Dependencies["uplot"]
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(want) {
		t.Fatalf("package.json must pin an exact uplot version, has %q", want)
	}
	ver, err := fs.ReadFile(Files(), "vendor/uPlot.version")
	if err != nil || strings.TrimSpace(string(ver)) != want {
		t.Fatalf("vendor/uPlot.version %q (%v), package.json pins %s: run internal/console/web/build.sh", ver, err, want)
	}
	js, err := fs.ReadFile(Files(), "vendor/uPlot.iife.min.js")
	if err != nil || !strings.Contains(string(js[:min(200, len(js))]), "(v"+want+")") {
		t.Fatalf("vendor/uPlot.iife.min.js is not uPlot %s (%v)", want, err)
	}
	for _, f := range []string{"vendor/uPlot.min.css", "vendor/uPlot.LICENSE"} {
		if _, err := fs.Stat(Files(), f); err != nil {
			t.Error(err)
		}
	}
}

// TestHandler: the pages are served from the binary with a strict CSP,
// config.json tells the API's base path, other methods are refused.
func TestHandler(t *testing.T) {
	ts := httptest.NewServer(Handler("/rest"))
	defer ts.Close()
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/console/")
	if resp.StatusCode != 200 || !strings.Contains(body, `<script src="app.js">`) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("/console/: %d %q", resp.StatusCode, resp.Header)
	}
	if resp, body := get("/console/config.json"); resp.StatusCode != 200 || body != `{"apiBase":"/rest"}` {
		t.Errorf("config.json: %d %s", resp.StatusCode, body)
	}
	for _, p := range []string{"/console/app.js", "/console/style.css", "/console/vendor/uPlot.iife.min.js"} {
		if resp, _ := get(p); resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := get("/console/nothing.js"); resp.StatusCode != 404 {
		t.Errorf("missing file: %d", resp.StatusCode)
	}
	r, err := http.Post(ts.URL+"/console/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.StatusCode)
	}
}

// TestNoRemoteAssets: the console's own files name no other origin, so it
// works without internet (TestConsole in test/e2e checks what the browser
// actually fetched).
func TestNoRemoteAssets(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(\s*['"]?https?:`)
	for _, f := range []string{"index.html", "app.js", "style.css"} {
		b, err := fs.ReadFile(Files(), f)
		if err != nil {
			t.Fatal(err)
		}
		if m := remote.FindString(string(b)); m != "" {
			t.Errorf("%s refers to %q", f, m)
		}
	}
}
