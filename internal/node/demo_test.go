package node

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/minirtc/minirtc/internal/store"
)

// TestDemoRoutes: the demo page, its script and the SDK entry module are
// served with the types browsers need for module scripts, and every module
// the SDK imports (and the page's import map target) is served too.
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
		{"/demo/style.css", "text/css", ".tile"},
		{"/sdk/minirtc-web-sdk.js", "text/javascript", "export { Client }"},
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
	if len(seen) < 6 {
		t.Errorf("followed only %d SDK modules: %v", len(seen), seen)
	}
}
