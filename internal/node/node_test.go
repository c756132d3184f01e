package node

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/store"
)

// testConfig listens on loopback ports chosen by the kernel.
func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTMP.Addr = "127.0.0.1:0"
	return cfg
}

func TestNodeServesHealthAndStops(t *testing.T) {
	n, err := NewWithStore(testConfig(t), slog.New(slog.NewTextHandler(io.Discard, nil)), store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	app, ok := n.CreatedDefaultApp()
	if !ok || app.Name != DefaultAppName {
		t.Fatalf("default app not created: %+v", app)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var body map[string]any
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + n.HTTPAddr() + "/healthz")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 200 {
			t.Fatalf("healthz never ready: %v %v", err, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if body["status"] != "ok" || body["version"] != Version {
		t.Fatalf("healthz body %v", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := http.Get("http://" + n.HTTPAddr() + "/healthz"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestNodeKeepsAppsAcrossRestart(t *testing.T) {
	cfg := testConfig(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := n.CreatedDefaultApp()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n.Run(ctx)
	n, err = New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ctx, cancel := context.WithCancel(context.Background()); cancel(); n.Run(ctx) }()
	if _, created := n.CreatedDefaultApp(); created {
		t.Fatal("default app created twice")
	}
	got, err := n.Store().App(context.Background(), first.ID)
	if err != nil || got.Certificate != first.Certificate {
		t.Fatalf("app lost across restart: %v", err)
	}
}

func TestNodeRejectsBadConfig(t *testing.T) {
	cfg := testConfig(t)
	cfg.Gateway.GraceTimeout = 0
	if _, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("invalid config accepted")
	}
}
