package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/minirtc/minirtc/internal/logtest"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/token"
)

// devServer runs the built binary with serve --dev on free loopback ports and
// returns its HTTP address and the lines it printed up to its banner's end.
func devServer(t *testing.T, bin, data string) (string, []string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--dev", "--data-dir", data, "--http-addr", "127.0.0.1:0", "--rtmp-addr", "127.0.0.1:0", "--webrtc-addr", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	var lines []string
	addr := ""
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if m := regexp.MustCompile(`listening: http (\S+) `).FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
		if strings.HasPrefix(line, "Other channels and uids") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if addr == "" {
		t.Fatalf("no banner:\n%s\n%s", strings.Join(lines, "\n"), stderr.String())
	}
	waitHealthy(t, addr)
	return addr, lines
}

type lockedBuffer = logtest.Buffer

func waitHealthy(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 400; i++ {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never became healthy", addr)
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "minirtc")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestServeDev: serve --dev binds loopback, creates a no-token development
// app, serves the token server and prints URLs that name its real ports and
// carry tokens that verify; app commands and minirtc url reach the running
// server through its control socket, and their changes apply at once.
func TestServeDev(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	addr, lines := devServer(t, bin, data)
	banner := strings.Join(lines, "\n")
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("dev server not on loopback: %s", addr)
	}
	m := regexp.MustCompile(`app "dev"  appId ([0-9a-f]{32})  appCertificate ([0-9a-f]{32})`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no dev app in banner:\n%s", banner)
	}
	appID, cert := m[1], m[2]
	for _, want := range []string{"http://" + addr + "/demo/?appId=" + appID, "http://" + addr + "/token?channel=test&uid=1234", "RTMP push   rtmp://127.0.0.1:", "ffmpeg -re"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}

	// The app commands work while the server runs (the store file is locked).
	out, errOut, code := runCLI(t, "app", "list", "--data-dir", data, "--json")
	if code != 0 {
		t.Fatalf("app list on a running server: %d %s", code, errOut)
	}
	var apps []struct {
		ID       string `json:"appId"`
		Name     string `json:"name"`
		Settings struct {
			AllowNoToken bool `json:"allowNoToken"`
		} `json:"settings"`
	}
	if err := json.Unmarshal([]byte(out), &apps); err != nil || len(apps) != 1 || apps[0].ID != appID || !apps[0].Settings.AllowNoToken {
		t.Fatalf("apps: %v %s", err, out)
	}
	if _, errOut, code := runCLI(t, "app", "create", "--data-dir", data, "--name", "second"); code != 0 {
		t.Fatalf("app create on a running server: %s", errOut)
	}

	// minirtc url asks the running server for its ports.
	out, errOut, code = runCLI(t, "url", "--data-dir", data, "--channel", "room 1", "--uid", "77", "--json")
	if code != 0 {
		t.Fatalf("url: %s", errOut)
	}
	var u mediaURLs
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		t.Fatal(err)
	}
	if u.AppID != appID || !strings.HasPrefix(u.FLVPlay, "http://"+addr+"/live/") || !strings.HasPrefix(u.WHIP, "http://"+addr+"/whip/"+appID+"/room%201/77") {
		t.Fatalf("urls: %+v", u)
	}
	if _, err := token.Check(u.Token, token.Claims{AppID: appID, AppCert: cert, Channel: "room 1", UID: "77"}, time.Now()); err != nil {
		t.Fatalf("push token: %v", err)
	}
	if !strings.Contains(u.RTMPPush, "token="+strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(u.Token)) {
		t.Fatalf("token not URL-encoded in %s", u.RTMPPush)
	}

	// The token server hands out tokens for the dev app.
	resp, err := http.Get(fmt.Sprintf("http://%s/token?channel=test&uid=9", addr))
	if err != nil {
		t.Fatal(err)
	}
	var tr struct{ Token, AppID string }
	json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if resp.StatusCode != 200 || tr.AppID != appID {
		t.Fatalf("token server: %d %+v", resp.StatusCode, tr)
	}

	// Disabling the app over the control socket applies at once.
	if _, errOut, code := runCLI(t, "app", "disable", appID, "--data-dir", data); code != 0 {
		t.Fatalf("app disable: %s", errOut)
	}
	resp, err = http.Get(fmt.Sprintf("http://%s/token?channel=test&uid=9", addr))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("token server for a disabled app: %d", resp.StatusCode)
	}
	resp, err = http.Get(u.FLVPlay)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode == 200 || !strings.Contains(string(body), "disabled") {
		t.Fatalf("FLV play of a disabled app: %d %s", resp.StatusCode, body)
	}
}
