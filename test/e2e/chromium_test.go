package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
)

// Headless Chromium driven over the DevTools protocol, shared by the browser
// tests. Chromium runs with fake camera/microphone inside the tests' loopback
// network namespace.

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

// devtools is a CDP connection to one page target.
type devtools struct {
	conn *websocket.Conn
	id   int
}

// openChromium starts headless Chromium (fake devices, autoplay allowed) on
// page and connects to the page target whose URL contains targetPath; host is
// the DevTools HTTP address. Chromium ends with the test.
func openChromium(ctx context.Context, t *testing.T, page, targetPath string) (d *devtools, host string) {
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
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
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
	var target string
	for deadline := time.Now().Add(20 * time.Second); target == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no page target %s in DevTools", targetPath)
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
			if tg.Type == "page" && strings.Contains(tg.URL, targetPath) {
				target = tg.WebSocketDebuggerURL
			}
		}
	}
	return dialDevtools(ctx, t, target), u.Host
}

// openTab opens page in a new tab of the Chromium at host.
func openTab(ctx context.Context, t *testing.T, host, page string) *devtools {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+host+"/json/new?"+url.QueryEscape(page), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("DevTools new tab: %v", err)
	}
	defer resp.Body.Close()
	var tg struct {
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tg); err != nil || tg.WebSocketDebuggerURL == "" {
		t.Fatalf("DevTools new tab: HTTP %d, %v", resp.StatusCode, err)
	}
	return dialDevtools(ctx, t, tg.WebSocketDebuggerURL)
}

func dialDevtools(ctx context.Context, t *testing.T, target string) *devtools {
	t.Helper()
	c, _, err := websocket.Dial(ctx, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(4 << 20)
	t.Cleanup(func() { c.Close(websocket.StatusNormalClosure, "") })
	return &devtools{conn: c}
}

// eval runs expr in the page (Runtime.evaluate); a string result is decoded
// as JSON into out (when out is not nil).
func (d *devtools) eval(ctx context.Context, expr string, out any) error {
	d.id++
	id := d.id
	req := map[string]any{"id": id, "method": "Runtime.evaluate", "params": map[string]any{
		"expression": expr, "returnByValue": true}}
	if err := wsjson.Write(ctx, d.conn, req); err != nil {
		return fmt.Errorf("CDP write: %w", err)
	}
	for {
		var resp struct {
			ID     int `json:"id"`
			Result struct {
				Result struct {
					Value json.RawMessage `json:"value"`
				} `json:"result"`
				ExceptionDetails *struct {
					Text string `json:"text"`
				} `json:"exceptionDetails"`
			} `json:"result"`
			Error *struct{ Message string } `json:"error"`
		}
		if err := wsjson.Read(ctx, d.conn, &resp); err != nil {
			return fmt.Errorf("CDP read: %w", err)
		}
		if resp.ID != id {
			continue
		}
		if resp.Error != nil {
			return fmt.Errorf("CDP: %s", resp.Error.Message)
		}
		if ex := resp.Result.ExceptionDetails; ex != nil {
			return fmt.Errorf("page exception: %s", ex.Text)
		}
		if out == nil {
			return nil
		}
		var text string
		if err := json.Unmarshal(resp.Result.Result.Value, &text); err != nil {
			return fmt.Errorf("page value %s: %w", resp.Result.Result.Value, err)
		}
		return json.Unmarshal([]byte(text), out)
	}
}

// inLoopbackNetns runs body in a network namespace that has only loopback:
// outside one, it checks the tools the browser tests need and re-executes
// test name of this binary under `unshare -n`, failing unless the child
// passes, and logs the child's lines that contain summary. Inside, it runs
// body.
func inLoopbackNetns(t *testing.T, name string, timeout time.Duration, summary string, body func(*testing.T)) {
	t.Helper()
	if os.Getenv(netnsEnv) != "1" {
		needTool(t, "ffmpeg")
		chromiumPath(t)
	}
	inNetns(t, name, timeout, summary, "ip link set lo up", body)
}

// inNetns runs body in a new network namespace prepared by the shell
// commands setup (run as root inside it): outside one, it re-executes test
// name of this binary there, failing unless the child passes, and logs the
// child's lines that contain summary. Inside, it runs body.
func inNetns(t *testing.T, name string, timeout time.Duration, summary, setup string, body func(*testing.T)) {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		body(t)
		return
	}
	needTool(t, "unshare")
	needTool(t, "ip")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", "sh", "-c", setup+` && exec "$0" "$@"`,
		os.Args[0], "-test.run", "^"+name+"$", "-test.v", "-test.count", "1")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("%s in a network namespace failed: %v\n%s", name, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, summary) {
			t.Log(strings.TrimSpace(l))
		}
	}
}
