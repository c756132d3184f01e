package node

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/listen"
	"github.com/minirtc/minirtc/internal/store"
)

// brokenListener fails every accept with EINVAL, an error that does not pass.
type brokenListener struct{ net.Listener }

func (b *brokenListener) Accept() (net.Conn, error) {
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EINVAL)}
}

type healthBody struct {
	Status    string                    `json:"status"`
	Listeners map[string]ListenerHealth `json:"listeners"`
}

func getHealth(t *testing.T, addr string) (int, healthBody) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b healthBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestHealthzReportsListeners: /healthz lists every listener (HTTP, RTMP,
// WebRTC UDP) with its address, state and accept errors and answers 200
// "ok"; when the RTMP listener fails for good it answers 503 "unhealthy"
// with rtmp "stopped", while the node keeps serving HTTP and shuts down
// cleanly.
func TestHealthzReportsListeners(t *testing.T) {
	for _, c := range []struct {
		name       string
		breakRTMP  bool
		wantCode   int
		wantStatus string
	}{
		{"serving", false, http.StatusOK, "ok"},
		{"rtmp-stopped", true, http.StatusServiceUnavailable, "unhealthy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, err := NewWithStore(testConfig(t), slog.New(slog.NewTextHandler(io.Discard, nil)), store.NewMemory())
			if err != nil {
				t.Fatal(err)
			}
			if c.breakRTMP {
				// The RTMP socket's accept fails for good from the start.
				rl := n.media.rtmpRetry
				rl.Listener = &brokenListener{Listener: rl.Listener}
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- n.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("run: %v", err)
				}
			}()
			var code int
			var body healthBody
			for i := 0; ; i++ {
				code, body = getHealth(t, n.HTTPAddr())
				if code == c.wantCode && body.Status == c.wantStatus {
					break
				}
				if i > 500 {
					t.Fatalf("healthz %d %+v, want %d %q", code, body, c.wantCode, c.wantStatus)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if len(body.Listeners) != 3 {
				t.Fatalf("healthz listeners %+v", body.Listeners)
			}
			for name, addr := range map[string]string{"http": n.HTTPAddr(), "rtmp": n.RTMPAddr(), "webrtcUDP": n.WebRTCAddr()} {
				l := body.Listeners[name]
				want := listen.Snapshot{State: "serving"}
				if name == "rtmp" && c.breakRTMP {
					want = listen.Snapshot{State: "stopped", AcceptErrors: 1, LastError: "accept tcp: accept4: invalid argument"}
				}
				if l.Address != addr || l.Snapshot != want {
					t.Errorf("listener %s: %+v, want %+v on %s", name, l, want, addr)
				}
			}
		})
	}
}

// TestWriteJSONUnencodable: a /healthz-style reply that cannot be encoded
// answers 500 with the reason, not the status with an empty body (the
// handler used json.NewEncoder(w).Encode after WriteHeader).
func TestWriteJSONUnencodable(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusServiceUnavailable, map[string]any{"c": make(chan int)})
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "encode reply") {
		t.Fatalf("got %d %q, want 500 naming the encoding failure", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	writeJSON(rec, http.StatusServiceUnavailable, map[string]any{"status": "starting"})
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "{\"status\":\"starting\"}\n" ||
		rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %q", rec.Code, rec.Body.String(), rec.Header())
	}
}
