package node

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/store"
)

// TestConsoleMount: the console is served next to the REST API: at
// /console/ on the HTTP port (API under /rest, config.json says so) or on
// api.addr (API at its root), without a key (the pages then ask for one),
// while the API itself still needs the key; not at all when the API is
// off. The node's stop ends a live event stream.
func TestConsoleMount(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	cfg := testConfig(t)
	cfg.API.Key = "ops:0123456789abcdef0123"
	n := startNode(t, cfg, quiet)
	if code, body := get("http://" + n.HTTPAddr() + "/console/"); code != 200 || !strings.Contains(body, "minirtc console") {
		t.Fatalf("/console/ on the HTTP port: %d", code)
	}
	if code, body := get("http://" + n.HTTPAddr() + "/console/config.json"); code != 200 || body != `{"apiBase":"/rest"}` {
		t.Fatalf("config.json: %d %s", code, body)
	}
	if code, _ := get("http://" + n.HTTPAddr() + "/rest/v1/node"); code != 401 {
		t.Fatalf("/rest/v1/node without a key: %d", code)
	}

	cfg = testConfig(t)
	cfg.API.Addr = "127.0.0.1:0"
	cfg.API.Key = "ops:0123456789abcdef0123"
	n2 := startNode(t, cfg, quiet)
	base := "http://" + n2.APIAddr()
	if code, body := get(base + "/console/config.json"); code != 200 || body != `{"apiBase":""}` {
		t.Fatalf("config.json on api.addr: %d %s", code, body)
	}
	if code, _ := get("http://" + n2.HTTPAddr() + "/console/"); code != 404 {
		t.Fatalf("/console/ on the HTTP port with api.addr set: %d", code)
	}
	req, _ := http.NewRequest("GET", base+"/v1/node", nil)
	req.SetBasicAuth("ops", "0123456789abcdef0123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/v1/node: %v %v", resp, err)
	}
	resp.Body.Close()

	// A live stream ends when its node stops (the node does not wait out
	// its shutdown timeout for it).
	cfg = testConfig(t)
	cfg.API.Key = "ops:0123456789abcdef0123"
	cfg.HTTP.ShutdownTimeout = time.Minute
	n3, err := NewWithStore(cfg, quiet, store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n3.Run(ctx) }()
	defer cancel()
	var body *bufio.Reader
	for i := 0; body == nil; i++ {
		req, _ := http.NewRequest("GET", "http://"+n3.HTTPAddr()+"/rest/v1/events", nil)
		req.SetBasicAuth("ops", "0123456789abcdef0123")
		if resp, err := http.DefaultClient.Do(req); err == nil && resp.StatusCode == 200 {
			defer resp.Body.Close()
			body = bufio.NewReader(resp.Body)
		} else if i > 300 {
			t.Fatalf("events: %v %v", resp, err)
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if line, _ := body.ReadString('\n'); line != "event: hello\n" {
		t.Fatalf("first line %q", line)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not stop with a live event stream open")
	}
	if _, err := io.ReadAll(body); err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Logf("stream end: %v", err)
	}
}
