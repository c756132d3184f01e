package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/store"
)

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestTokenRoundTrip(t *testing.T) {
	const app, cert = "970CA35de60c44645bbae8a215061b33", "5CFd2fd1755d40ecb72977518be15d3b"
	cases := []struct {
		name string
		args []string
		uid  string
		priv int
	}{
		{"007-uid", []string{"--uid", "2882341273"}, "2882341273", 4},
		{"007-account-subscriber", []string{"--account", "alice", "--role", "subscriber"}, "alice", 1},
		{"006-uid", []string{"--uid", "7", "--format", "006"}, "", 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"token", "build", "--app-id", app, "--app-cert", cert, "--channel", "room 1", "--expire", "600"}, c.args...)
			out, errOut, code := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("build exit %d: %s", code, errOut)
			}
			tok := strings.TrimSpace(out)
			inspectArgs := []string{"token", "inspect", tok, "--app-cert", cert}
			if strings.Contains(c.name, "006") {
				inspectArgs = append(inspectArgs, "--channel", "room 1", "--uid", "7")
			}
			out, errOut, code = runCLI(t, inspectArgs...)
			if code != 0 {
				t.Fatalf("inspect exit %d: %s", code, errOut)
			}
			var got struct {
				Version  string `json:"version"`
				AppID    string `json:"appId"`
				Verified *bool  `json:"verified"`
				Error    string `json:"error"`
				Services []struct {
					Channel    string `json:"channel"`
					UID        string `json:"uid"`
					Privileges []any  `json:"privileges"`
				} `json:"services"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("inspect output: %v\n%s", err, out)
			}
			if got.AppID != app || got.Verified == nil || !*got.Verified || got.Error != "" {
				t.Fatalf("inspect: %s", out)
			}
			if len(got.Services) != 1 || len(got.Services[0].Privileges) != c.priv {
				t.Fatalf("services: %s", out)
			}
			if got.Version == "007" && (got.Services[0].Channel != "room 1" || got.Services[0].UID != c.uid) {
				t.Fatalf("claims: %s", out)
			}
			// A wrong certificate does not verify.
			out, _, _ = runCLI(t, "token", "inspect", tok, "--app-cert", strings.Repeat("0", 32), "--channel", "room 1", "--uid", "7")
			if !strings.Contains(out, `"verified": false`) || !strings.Contains(out, "signature mismatch") {
				t.Fatalf("wrong cert: %s", out)
			}
		})
	}
}

func TestCLIErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nope"}, 2, "unknown command"},
		{[]string{"token", "build", "--app-id", "x"}, 1, "exactly one of --uid/--account"},
		{[]string{"token", "build", "--app-id", strings.Repeat("a", 32), "--app-cert", strings.Repeat("b", 32), "--channel", "c", "--uid", "abc"}, 1, "unsigned 32-bit"},
		{[]string{"token", "inspect", "garbage"}, 1, "malformed token"},
		{[]string{"app", "frob", "--data-dir", "DATA"}, 2, "unknown subcommand"},
		{[]string{"app", "disable", "0123456789abcdef0123456789abcdef", "--data-dir", "DATA"}, 1, "no app with id"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		args := make([]string, len(c.args))
		for i, a := range c.args {
			args[i] = strings.ReplaceAll(a, "DATA", dir)
		}
		_, errOut, code := runCLI(t, args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

func TestAppCommands(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runCLI(t, "app", "create", "--data-dir", dir, "--name", "demo", "--no-token-ok", "--json")
	if code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	var a store.App
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	if len(a.ID) != 32 || len(a.Certificate) != 32 || !a.Settings.AllowNoToken || !a.Enabled || a.Name != "demo" {
		t.Fatalf("created %+v", a)
	}
	if _, errOut, code := runCLI(t, "app", "disable", a.ID, "--data-dir", dir); code != 0 {
		t.Fatalf("disable: %s", errOut)
	}
	out, _, _ = runCLI(t, "app", "list", "--data-dir", dir, "--json")
	var list []store.App
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].Enabled {
		t.Fatalf("list after disable: %s %v", out, err)
	}
	runCLI(t, "app", "enable", a.ID, "--data-dir", dir)
	out, _, _ = runCLI(t, "app", "list", "--data-dir", dir)
	if !regexp.MustCompile(a.ID + `\s+` + a.Certificate + `\s+demo\s+true`).MatchString(out) {
		t.Fatalf("table: %s", out)
	}
}

func TestPrintConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yml")
	os.WriteFile(file, []byte("http:\n  addr: 127.0.0.1:1111\nrtmp:\n  addr: 127.0.0.1:2222\n"), 0o600)
	t.Setenv("MINIRTC_RTMP_ADDR", "127.0.0.1:3333")
	t.Setenv("MINIRTC_DATA_DIR", "/from-env")
	out, errOut, code := runCLI(t, "serve", "--config", file, "--data-dir", "/from-flag", "--print-config")
	if code != 0 {
		t.Fatal(errOut)
	}
	for _, want := range []string{"addr: 127.0.0.1:1111", "addr: 127.0.0.1:3333", "dataDir: /from-flag", "graceTimeout: 15s"} {
		if !strings.Contains(out, want) {
			t.Errorf("print-config lacks %q:\n%s", want, out)
		}
	}
}

// TestServeBinary builds the real binary, starts it with an empty data dir,
// waits for the default app and /healthz, then stops it with SIGTERM.
func TestServeBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "minirtc")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()
	cmd := exec.Command(bin, "serve", "--data-dir", data, "--http-addr", "127.0.0.1:0", "--rtmp-addr", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	var addr, appID string
	var lines []string
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if m := regexp.MustCompile(`appId:\s+([0-9a-f]{32})`).FindStringSubmatch(line); m != nil {
			appID = m[1]
		}
		if m := regexp.MustCompile(`listening: http (\S+) rtmp 127\.0\.0\.1:\d+ webrtc-udp 127\.0\.0\.1:\d+$`).FindStringSubmatch(line); m != nil {
			addr = m[1]
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if appID == "" || addr == "" {
		t.Fatalf("no default app or address printed:\n%s\n%s", strings.Join(lines, "\n"), stderr.String())
	}
	if !strings.Contains(strings.Join(lines, "\n"), "minirtc token build --app-id "+appID) {
		t.Fatalf("no ready-to-paste token line:\n%s", strings.Join(lines, "\n"))
	}
	var health map[string]any
	for i := 0; ; i++ {
		resp, err := http.Get(fmt.Sprintf("http://%s/healthz", addr))
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&health)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 200 {
			t.Fatalf("healthz never answered 200: %v", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	if health["status"] != "ok" {
		t.Fatalf("healthz: %v", health)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop within 10 s of SIGTERM")
	}
	if !strings.Contains(stderr.String(), "msg=stopped") {
		t.Fatalf("no clean stop logged:\n%s", stderr.String())
	}
	// Second start: same app, nothing created.
	out, _, code := runCLI(t, "app", "list", "--data-dir", data, "--json")
	if code != 0 || !strings.Contains(out, appID) {
		t.Fatalf("default app not persisted: %s", out)
	}
}

// TestLogDurationsReadable: the server's logger writes durations as
// duration strings in JSON too (slog's JSON handler alone writes integer
// nanoseconds: "timeout":5000000000), at any nesting.
func TestLogDurationsReadable(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log := newLogger(&buf, config.Log{Level: "info", Format: format})
			log.Info("shutting down", "timeout", 5*time.Second, slog.Group("rtt", "p99", 1500*time.Microsecond), "count", 3)
			line := buf.String()
			if format == "text" {
				if !strings.Contains(line, "timeout=5s") || !strings.Contains(line, "rtt.p99=1.5ms") || !strings.Contains(line, "count=3") {
					t.Fatalf("text line %q", line)
				}
				return
			}
			var got struct {
				Timeout any            `json:"timeout"`
				RTT     map[string]any `json:"rtt"`
				Count   any            `json:"count"`
			}
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatalf("%v: %q", err, line)
			}
			if got.Timeout != "5s" || got.RTT["p99"] != "1.5ms" || got.Count != 3.0 {
				t.Fatalf("json line %q", line)
			}
		})
	}
}
