package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

type nopEndpoint struct{}

func (nopEndpoint) Notify(channel.Event) {}

// TestHTTPIdleConnectionsReaped: with http.idleTimeout and
// http.readHeaderTimeout at 1 s, 1,500 keep-alive connections left idle
// after one request and 500 that stall in their headers are all closed by
// the server, while an HTTP-FLV viewer and a gateway WebSocket opened
// before them, and older than both timeouts, keep working.
func TestHTTPIdleConnectionsReaped(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg is required: %v", err)
	}
	const (
		idleConns    = 1500
		stalledConns = 500
		timeout      = time.Second
	)
	cfg := testConfig(t)
	cfg.HTTP.IdleTimeout = timeout
	cfg.HTTP.ReadHeaderTimeout = timeout
	cfg.Gateway.IdleTimeout = time.Minute // the gateway's own liveness check is not under test
	n, err := NewWithStore(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	app, _ := n.CreatedDefaultApp()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runCtx, stopNode := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	defer func() {
		stopNode()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	// A publishing member pushes 30 s of video with ffmpeg.
	ref := channel.Ref{App: app.ID, Channel: "room", UID: 42, Endpoint: nopEndpoint{}}
	if _, err := n.Channels().Join(channel.JoinRequest{App: app.ID, Channel: "room", UID: 42, Role: channel.RoleBroadcaster, Endpoint: ref.Endpoint}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Channels().Publish(ref, "rtmp"); err != nil {
		t.Fatal(err)
	}
	stream := token.StreamName(app.ID, "room", "42")
	exp := time.Now().Add(time.Hour)
	push := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "30",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p",
		"-f", "flv", fmt.Sprintf("rtmp://%s/live/%s?%s", n.RTMPAddr(), stream, n.Signer().Query(token.ActionPublish, stream, exp)))
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { push.Process.Kill(); push.Wait() }()

	// The FLV viewer counts the bytes it receives.
	playURL := fmt.Sprintf("http://%s/live/%s.flv?%s", n.HTTPAddr(), stream, n.Signer().Query(token.ActionPlay, stream, exp))
	req, _ := http.NewRequestWithContext(ctx, "GET", playURL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("FLV viewer: %s", resp.Status)
	}
	viewerStart := time.Now()
	var flvBytes atomic.Int64
	flvErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 32<<10)
		for {
			k, err := resp.Body.Read(buf)
			flvBytes.Add(int64(k))
			if err != nil {
				flvErr <- err
				return
			}
		}
	}()
	for flvBytes.Load() < 4096 {
		select {
		case err := <-flvErr:
			t.Fatalf("FLV viewer ended before the flood: %v", err)
		case <-ctx.Done():
			t.Fatal("FLV viewer got no media")
		case <-time.After(20 * time.Millisecond):
		}
	}

	// The signaling WebSocket connects now and stays silent.
	ws, err := mc.Dial(ctx, "ws://"+n.HTTPAddr()+"/api")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	wsStart := time.Now()

	// The flood: every connection records when the server closed it.
	type result struct {
		idleFor time.Duration // from the end of its last response (or its stall) to the close
		err     error
	}
	results := make(chan result, idleConns+stalledConns)
	var wg sync.WaitGroup
	for i := range idleConns + stalledConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", n.HTTPAddr())
			if err != nil {
				results <- result{err: err}
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(60 * time.Second))
			br := bufio.NewReader(c)
			if i < idleConns {
				fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: minirtc\r\n\r\n")
				r, err := http.ReadResponse(br, nil)
				if err != nil {
					results <- result{err: fmt.Errorf("request: %w", err)}
					return
				}
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode != 200 || r.Close {
					results <- result{err: fmt.Errorf("response %s, close %v: not a kept-alive connection", r.Status, r.Close)}
					return
				}
			} else {
				fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: minirtc\r\n") // never ends its headers
			}
			idleFrom := time.Now()
			_, err = br.ReadByte()
			for err == nil { // a stalled request may be answered 408 before the close
				_, err = br.ReadByte()
			}
			if !errors.Is(err, io.EOF) {
				results <- result{err: fmt.Errorf("not closed by the server: %w", err)}
				return
			}
			results <- result{idleFor: time.Since(idleFrom)}
		}()
	}
	wg.Wait()
	close(results)
	var closed int
	var longest time.Duration
	for r := range results {
		if r.err != nil {
			t.Errorf("flood connection: %v", r.err)
			continue
		}
		closed++
		longest = max(longest, r.idleFor)
	}
	if closed != idleConns+stalledConns {
		t.Fatalf("%d of %d idle connections closed by the server", closed, idleConns+stalledConns)
	}
	t.Logf("%d idle/stalled connections closed by the server; longest wait %v (timeouts %v)", closed, longest.Round(time.Millisecond), timeout)

	// The FLV viewer, older than both timeouts, still receives media.
	before := flvBytes.Load()
	time.Sleep(timeout + 500*time.Millisecond)
	select {
	case err := <-flvErr:
		t.Fatalf("FLV viewer ended: %v", err)
	default:
	}
	if flvBytes.Load() <= before {
		t.Fatalf("FLV viewer received nothing for %v", timeout+500*time.Millisecond)
	}
	if age := time.Since(viewerStart); age < 2*timeout {
		t.Fatalf("FLV viewer only %v old", age)
	}

	// The WebSocket, silent longer than both timeouts, still answers.
	if age := time.Since(wsStart); age < 2*timeout {
		t.Fatalf("WebSocket only %v old", age)
	}
	b, _ := json.Marshal(map[string]any{"requestId": 1, "clientRequest": map[string]any{"action": "ping"}})
	if err := ws.SendRaw(ctx, b); err != nil {
		t.Fatalf("WebSocket write after %v idle: %v", time.Since(wsStart), err)
	}
	f, err := ws.Next(ctx)
	data := f.Raw
	if err != nil {
		t.Fatalf("WebSocket read after %v idle: %v", time.Since(wsStart), err)
	}
	var m map[string]any
	if json.Unmarshal(data, &m); m["code"] != 200.0 || m["requestId"] != 1.0 {
		t.Fatalf("WebSocket ping reply %s", data)
	}
}

// TestHTTPMaxHeaderBytes: with the default http.maxHeaderBytes (32 KiB) a
// request whose headers are 64 KiB is refused with 431 before any handler
// runs, while one carrying a 3 KiB header (a long token) is served.
func TestHTTPMaxHeaderBytes(t *testing.T) {
	cfg := testConfig(t)
	n, err := NewWithStore(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), store.NewMemory())
	if err != nil {
		t.Fatal(err)
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
	for _, c := range []struct {
		name string
		size int
		want int
	}{
		{"long-token", 3 << 10, http.StatusOK},
		{"oversized", 64 << 10, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+n.HTTPAddr()+"/healthz", nil)
			req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", c.size))
			var resp *http.Response
			for i := 0; ; i++ {
				resp, err = http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable || i > 200 { // 503 until Run is ready
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if resp.StatusCode != c.want {
				t.Fatalf("%d-byte header: %s, want %d", c.size, resp.Status, c.want)
			}
		})
	}
}
