package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/minirtc/minirtc/internal/token"
)

// netnsEnv marks the test process re-executed inside its own network
// namespace (only a loopback interface).
const netnsEnv = "MINIRTC_E2E_NETNS"

// TestBrowserWebRTC: headless Chromium with a fake camera and microphone
// opens the page minirtc serves, publishes over WHIP and plays a mini
// program's (ffmpeg's) RTMP stream over WHEP. The page must report decoded
// video frames and audio energy for the remote stream, and ffmpeg must
// decode the browser's stream over RTMP. Everything runs in a network
// namespace with only loopback: the test re-executes itself under
// `unshare -n`.
func TestBrowserWebRTC(t *testing.T) {
	if os.Getenv(netnsEnv) != "1" {
		needTool(t, "unshare")
		needTool(t, "ip")
		needTool(t, "ffmpeg")
		chromiumPath(t)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "unshare", "-n", "sh", "-c", `ip link set lo up && exec "$0" "$@"`,
			os.Args[0], "-test.run", "^TestBrowserWebRTC$", "-test.v", "-test.count", "1")
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestBrowserWebRTC") {
			t.Fatalf("browser test in a network namespace failed: %v\n%s", err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "browser: framesDecoded") {
				t.Log(strings.TrimSpace(l))
			}
		}
		return
	}
	browserTest(t)
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is required (the test script installs it: apt-get install -y chromium)")
	return ""
}

// pageState is window.minirtc on the test page.
type pageState struct {
	Published        bool    `json:"published"`
	Playing          bool    `json:"playing"`
	FramesDecoded    int     `json:"framesDecoded"`
	TotalAudioEnergy float64 `json:"totalAudioEnergy"`
	Error            string  `json:"error"`
}

func browserTest(t *testing.T) {
	e := newNodeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	// A mini program (ffmpeg) publishes uid 6 over RTMP.
	e.joinPublisher(6)
	push := pushCmd(ctx, t, e.pushURL("6"), 60)
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = push.Wait()
	}()
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, "6"))

	q := url.Values{
		"app": {e.app.ID}, "channel": {"room"},
		"pub": {"5"}, "ptoken": {e.token("room", "5", token.RolePublisher)},
		"play": {"6"}, "vtoken": {e.token("room", "1001", token.RoleSubscriber)},
	}
	page := "http://" + e.n.HTTPAddr() + "/webrtc/?" + q.Encode()
	cdp := startChromium(ctx, t, page)
	defer cdp.Close(websocket.StatusNormalClosure, "")

	// Wait for the page to publish, then let ffmpeg play the browser's stream.
	var st pageState
	poll := func(cond func(pageState) bool, what string) {
		t.Helper()
		for {
			st = evalState(ctx, t, cdp)
			if st.Error != "" {
				t.Fatalf("page error: %s", st.Error)
			}
			if cond(st) {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s; page state %+v", what, st)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	poll(func(s pageState) bool { return s.Published }, "the WHIP publish")
	if m, ok := e.n.Channels().Member(e.app.ID, "room", 5); !ok || !m.Publishing {
		t.Fatalf("the browser is not a publishing member: %+v", m)
	}
	frames, pcm := decodeWithFFmpeg(ctx, t, e.playURL("rtmp", "5"), "", 3)
	if frames < 10 {
		t.Errorf("ffmpeg decoded %d video frames of the browser's stream over RTMP", frames)
	}
	var energy float64
	for _, v := range pcm {
		energy += math.Abs(float64(v))
	}
	if len(pcm) == 0 || energy == 0 {
		t.Errorf("the browser's audio over RTMP is silent (%d samples)", len(pcm))
	}
	poll(func(s pageState) bool { return s.FramesDecoded > 0 && s.TotalAudioEnergy > 0 }, "remote frames and audio energy")
	t.Logf("browser: framesDecoded=%d totalAudioEnergy=%.4f; ffmpeg over RTMP: %d frames, %d samples",
		st.FramesDecoded, st.TotalAudioEnergy, frames, len(pcm))
}

// startChromium launches headless Chromium on page and returns a CDP
// connection to the page target. The process ends with ctx.
func startChromium(ctx context.Context, t *testing.T, page string) *websocket.Conn {
	t.Helper()
	cmd := exec.CommandContext(ctx, chromiumPath(t),
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
		"--autoplay-policy=no-user-gesture-required", "--use-fake-device-for-media-stream",
		"--use-fake-ui-for-media-stream", "--user-data-dir="+t.TempDir(), "--remote-debugging-port=0",
		page)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	wsURL := make(chan string, 1)
	go func() {
		defer close(exited)
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case wsURL <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
	}()
	var browser string
	select {
	case browser = <-wsURL:
	case <-exited:
		t.Fatal("chromium exited before DevTools started")
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not start DevTools")
	}
	u, err := url.Parse(browser)
	if err != nil {
		t.Fatal(err)
	}
	// Find the page target.
	var target string
	for deadline := time.Now().Add(20 * time.Second); target == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no page target in DevTools")
		}
		resp, err := http.Get("http://" + u.Host + "/json/list")
		if err != nil {
			continue
		}
		var targets []struct {
			Type, URL            string
			WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&targets)
		resp.Body.Close()
		for _, tg := range targets {
			if tg.Type == "page" && strings.Contains(tg.URL, "/webrtc/") {
				target = tg.WebSocketDebuggerURL
			}
		}
	}
	c, _, err := websocket.Dial(ctx, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(4 << 20)
	return c
}

var cdpID int

// evalState reads window.minirtc over CDP (Runtime.evaluate).
func evalState(ctx context.Context, t *testing.T, c *websocket.Conn) pageState {
	t.Helper()
	cdpID++
	id := cdpID
	req := map[string]any{"id": id, "method": "Runtime.evaluate", "params": map[string]any{
		"expression": "JSON.stringify(window.minirtc || {})", "returnByValue": true}}
	if err := wsjson.Write(ctx, c, req); err != nil {
		t.Fatalf("CDP write: %v", err)
	}
	for {
		var resp struct {
			ID     int `json:"id"`
			Result struct {
				Result struct {
					Value string `json:"value"`
				} `json:"result"`
			} `json:"result"`
			Error *struct{ Message string } `json:"error"`
		}
		if err := wsjson.Read(ctx, c, &resp); err != nil {
			t.Fatalf("CDP read: %v", err)
		}
		if resp.ID != id {
			continue
		}
		if resp.Error != nil {
			t.Fatalf("CDP: %s", resp.Error.Message)
		}
		var st pageState
		if err := json.Unmarshal([]byte(resp.Result.Result.Value), &st); err != nil {
			t.Fatalf("page state %q: %v", resp.Result.Result.Value, err)
		}
		return st
	}
}
