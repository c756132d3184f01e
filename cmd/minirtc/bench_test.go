package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/node"
	"github.com/minirtc/minirtc/internal/store"
)

func TestParseBitrate(t *testing.T) {
	cases := []struct {
		in   string
		want int
		ok   bool
	}{
		{"500000", 500000, true}, {"500k", 500000, true}, {"1.5M", 1500000, true}, {"2m", 2000000, true},
		{"", 0, false}, {"fast", 0, false}, {"-1k", 0, false},
	}
	for _, tc := range cases {
		got, err := parseBitrate(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %d, %v", tc.in, got, err)
		}
	}
}

func TestBenchCommandErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bench", "--size", "big"}, 1, "--size"},
		{[]string{"bench", "--rtmp-url", "rtmp://127.0.0.1:1/live/x", "--bitrate", "x"}, 1, "--bitrate"},
		{[]string{"bench"}, 1, "give a server URL"},
		{[]string{"bench", "extra"}, 2, "usage"},
		// A base past uint32 used to wrap around silently (to 0: the default).
		{[]string{"bench", "--rtmp-url", "rtmp://127.0.0.1:1/live/x", "--uid-base", "4294967296"}, 1, "--uid-base 4294967296"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, stderr.String())
		}
	}
}

// TestBenchCommandJSON: a run whose publisher cannot connect still prints a
// JSON report on stdout and exits 1.
func TestBenchCommandJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "--rtmp-url", "rtmp://127.0.0.1:1/live/x", "--readers", "1", "--hold", "1s",
		"--timeout", "1s", "--json", "--quiet"}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d; stderr %s", code, stderr.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	if rep["mode"] != "media-only" || rep["publishers_ok"] != 0.0 {
		t.Fatalf("report %v", rep)
	}
	if !strings.Contains(stderr.String(), "no publisher") || !strings.Contains(stderr.String(), "minirtc bench: media-only mode") {
		t.Fatalf("stderr %s", stderr.String())
	}
}

// TestBenchExitsNonZeroWhenReaderNeverPlays is the first-hour scenario: a
// node whose WebRTC settings yield no ICE candidate (here a port range on an
// interface that does not exist), and a bench with WHEP readers. Before, the
// answers carried no candidate, the readers waited until the bench stopped
// them, and the summary said "0 playing, 0 failed" with exit 0. Now the
// readers fail with the node's reason and the command exits 1.
func TestBenchExitsNonZeroWhenReaderNeverPlays(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTMP.Addr = "127.0.0.1:0"
	cfg.WebRTC.PortMin, cfg.WebRTC.PortMax = 42000, 42010
	cfg.WebRTC.Interfaces = []string{"no-such-interface0"}
	n, err := node.NewWithStore(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() { cancel(); <-done }()
	app, _ := n.CreatedDefaultApp()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + n.HTTPAddr() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 300 {
			t.Fatalf("node never ready: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "--server", "http://" + n.HTTPAddr(), "--app-id", app.ID, "--app-cert", app.Certificate,
		"--proto", "whep", "--readers", "2", "--rate", "20", "--hold", "1s", "--timeout", "5s",
		"--size", "160x128", "--fps", "15", "--quiet"}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "0 playing") || !strings.Contains(out, "2 failed") ||
		!strings.Contains(out, "publishers: 1/1 streaming") || !strings.Contains(out, "no ICE candidate") {
		t.Fatalf("summary:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "2 of 2 readers failed") {
		t.Fatalf("stderr %s", stderr.String())
	}
}
