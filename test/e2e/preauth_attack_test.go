package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/bench/stats"
)

// minirtcProcess is `minirtc serve` running as a child process.
type minirtcProcess struct {
	cmd      *exec.Cmd
	httpAddr string
	rtmpAddr string
	appID    string
	logs     *syncBuffer
}

// freePort returns a loopback TCP address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startMinirtc builds ./cmd/minirtc, creates an app that accepts its appId as
// key, and runs `serve` on free loopback ports until the test ends.
func startMinirtc(t *testing.T, extraEnv ...string) *minirtcProcess {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "minirtc")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/minirtc")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	out, err := exec.Command(bin, "app", "create", "--no-token-ok", "--json", "--data-dir", data).Output()
	if err != nil {
		t.Fatalf("app create: %v", err)
	}
	var app struct {
		ID string `json:"appId"`
	}
	if err := json.Unmarshal(out, &app); err != nil || app.ID == "" {
		t.Fatalf("app create output %q: %v", out, err)
	}
	p := &minirtcProcess{httpAddr: freePort(t), rtmpAddr: freePort(t), appID: app.ID, logs: &syncBuffer{}}
	p.cmd = exec.Command(bin, "serve", "--data-dir", data, "--http-addr", p.httpAddr, "--rtmp-addr", p.rtmpAddr,
		"--webrtc-addr", "127.0.0.1:0")
	p.cmd.Env = append(os.Environ(), extraEnv...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get("http://" + p.httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v\n%s", err, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// rss is the server's resident set size in bytes.
func (p *minirtcProcess) rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	n, err := stats.ParseStatusRSS(b)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// hostileRTMP is an unauthenticated RTMP client that does the handshake,
// sets a chunk size of 10 MiB (or, with smallChunk, 64 KiB), announces a
// 4 MiB message and sends its bytes slowly. It reports whether the server
// closed the connection before the whole body was sent.
func hostileRTMP(ctx context.Context, addr string, smallChunk bool) (closedByServer bool, err error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	c0c1 := make([]byte, 1+1536)
	c0c1[0] = 3
	if _, err := c.Write(c0c1); err != nil {
		return false, err
	}
	s := make([]byte, 1+1536+1536)
	if _, err := io.ReadFull(c, s); err != nil {
		return false, fmt.Errorf("handshake: %w", err)
	}
	// From here on, whatever the server sends is drained; its closing the
	// connection ends the read.
	gone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, c)
		close(gone)
	}()
	chunkSize := uint32(10 << 20)
	if smallChunk {
		chunkSize = 64 << 10
	}
	msgLen := 4 << 20
	var pre []byte
	pre = append(pre, s[1:1+1536]...) // C2
	// Set Chunk Size on csid 2, then a command message of msgLen on csid 3.
	pre = append(pre, 2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0)
	pre = binary.BigEndian.AppendUint32(pre, chunkSize)
	pre = append(pre, 3, 0, 0, 0, byte(msgLen>>16), byte(msgLen>>8), byte(msgLen), 20, 0, 0, 0, 0)
	if _, err := c.Write(pre); err != nil {
		return true, nil
	}
	// 256 KiB every 300 ms: the body takes about 5 s. With a 64 KiB chunk
	// size the body goes in 64 KiB chunks, each after a type 3 header.
	piece, pause := make([]byte, 256<<10), 300*time.Millisecond
	if smallChunk {
		piece, pause = piece[:64<<10], 75*time.Millisecond
	}
	for sent := 0; sent < msgLen; {
		if smallChunk && sent > 0 {
			if _, err := c.Write([]byte{3<<6 | 3}); err != nil {
				return true, nil
			}
		}
		n := min(len(piece), msgLen-sent)
		if _, err := c.Write(piece[:n]); err != nil {
			return true, nil
		}
		sent += n
		select {
		case <-gone:
			return true, nil
		case <-time.After(pause):
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	select {
	case <-gone:
		return true, nil
	case <-time.After(time.Second):
		return false, nil
	}
}

// TestPreAuthMemoryAttack (#13 item 2): 100 unauthenticated RTMP
// connections that each set a 10 MiB (or 64 KiB) chunk size, announce a
// 4 MiB message and trickle its bytes are all closed by the server, whose
// RSS stays within 50 MB of idle (before the limits: ~400 MB), while a
// mini program publishes with ffmpeg and another plays: the player decodes
// video during the attack. The server runs as a child process (its RSS is
// its own).
func TestPreAuthMemoryAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("attack test (about 20 s)")
	}
	needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	p := startMinirtc(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	time.Sleep(time.Second)
	idle := p.rss(t)

	// The legitimate publisher: a mini program member that publishes, with
	// ffmpeg as its live-pusher.
	const pubUID, viewUID = 11, 12
	mp := dialMiniProgram(ctx, t, "ws://"+p.httpAddr+"/api")
	defer mp.close()
	mp.join(p.appID, "room", pubUID, p.appID)
	pushURL := mp.request("publish", map[string]any{"uid": pubUID})["url"].(string)
	push := pushCmd(ctx, t, pushURL, 40)
	var pushErr bytes.Buffer
	push.Stderr = &pushErr
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = push.Process.Kill(); _ = push.Wait() }()
	viewer := dialMiniProgram(ctx, t, "ws://"+p.httpAddr+"/api")
	defer viewer.close()
	viewer.join(p.appID, "room", viewUID, p.appID)
	viewer.waitPush(t, "stream-added", pubUID, nil)
	playURL := viewer.request("subscribe", map[string]any{"uid": pubUID, "options": map[string]any{"audio": true, "video": true}})["url"].(string)
	withPublisher := p.rss(t)

	// The attack: 100 connections at once, each reconnecting when closed,
	// for 8 s.
	const attackers = 100
	attackEnd := time.Now().Add(8 * time.Second)
	attackCtx, stopAttack := context.WithDeadline(ctx, attackEnd)
	defer stopAttack()
	var attempts, closed, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attackCtx.Err() == nil {
				byServer, err := hostileRTMP(attackCtx, p.rtmpAddr, i%2 == 1)
				if attackCtx.Err() != nil || !time.Now().Before(attackEnd) {
					return // cut by the end of the attack, not by the server
				}
				attempts.Add(1)
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				case byServer:
					closed.Add(1)
				}
				select {
				case <-attackCtx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	var peak atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for attackCtx.Err() == nil {
			if r := p.rss(t); r > peak.Load() {
				peak.Store(r)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	// The legitimate player, during the attack: 4 s of the stream over RTMP.
	time.Sleep(time.Second)
	rec := filepath.Join(t.TempDir(), "play.flv")
	play := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-rw_timeout", "10000000",
		"-i", playURL, "-t", "4", "-c", "copy", "-f", "flv", "-y", rec)
	var playErr bytes.Buffer
	play.Stderr = &playErr
	playRunErr := play.Run()

	wg.Wait()
	<-sampled
	time.Sleep(2 * time.Second)
	after := p.rss(t)

	const mb = 1 << 20
	t.Logf("server RSS: idle %.1f MB, with publisher+viewer members %.1f MB, peak during the attack %.1f MB, 2 s after %.1f MB",
		float64(idle)/mb, float64(withPublisher)/mb, float64(peak.Load())/mb, float64(after)/mb)
	t.Logf("hostile connections: %d attempts, %d closed by the server, %d failed (%v)", attempts.Load(), closed.Load(), failed.Load(), firstErr.Load())

	if playRunErr != nil {
		t.Fatalf("player during the attack: %v\n%s\npublisher: %s", playRunErr, playErr.String(), pushErr.String())
	}
	frames := countDecodedVideoFrames(t, rec)
	t.Logf("player decoded %d video frames during the attack", frames)
	if frames < 50 {
		t.Errorf("player decoded %d video frames in 4 s during the attack, want at least 50", frames)
	}
	if attempts.Load() < attackers {
		t.Errorf("only %d hostile connections made", attempts.Load())
	}
	if closed.Load() != attempts.Load() {
		t.Errorf("%d of %d hostile connections were not closed by the server (failed: %d, %v)",
			attempts.Load()-closed.Load(), attempts.Load(), failed.Load(), firstErr.Load())
	}
	if peak.Load() > idle+50*mb {
		t.Errorf("peak RSS during the attack %.1f MB, more than idle (%.1f MB) + 50 MB", float64(peak.Load())/mb, float64(idle)/mb)
	}
	for _, want := range []string{"chunk size 10485760 is outside 1..4194304 bytes", "message of 4194304 bytes announced, over the limit of 65536 bytes"} {
		if !strings.Contains(p.logs.String(), want) {
			t.Errorf("server log has no %q", want)
		}
	}
}

// countDecodedVideoFrames decodes the video of path with ffprobe and returns
// the number of frames read.
func countDecodedVideoFrames(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("ffprobe: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("ffprobe: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ffprobe output %q: %v", out, err)
	}
	return n
}
