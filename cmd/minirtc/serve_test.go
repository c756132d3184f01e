package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// minirtcBinary builds the minirtc binary once per test run.
func minirtcBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "minirtc-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "minirtc")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// TestServeStartupListenerTaken: for each listener (HTTP, RTMP, WebRTC
// UDP) whose address another program holds, `minirtc serve` exits 1 with
// one line on stderr that names the address and the flag to change, and
// no panic. A later start on free ports still prints the default app's
// credentials (the failed starts did not create it silently).
func TestServeStartupListenerTaken(t *testing.T) {
	bin := minirtcBinary(t)
	data := t.TempDir()
	for _, c := range []struct {
		name, flag, key string
		udp             bool
	}{
		{"http", "--http-addr", "http.addr", false},
		{"rtmp", "--rtmp-addr", "rtmp.addr", false},
		{"webrtc-udp", "--webrtc-addr", "webrtc.udpAddr", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var taken string
			if c.udp {
				pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				taken = pc.LocalAddr().String()
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				taken = ln.Addr().String()
			}
			args := map[string]string{"--http-addr": "127.0.0.1:0", "--rtmp-addr": "127.0.0.1:0", "--webrtc-addr": "127.0.0.1:0"}
			args[c.flag] = taken
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "serve", "--data-dir", data,
				"--http-addr", args["--http-addr"], "--rtmp-addr", args["--rtmp-addr"], "--webrtc-addr", args["--webrtc-addr"])
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("stderr has %d lines, want one:\n%s", len(lines), stderr.String())
			}
			line := lines[0]
			for _, want := range []string{"minirtc serve: ", taken, "already in use", c.flag, c.key} {
				if !strings.Contains(line, want) {
					t.Errorf("stderr line lacks %q: %s", want, line)
				}
			}
			if strings.Contains(stderr.String(), "panic") || strings.Contains(stderr.String(), "goroutine") {
				t.Errorf("panic output:\n%s", stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout of a failed start:\n%s", stdout.String())
			}
			t.Logf("stderr: %s", line)
		})
	}

	// Free ports now: the first successful start creates and prints the app.
	srv := startServe(t, bin, data, nil)
	if srv.appID == "" {
		t.Fatalf("no default app printed after the failed starts:\n%s", srv.stdout)
	}
}

// TestServeStartupFailuresOneLine: other start-up failures also exit 1
// with one stderr line that says what failed and which flag or key fixes
// it, without a stack trace.
func TestServeStartupFailuresOneLine(t *testing.T) {
	bin := minirtcBinary(t)
	locked := t.TempDir()
	st, err := store.OpenBolt(filepath.Join(locked, "minirtc.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"tls-missing", []string{"--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"}, nil,
			[]string{"TLS certificate", "/nonexistent/cert.pem", "--tls-cert"}},
		{"store-in-use", []string{"--data-dir", locked}, nil,
			[]string{"in use by another minirtc", "--data-dir"}},
		{"data-dir-not-a-dir", []string{"--data-dir", filepath.Join(file, "data")}, nil,
			[]string{"not a directory", "--data-dir"}},
		{"address-not-local", []string{"--rtmp-addr", "192.0.2.1:1935"}, nil,
			[]string{"RTMP address 192.0.2.1:1935 is not an address of this machine", "--rtmp-addr"}},
		{"two-bad-keys", []string{"--http-addr", "8080"}, []string{"MINIRTC_GATEWAY_GRACE_TIMEOUT=0s"},
			[]string{"http.addr must be host:port", "gateway.graceTimeout must be a positive duration"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"serve", "--data-dir", t.TempDir(), "--http-addr", "127.0.0.1:0", "--rtmp-addr", "127.0.0.1:0"}, c.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), c.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1\nstderr:\n%s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "minirtc serve: ") {
				t.Fatalf("stderr is not one line:\n%s", stderr.String())
			}
			for _, want := range c.want {
				if !strings.Contains(lines[0], want) {
					t.Errorf("stderr lacks %q: %s", want, lines[0])
				}
			}
			t.Logf("stderr: %s", lines[0])
		})
	}
}

// served is a running `minirtc serve`.
type served struct {
	cmd                *exec.Cmd
	httpAddr, rtmpAddr string
	appID, appCert     string
	stdout             string
	stderrMu           sync.Mutex
	stderr             bytes.Buffer
}

func (s *served) stderrText() string {
	s.stderrMu.Lock()
	defer s.stderrMu.Unlock()
	return s.stderr.String()
}

// startServe runs bin serve on loopback ports (prefix runs it under another
// command, e.g. prlimit) and waits for its listening line.
func startServe(t *testing.T, bin, data string, prefix []string, env ...string) *served {
	t.Helper()
	argv := append(append([]string{}, prefix...), bin, "serve", "--data-dir", data, "--http-addr", "127.0.0.1:0", "--rtmp-addr", "127.0.0.1:0")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			s.stderrMu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.stderrMu.Unlock()
		}
	}()
	sc := bufio.NewScanner(stdout)
	var lines []string
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if m := regexp.MustCompile(`appId:\s+([0-9a-f]{32})`).FindStringSubmatch(line); m != nil {
			s.appID = m[1]
		}
		if m := regexp.MustCompile(`appCertificate:\s+([0-9a-f]{32})`).FindStringSubmatch(line); m != nil {
			s.appCert = m[1]
		}
		if m := regexp.MustCompile(`listening: http (\S+) rtmp (\S+) `).FindStringSubmatch(line); m != nil {
			s.httpAddr, s.rtmpAddr = m[1], m[2]
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	s.stdout = strings.Join(lines, "\n")
	if s.httpAddr == "" {
		t.Fatalf("serve did not start:\n%s\n%s", s.stdout, s.stderrText())
	}
	return s
}

// member is a mini program on the gateway WebSocket (the shared client,
// package client).
type member struct {
	t   *testing.T
	ctx context.Context
	cc  *mc.Conn
}

func joinMember(ctx context.Context, t *testing.T, s *served, uid string, role token.Role) *member {
	t.Helper()
	cc, err := mc.Dial(ctx, "ws://"+s.httpAddr+"/api")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.CloseNow)
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: s.appID, AppCert: s.appCert, Channel: "room", UID: uid,
		Role: role, IssuedAt: time.Now(), Lifetime: 3600})
	if err != nil {
		t.Fatal(err)
	}
	m := &member{t: t, ctx: ctx, cc: cc}
	wsRole := "broadcaster"
	if role == token.RoleSubscriber {
		wsRole = "audience"
	}
	m.call(map[string]any{"action": "join", "role": wsRole, "appId": s.appID, "key_vos": tok,
		"channel_name": "room", "uid": uid, "uidType": 0})
	return m
}

// call sends one request and returns its serverResponse, skipping pushes.
func (m *member) call(req map[string]any) map[string]any {
	m.t.Helper()
	action, _ := req["action"].(string)
	reply, err := m.cc.Call(m.ctx, action, req)
	if err != nil {
		m.t.Fatalf("%v: reply %s: %v", req["action"], reply, err)
	}
	var r map[string]any
	if err := json.Unmarshal(reply.Raw, &r); err != nil {
		m.t.Fatal(err)
	}
	resp, _ := r["serverResponse"].(map[string]any)
	return resp
}

func (m *member) url(req map[string]any) string {
	m.t.Helper()
	r := m.call(req)
	u, _ := r["url"].(string)
	if u == "" {
		m.t.Fatalf("%v: no url in %v", req["action"], r)
	}
	return u
}

// rtmpHandshakes reports whether an RTMP server answers a handshake on addr
// (C0+C1 in, S0+S1 out) within a short deadline.
func rtmpHandshakes(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	c0c1 := make([]byte, 1+1536)
	c0c1[0] = 3
	if _, err := c.Write(c0c1); err != nil {
		return false
	}
	_, err = io.ReadFull(c, make([]byte, 1+1536))
	return err == nil
}

// TestServeRecoversFromFDExhaustion runs `minirtc serve` with 128 file
// descriptors (prlimit), exhausts them with idle RTMP connections until the
// RTMP accept fails (EMFILE), also queues connections on the HTTP port,
// then closes them all: both listeners serve again on their own, /healthz
// counts the failed accepts, and a mini program joins over the gateway,
// publishes with ffmpeg and another member plays it over RTMP, decoding
// the frames with ffprobe.
func TestServeRecoversFromFDExhaustion(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux) is required: %v", err)
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg is required: %v", err)
	}
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatalf("ffprobe is required: %v", err)
	}
	const limit = 128
	bin := minirtcBinary(t)
	srv := startServe(t, bin, t.TempDir(), []string{prlimit, fmt.Sprintf("--nofile=%d:%d", limit, limit), "--"},
		"MINIRTC_RTMP_HANDSHAKE_TIMEOUT=10m", // the idle connections stay until the test closes them
		"MINIRTC_MEDIA_PUBLISHER_GRACE=500ms")
	if srv.appID == "" || srv.appCert == "" {
		t.Fatalf("no app credentials printed:\n%s", srv.stdout)
	}

	// Exhaust the descriptors with idle RTMP connections.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range limit + 32 {
		c, err := net.Dial("tcp", srv.rtmpAddr)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	failed := func(listener string) bool {
		re := regexp.MustCompile(`accept failed, retrying.*listener=` + listener + `.*too many open files`)
		return re.MatchString(srv.stderrText())
	}
	waitFor := func(what string, d time.Duration, cond func() bool) bool {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if cond() {
				return true
			}
		}
		t.Errorf("%s: not within %v; server log:\n%s", what, d, srv.stderrText())
		return false
	}
	waitFor("RTMP accept failing with EMFILE", 15*time.Second, func() bool { return failed("rtmp") })
	// Connections to the HTTP port wait in its backlog: its accept fails too.
	for range 4 {
		c, err := net.Dial("tcp", srv.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitFor("HTTP accept failing with EMFILE", 15*time.Second, func() bool { return failed("http") })
	// Stay exhausted long enough for the backoff to reach its 1 s cap.
	time.Sleep(3 * time.Second)
	if rtmpHandshakes(srv.rtmpAddr) {
		t.Fatal("RTMP answered a handshake while out of descriptors: the test did not exhaust them")
	}

	// Release.
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	released := time.Now()
	var rtmpBack, httpBack time.Duration
	if !waitFor("RTMP handshake after release", 30*time.Second, func() bool { return rtmpHandshakes(srv.rtmpAddr) }) {
		t.FailNow()
	}
	rtmpBack = time.Since(released)
	client := &http.Client{Timeout: 500 * time.Millisecond}
	var health struct {
		Status    string `json:"status"`
		Listeners map[string]struct {
			State        string `json:"state"`
			AcceptErrors uint64 `json:"acceptErrors"`
		} `json:"listeners"`
	}
	if !waitFor("healthz 200 after release", 30*time.Second, func() bool {
		resp, err := client.Get("http://" + srv.httpAddr + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&health) == nil
	}) {
		t.FailNow()
	}
	httpBack = time.Since(released)
	t.Logf("recovered after release: RTMP handshake in %v, /healthz in %v", rtmpBack.Round(time.Millisecond), httpBack.Round(time.Millisecond))
	for _, name := range []string{"rtmp", "http"} {
		l := health.Listeners[name]
		if l.State != "serving" || l.AcceptErrors == 0 {
			t.Errorf("healthz %s listener after recovery: %+v, want serving with failed accepts counted", name, l)
		}
		t.Logf("%s: %d failed accepts counted", name, l.AcceptErrors)
	}
	if health.Status != "ok" {
		t.Errorf("healthz status %q", health.Status)
	}

	// A normal publish and play.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pub := joinMember(ctx, t, srv, "42", token.RolePublisher)
	pushURL := pub.url(map[string]any{"action": "publish", "uid": 42})
	viewer := joinMember(ctx, t, srv, "7", token.RoleSubscriber)
	playURL := viewer.url(map[string]any{"action": "subscribe", "uid": 42,
		"options": map[string]any{"audio": true, "video": true, "flv": false}})
	out := filepath.Join(t.TempDir(), "play.flv")
	play := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-rw_timeout", "20000000",
		"-i", playURL, "-c", "copy", "-f", "flv", "-y", out)
	var playErr bytes.Buffer
	play.Stderr = &playErr
	if err := play.Start(); err != nil {
		t.Fatal(err)
	}
	push := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "4",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p",
		"-f", "flv", pushURL)
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("publish: %v\n%s\nserver log:\n%s", err, out, srv.stderrText())
	}
	if err := play.Wait(); err != nil {
		t.Fatalf("play: %v\n%s", err, playErr.String())
	}
	probe, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", out).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, probe)
	}
	var codec string
	var frames int
	if _, err := fmt.Sscanf(strings.TrimSpace(strings.ReplaceAll(string(probe), ",", " ")), "%s %d", &codec, &frames); err != nil || codec != "h264" || frames < 50 {
		t.Fatalf("played stream: %q (want h264 with at least 50 of the 100 frames decoded)", probe)
	}
	t.Logf("played %d decoded H.264 frames of 100 published", frames)
}
