package control

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeDropsConnectionsAfterGrace: a request still running when the
// context ends gets its connection closed once the 2 s grace period is over,
// instead of holding the socket open for as long as the handler blocks.
func TestServeDropsConnectionsAfterGrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), SocketName)
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{})
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, h) }()

	var d net.Dialer
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "unix", path)
	}}}
	got := make(chan error, 1)
	go func() {
		resp, err := client.Get("http://minirtc/slow")
		if err == nil {
			_ = resp.Body.Close()
		}
		got <- err
	}()
	<-entered
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	select {
	case err := <-got:
		if err == nil {
			t.Fatal("the blocked request got a reply; want its connection closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked request's connection is still open 10 s after shutdown (grace is 2 s)")
	}
}

// TestWriteJSONUnencodable: a value that cannot be encoded answers 500 with
// the reason, not a 200 with an empty body.
func TestWriteJSONUnencodable(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusOK, map[string]any{"c": make(chan int)})
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "encode reply") {
		t.Fatalf("got %d %q, want 500 naming the encoding failure", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	writeJSON(rec, http.StatusCreated, errorBody{Error: "x"})
	if rec.Code != http.StatusCreated || rec.Body.String() != "{\"error\":\"x\"}\n" ||
		rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %q", rec.Code, rec.Body.String(), rec.Header())
	}
}
