package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/doctor"
)

// serveAt runs the built binary's serve (not --dev) with its data in data on
// free loopback ports, plus extra flags, and returns its HTTP address once
// /healthz answers.
func serveAt(t *testing.T, bin, data string, extra ...string) string {
	t.Helper()
	args := append([]string{"serve", "--data-dir", data, "--http-addr", "127.0.0.1:0", "--rtmp-addr", "127.0.0.1:0",
		"--webrtc-addr", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(bin, args...)
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
	addr := ""
	for addr == "" && sc.Scan() {
		if m := regexp.MustCompile(`listening: http (\S+) `).FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
	}
	go io.Copy(io.Discard, stdout)
	if addr == "" {
		t.Fatalf("no listening line; stderr:\n%s", stderr.String())
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: time.Second}
	defer hc.CloseIdleConnections()
	for i := 0; i < 400; i++ {
		for _, scheme := range []string{"http", "https"} {
			if resp, err := hc.Get(scheme + "://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return addr
				}
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never became healthy; stderr:\n%s", addr, stderr.String())
	return ""
}

// runDoctor runs minirtc doctor --json with args and returns its report and
// exit code.
func runDoctor(t *testing.T, args ...string) (doctor.Report, int) {
	t.Helper()
	out, errOut, code := runCLI(t, append([]string{"doctor", "--json", "--timeout", "2s"}, args...)...)
	var rep doctor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor output (exit %d): %v\n%s\nstderr: %s", code, err, out, errOut)
	}
	return rep, code
}

// expect checks that rep has finding id with severity sev whose what/fix
// contain the given texts.
func expect(t *testing.T, rep doctor.Report, id string, sev doctor.Severity, what, fix string) {
	t.Helper()
	f, ok := rep.Find(id)
	if !ok {
		t.Errorf("no finding %q in %+v", id, rep.Findings)
		return
	}
	if f.Severity != sev || !strings.Contains(f.What, what) || !strings.Contains(f.Fix, fix) {
		t.Errorf("finding %s = %+v, want severity %s, what containing %q, fix containing %q", id, f, sev, what, fix)
	}
	if sev != doctor.OK && sev != doctor.Info && f.Fix == "" {
		t.Errorf("finding %s has no fix", id)
	}
}

// TestDoctor runs minirtc doctor against local servers built from this
// tree: plain http, a self-signed certificate, a wrong public IP.
func TestDoctor(t *testing.T) {
	bin := buildBinary(t)
	t.Run("PlainHTTP", func(t *testing.T) { testDoctorPlainHTTP(t, bin) })
	t.Run("SelfSignedTLS", func(t *testing.T) { testDoctorSelfSignedTLS(t, bin) })
	t.Run("WrongPublicIP", func(t *testing.T) { testDoctorWrongPublicIP(t, bin) })
	t.Run("AppIDOnly", func(t *testing.T) { testDoctorAppIDOnly(t, bin) })
	t.Run("NoLeak", func(t *testing.T) { testDoctorNoLeak(t, bin) })
}

// testDoctorNoLeak: doctor runs (ICE connecting, and ICE failing against a
// wrong public IP) leave no goroutine behind in the calling process.
func testDoctorNoLeak(t *testing.T, bin string) {
	noData := t.TempDir()
	var args [][]string
	for _, extra := range [][]string{nil, {"--public-ip", "203.0.113.7"}} {
		data := t.TempDir()
		addr := serveAt(t, bin, data, extra...)
		out, _, _ := runCLI(t, "app", "list", "--data-dir", data, "--json")
		var apps []struct {
			ID   string `json:"appId"`
			Cert string `json:"appCertificate"`
		}
		if err := json.Unmarshal([]byte(out), &apps); err != nil || len(apps) != 1 {
			t.Fatalf("app list: %v %s", err, out)
		}
		// The app is given by flags: the control socket's client keeps its
		// connection (internal/control has no Close), which is not doctor's.
		args = append(args, []string{"--url", "http://" + addr, "--data-dir", noData, "--app-id", apps[0].ID, "--app-cert", apps[0].Cert})
	}
	runDoctor(t, args[0]...) // warm up once-only goroutines
	time.Sleep(500 * time.Millisecond)
	before := runtime.NumGoroutine()
	for _, a := range args {
		rep, _ := runDoctor(t, a...)
		if f, _ := rep.Find("ice-connect"); f.ID == "" {
			t.Fatalf("no ICE check: %+v", rep.Findings)
		}
	}
	n := 0
	for i := 0; i < 100; i++ {
		if n = runtime.NumGoroutine(); n <= before {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	t.Fatalf("goroutines: %d before, %d after doctor runs\n%s", before, n, buf[:runtime.Stack(buf, true)])
}

// testDoctorPlainHTTP: against a local server on plain http, doctor warns
// that mini programs need https/wss, fails the IP address as a WeChat
// domain, and passes health, clock, allocation, WebSocket, RTMP, ICE and
// app token checks (found through the server's control socket); exit 1.
func testDoctorPlainHTTP(t *testing.T, bin string) {
	data := t.TempDir()
	addr := serveAt(t, bin, data)
	rep, code := runDoctor(t, "--data-dir", data)
	if code != 1 {
		t.Errorf("exit %d, want 1 (a FAIL)", code)
	}
	if rep.URL != "http://"+addr {
		t.Errorf("url %q, want the local server's http://%s", rep.URL, addr)
	}
	expect(t, rep, "https", doctor.Warn, "WeChat mini programs call only https:// and wss://", "--tls-cert")
	expect(t, rep, "domain-name", doctor.Fail, "IP address (127.0.0.1)", "domain name")
	expect(t, rep, "healthz", doctor.OK, "minirtc "+nodeVersion(), "")
	expect(t, rep, "clock-skew", doctor.OK, "", "")
	expect(t, rep, "allocation", doctor.OK, "vid", "")
	expect(t, rep, "websocket", doctor.OK, "ws://"+addr+"/api", "")
	expect(t, rep, "rtmp", doctor.OK, "handshake", "")
	expect(t, rep, "ice-candidates", doctor.OK, "127.0.0.1:", "")
	expect(t, rep, "ice-connect", doctor.OK, "connects", "")
	expect(t, rep, "app-token", doctor.OK, "requires a token", "")
	if _, ok := rep.Find("tls-self-signed"); ok {
		t.Error("TLS findings for plain http")
	}

	// The text form: one line per finding, the fix under it, the summary.
	out, errOut, code := runCLI(t, "doctor", "--data-dir", data, "--timeout", "2s")
	if code != 1 || !strings.Contains(errOut, "1 check(s) failed") {
		t.Errorf("text run: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"WARN  https ", "FAIL  domain-name ", "fix: serve HTTPS", "OK    websocket ", "OK    ice-connect ", "failures"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

// testDoctorSelfSignedTLS: against a local server with a self-signed
// certificate made here, doctor FAILs tls-self-signed with the fix, and
// still checks health, allocation, WebSocket (wss), RTMP and ICE over TLS.
func testDoctorSelfSignedTLS(t *testing.T, bin string) {
	data := t.TempDir()
	cert, key := selfSignedCert(t, t.TempDir())
	addr := serveAt(t, bin, data, "--tls-cert", cert, "--tls-key", key)
	rep, code := runDoctor(t, "--url", "https://"+addr, "--data-dir", data)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	expect(t, rep, "https", doctor.OK, "TLS", "")
	expect(t, rep, "tls-self-signed", doctor.Fail, "self-signed", "public certificate authority")
	expect(t, rep, "tls-hostname", doctor.OK, "127.0.0.1", "")
	expect(t, rep, "tls-expiry", doctor.OK, "valid until", "")
	expect(t, rep, "healthz", doctor.OK, "ok", "")
	expect(t, rep, "allocation", doctor.OK, "vid", "")
	expect(t, rep, "websocket", doctor.OK, "wss://"+addr+"/api", "")
	expect(t, rep, "rtmp", doctor.OK, "handshake", "")
	expect(t, rep, "ice-candidates", doctor.OK, "127.0.0.1:", "")
	expect(t, rep, "ice-connect", doctor.OK, "connects", "")
}

// testDoctorWrongPublicIP: a local server announcing --public-ip
// 203.0.113.7 (a documentation address) gets the candidate mismatch warned
// and the connectivity check failed.
func testDoctorWrongPublicIP(t *testing.T, bin string) {
	data := t.TempDir()
	serveAt(t, bin, data, "--public-ip", "203.0.113.7")
	rep, code := runDoctor(t, "--data-dir", data)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	expect(t, rep, "ice-candidates", doctor.Warn, "203.0.113.7", "--public-ip")
	expect(t, rep, "ice-connect", doctor.Fail, "no ICE connectivity from this machine to 203.0.113.7:", "open UDP port")
	expect(t, rep, "websocket", doctor.OK, "", "")
}

// testDoctorAppIDOnly: with only --app-id (no certificate, no local
// data), the WebRTC probe sends the appId as its token: a development app
// takes it (ICE is checked; app-token notes it, on loopback), an app with
// its certificate on refuses it (ice-candidates says to pass --app-cert,
// app-token is OK).
func testDoctorAppIDOnly(t *testing.T, bin string) {
	noData := t.TempDir()
	devData := t.TempDir()
	devAddr, lines := devServer(t, bin, devData)
	m := regexp.MustCompile(`appId ([0-9a-f]{32})`).FindStringSubmatch(strings.Join(lines, "\n"))
	if m == nil {
		t.Fatalf("no appId in the dev banner:\n%s", strings.Join(lines, "\n"))
	}
	rep, _ := runDoctor(t, "--url", "http://"+devAddr, "--data-dir", noData, "--app-id", m[1])
	expect(t, rep, "ice-candidates", doctor.OK, "127.0.0.1:", "")
	expect(t, rep, "ice-connect", doctor.OK, "connects", "")
	expect(t, rep, "app-token", doctor.Info, m[1]+" accepts joins", "")
	// No RTMP port known without the server's data: 1935 is assumed.
	if f, _ := rep.Find("rtmp"); !strings.Contains(f.What, ":1935") {
		t.Errorf("rtmp without a port: %+v", f)
	}

	data := t.TempDir()
	addr := serveAt(t, bin, data)
	out, errOut, code := runCLI(t, "app", "list", "--data-dir", data, "--json")
	var apps []struct {
		ID string `json:"appId"`
	}
	if err := json.Unmarshal([]byte(out), &apps); code != 0 || err != nil || len(apps) != 1 {
		t.Fatalf("app list: %d %v %s %s", code, err, out, errOut)
	}
	rep, _ = runDoctor(t, "--url", "http://"+addr, "--data-dir", noData, "--app-id", apps[0].ID)
	expect(t, rep, "ice-candidates", doctor.Fail, "refuses its appId as the key of a join (401", "--app-cert")
	expect(t, rep, "app-token", doctor.OK, "refuses a join with the appId", "")
}

// TestDoctorUsage: bad flags are usage errors, not checks.
func TestDoctorUsage(t *testing.T) {
	cases := [][]string{
		{"doctor", "--app-cert", "5CFd2fd1755d40ecb72977518be15d3b"},
		{"doctor", "--url", "ftp://example.com"},
		{"doctor", "--rtmp-port", "70000"},
		{"doctor", "--timeout", "1h"},
		{"doctor", "extra"},
	}
	for _, args := range cases {
		if out, errOut, code := runCLI(t, args...); code == 0 || errOut == "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	out, _, code := runCLI(t, "doctor", "--help")
	if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "-app-cert") {
		t.Errorf("doctor --help: %d\n%s", code, out)
	}
}

// selfSignedCert writes a self-signed certificate for 127.0.0.1 and
// localhost, valid for 30 days, and its key into dir.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "minirtc doctor test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
