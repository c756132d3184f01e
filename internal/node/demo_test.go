package node

import (
	"context"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/minirtc/minirtc/internal/store"
)

// TestDemoRoutes: the demo page, its scripts and the SDK entry module are
// served with the types browsers need for module scripts, and every module
// the SDK imports (and the page's import map target) is served too. The SDK
// is one esbuild bundle of sdk/web/src and sdk/core: it imports nothing.
func TestDemoRoutes(t *testing.T) {
	n, err := NewWithStore(testConfig(t), slog.New(slog.NewTextHandler(io.Discard, nil)), store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	h := n.Handler()
	get := func(path string) (int, string, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Header().Get("Content-Type"), rec.Body.String()
	}
	tests := []struct {
		path, ctype, contains string
	}{
		{"/demo/", "text/html", `"minirtc-web-sdk": "/sdk/minirtc-web-sdk.js"`},
		{"/demo/app.js", "text/javascript", "from 'minirtc-web-sdk'"},
		{"/demo/whep.js", "text/javascript", "export async function runBareMode"},
		{"/demo/style.css", "text/css", ".tile"},
		{"/sdk/minirtc-web-sdk.js", "text/javascript", "\n  Client,\n"},
		{"/sdk/minirtc-web-sdk.d.ts", "", "export declare class Client"},
	}
	for _, tc := range tests {
		code, ctype, body := get(tc.path)
		if code != http.StatusOK || !strings.HasPrefix(ctype, tc.ctype) || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: %d %q, body contains %q: %v", tc.path, code, ctype, tc.contains, strings.Contains(body, tc.contains))
		}
	}
	if code, _, _ := get("/demo"); code != http.StatusMovedPermanently {
		t.Errorf("GET /demo: %d, want a redirect to /demo/", code)
	}
	// Follow the SDK's relative imports from the entry module.
	importRE := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*from\s+'\./([^']+)'`)
	seen := map[string]bool{}
	queue := []string{"minirtc-web-sdk.js"}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if seen[f] {
			continue
		}
		seen[f] = true
		code, ctype, body := get("/sdk/" + f)
		if code != http.StatusOK || !strings.HasPrefix(ctype, "text/javascript") {
			t.Fatalf("GET /sdk/%s: %d %q", f, code, ctype)
		}
		for _, m := range importRE.FindAllStringSubmatch(body, -1) {
			queue = append(queue, m[1])
		}
	}
	if len(seen) != 1 {
		t.Errorf("the SDK bundle imports other modules: %v", seen)
	}
	if _, _, body := get("/sdk/minirtc-web-sdk.js"); !regexp.MustCompile(`(?m)^export \{\n(  \w+,\n)*  Client,\n`).MatchString(body) {
		t.Error("/sdk/minirtc-web-sdk.js does not export Client")
	}
}

// TestWebRTCPageRedirectsToDemo: the old WHIP/WHEP test page (/webrtc/)
// merged into the demo page; its URLs redirect there with the same query,
// and nothing else is served under /webrtc/ for GET.
func TestWebRTCPageRedirectsToDemo(t *testing.T) {
	n, err := NewWithStore(testConfig(t), slog.New(slog.NewTextHandler(io.Discard, nil)), store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	srv := httptest.NewServer(n.Handler())
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		path, location string
		code           int
	}{
		{"/webrtc/?app=a1&channel=room&pub=5&ptoken=t%2B1&play=6&vtoken=v", "/demo/?app=a1&channel=room&pub=5&ptoken=t%2B1&play=6&vtoken=v", http.StatusMovedPermanently},
		{"/webrtc/", "/demo/", http.StatusMovedPermanently},
		{"/webrtc/index.html?play=6", "/demo/?play=6", http.StatusMovedPermanently},
		{"/webrtc/other.js", "", http.StatusNotFound},
	}
	for _, tc := range tests {
		res, err := client.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != tc.code || res.Header.Get("Location") != tc.location {
			t.Errorf("GET %s: %d Location %q, want %d %q", tc.path, res.StatusCode, res.Header.Get("Location"), tc.code, tc.location)
		}
	}
	// The target is the demo page with its WHIP/WHEP mode.
	res, err := client.Get(srv.URL + "/demo/?pub=5")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="bare"`) {
		t.Errorf("GET /demo/?pub=5: %d, WHIP/WHEP section present: %v", res.StatusCode, strings.Contains(string(body), `id="bare"`))
	}
}

// TestNodeImportsNoExamples: the node embeds the demo page from the web
// SDK's package; no file of the node package imports an example (examples
// use the product, never the other way round).
func TestNodeImportsNoExamples(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, "github.com/minirtc/minirtc/examples/") {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
}
