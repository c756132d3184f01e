package doctor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// newTestTarget prepares a target for rawURL with a short timeout.
func newTestTarget(t *testing.T, rawURL string, o Options) *target {
	t.Helper()
	o.URL = rawURL
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	tg, _, err := prepare(context.Background(), o)
	if err != nil || tg == nil {
		t.Fatalf("prepare %s: %v", rawURL, err)
	}
	t.Cleanup(tg.http.CloseIdleConnections)
	return tg
}

func find(t *testing.T, fs []Finding, id string) Finding {
	t.Helper()
	for _, f := range fs {
		if f.ID == id {
			return f
		}
	}
	t.Fatalf("no finding %s in %+v", id, fs)
	return Finding{}
}

// ca is a test certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) ca {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "doctor test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return ca{cert: c, key: key, pool: pool}
}

// leaf issues a server certificate for ips and names valid from nb to na
// (by the CA, or self-signed when c is nil).
func leaf(t *testing.T, c *ca, names []string, ips []net.IP, nb, na time.Time) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "server"},
		NotBefore: nb, NotAfter: na, DNSNames: names, IPAddresses: ips,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	parent, signer := tmpl, any(key)
	if c != nil {
		parent, signer = c.cert, c.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsServer serves h over TLS with cert on loopback.
func tlsServer(t *testing.T, cert tls.Certificate, h http.Handler) string {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.URL
}

// TestCheckTLS: each certificate problem gets its own finding and the
// others stay OK.
func TestCheckTLS(t *testing.T) {
	authority := newCA(t)
	now := time.Now()
	lo := []net.IP{net.IPv4(127, 0, 0, 1)}
	cases := []struct {
		name  string
		cert  tls.Certificate
		roots *x509.CertPool
		want  map[string]Severity
	}{
		{"valid", leaf(t, &authority, nil, lo, now.Add(-time.Hour), now.Add(90*24*time.Hour)), authority.pool,
			map[string]Severity{"https": OK, "tls-self-signed": OK, "tls-chain": OK, "tls-hostname": OK, "tls-expiry": OK}},
		{"self-signed", leaf(t, nil, nil, lo, now.Add(-time.Hour), now.Add(90*24*time.Hour)), authority.pool,
			map[string]Severity{"tls-self-signed": Fail, "tls-hostname": OK, "tls-expiry": OK}},
		{"unknown-ca", leaf(t, &authority, nil, lo, now.Add(-time.Hour), now.Add(90*24*time.Hour)), x509.NewCertPool(),
			map[string]Severity{"tls-self-signed": OK, "tls-chain": Fail}},
		{"other-host", leaf(t, &authority, []string{"other.example.com"}, nil, now.Add(-time.Hour), now.Add(90*24*time.Hour)), authority.pool,
			map[string]Severity{"tls-chain": OK, "tls-hostname": Fail}},
		{"expires-soon", leaf(t, &authority, nil, lo, now.Add(-time.Hour), now.Add(3*24*time.Hour)), authority.pool,
			map[string]Severity{"tls-chain": OK, "tls-expiry": Warn}},
		{"expired", leaf(t, &authority, nil, lo, now.Add(-48*time.Hour), now.Add(-time.Hour)), authority.pool,
			map[string]Severity{"tls-expiry": Fail}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := tlsServer(t, c.cert, http.NotFoundHandler())
			fs := checkTLS(context.Background(), newTestTarget(t, u, Options{Roots: c.roots}))
			for id, sev := range c.want {
				f := find(t, fs, id)
				if f.Severity != sev {
					t.Errorf("%s: %+v, want %s", id, f, sev)
				}
				if sev != OK && f.Fix == "" {
					t.Errorf("%s: no fix", id)
				}
			}
			if c.name == "self-signed" {
				if _, ok := findOpt(fs, "tls-chain"); ok {
					t.Error("a self-signed certificate is reported twice (tls-chain)")
				}
			}
		})
	}
	// An https URL on a plain HTTP port: no handshake.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	fs := checkTLS(context.Background(), newTestTarget(t, strings.Replace(plain.URL, "http:", "https:", 1), Options{}))
	if f := find(t, fs, "https"); f.Severity != Fail || f.Fix == "" {
		t.Errorf("https on a plain port: %+v", f)
	}
}

func findOpt(fs []Finding, id string) (Finding, bool) {
	return Report{Findings: fs}.Find(id)
}

// TestCheckDomain: IP addresses and non-public names fail, a domain gets
// the WeChat admin console entries, a port other than 443 a warning.
func TestCheckDomain(t *testing.T) {
	cases := []struct {
		url     string
		name    Severity
		port    Severity // "" = no finding
		entries string   // "" = no finding
	}{
		{"https://203.0.113.7", Fail, "", ""},
		{"https://[2001:db8::1]:8443", Fail, "", ""},
		{"http://localhost:8080", Fail, "", ""},
		{"https://rtc.example.com", OK, "", "request domain https://rtc.example.com, socket domain wss://rtc.example.com; SDK: apUrl https://rtc.example.com/api/v1, servers [wss://rtc.example.com/api]"},
		{"https://rtc.example.com:8443/rtc", OK, Warn, "request domain https://rtc.example.com:8443, socket domain wss://rtc.example.com:8443; SDK: apUrl https://rtc.example.com:8443/rtc/api/v1"},
		{"http://rtc.example.com", OK, "", "wss://rtc.example.com"},
	}
	for _, c := range cases {
		u, err := ParseURL(c.url)
		if err != nil {
			t.Fatal(err)
		}
		tg := &target{base: u, host: u.Hostname(), port: u.Port()}
		if tg.port == "" {
			tg.port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		fs := checkDomain(tg)
		if f := find(t, fs, "domain-name"); f.Severity != c.name || (c.name == Fail && f.Fix == "") {
			t.Errorf("%s: domain-name %+v", c.url, f)
		}
		if f, ok := findOpt(fs, "domain-port"); ok != (c.port != "") || ok && f.Severity != c.port {
			t.Errorf("%s: domain-port %+v (present %v)", c.url, f, ok)
		}
		if f, ok := findOpt(fs, "wechat-domains"); ok != (c.entries != "") || ok && !strings.Contains(f.What, c.entries) {
			t.Errorf("%s: wechat-domains %+v", c.url, f)
		}
	}
}

// fakeMinirtc answers /healthz, POST /api/v1 and the /api WebSocket as
// minirtc does, with date as its Date header ("-" for none).
func fakeMinirtc(t *testing.T, date string) http.Handler {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		switch date {
		case "":
		case "-":
			w.Header()["Date"] = nil
		default:
			w.Header().Set("Date", date)
		}
		io.WriteString(w, `{"status":"ok","version":"9.9.9","uptime":"1s","listeners":{`+
			`"rtmp":{"address":"[::]:1935","state":"serving","acceptErrors":0},`+
			`"webrtcUDP":{"address":"[::]:8443","state":"retrying","acceptErrors":3,"lastError":"read udp [::]:8443: recvfrom: no buffer space available"}}}`)
	})
	mux.HandleFunc("POST /api/v1", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"code":0,"json_body":"{\"code\":200,\"vid\":7,\"servers\":[{\"address\":\"127.0.0.1\",\"wss\":443}]}"}`)
	})
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		if _, _, err := c.Read(r.Context()); err == nil {
			c.Write(r.Context(), websocket.MessageText, []byte(`{"command":"pong","ts":1}`))
			c.Read(r.Context())
		}
	})
	return mux
}

// plainProxy forwards requests to backend with an http.Client, as a proxy
// that is not set up for WebSocket does: the Upgrade never reaches it.
func plainProxy(backend string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, backend+r.URL.Path, r.Body)
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
}

// TestHealthUnhealthy: a /healthz that answers 503 "unhealthy" (a listener
// stopped) fails with the restart fix, and the stopped listener fails with
// its own finding.
func TestHealthUnhealthy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"status":"unhealthy","version":"9.9.9","uptime":"1s","listeners":{`+
			`"http":{"address":"[::]:8080","state":"serving","acceptErrors":0},`+
			`"rtmp":{"address":"[::]:1935","state":"stopped","acceptErrors":1,"lastError":"accept tcp [::]:1935: accept4: invalid argument"}}}`)
	}))
	defer srv.Close()
	health, _ := checkHealth(context.Background(), newTestTarget(t, srv.URL, Options{}))
	if f := find(t, health, "healthz"); f.Severity != Fail || !strings.Contains(f.What, "unhealthy") || !strings.Contains(f.Fix, "restart minirtc") {
		t.Errorf("healthz: %+v", f)
	}
	if f := find(t, health, "listener-http"); f.Severity != OK {
		t.Errorf("listener-http: %+v", f)
	}
	if f := find(t, health, "listener-rtmp"); f.Severity != Fail || !strings.Contains(f.What, "stopped") {
		t.Errorf("listener-rtmp: %+v", f)
	}
}

// TestHTTPChecks: health (with listener health), allocation and the
// WebSocket pass directly; behind a proxy that drops upgrades only the
// WebSocket fails, with the proxy fix; a proxy to nothing fails health and
// allocation.
func TestHTTPChecks(t *testing.T) {
	direct := httptest.NewServer(fakeMinirtc(t, ""))
	defer direct.Close()
	proxied := httptest.NewServer(plainProxy(direct.URL))
	defer proxied.Close()
	dead := httptest.NewServer(plainProxy("http://127.0.0.1:1"))
	defer dead.Close()
	ctx := context.Background()

	tg := newTestTarget(t, direct.URL, Options{})
	health, date := checkHealth(ctx, tg)
	if f := find(t, health, "healthz"); f.Severity != OK || !strings.Contains(f.What, "9.9.9") {
		t.Errorf("healthz: %+v", f)
	}
	if f := find(t, health, "listener-rtmp"); f.Severity != OK {
		t.Errorf("listener-rtmp: %+v", f)
	}
	if f := find(t, health, "listener-webrtcUDP"); f.Severity != Warn || !strings.Contains(f.What, "retrying (3 failed accepts") || f.Fix == "" {
		t.Errorf("listener-webrtcUDP: %+v", f)
	}
	if f := checkClock(date); f.Severity != OK {
		t.Errorf("clock: %+v", f)
	}
	if f := checkAllocation(ctx, tg); f.Severity != OK || !strings.Contains(f.What, "vid 7") {
		t.Errorf("allocation: %+v", f)
	}
	if f := checkWebSocket(ctx, tg); f.Severity != OK {
		t.Errorf("websocket: %+v", f)
	}

	tg = newTestTarget(t, proxied.URL, Options{})
	if f := find(t, first(checkHealth(ctx, tg)), "healthz"); f.Severity != OK {
		t.Errorf("healthz through the proxy: %+v", f)
	}
	if f := checkAllocation(ctx, tg); f.Severity != OK {
		t.Errorf("allocation through the proxy: %+v", f)
	}
	if f := checkWebSocket(ctx, tg); f.Severity != Fail || !strings.Contains(f.Fix, "proxy_set_header Upgrade") {
		t.Errorf("websocket through a proxy without upgrades: %+v", f)
	}

	// Another WebSocket service on /api (an echo server) is not minirtc.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		if typ, b, err := c.Read(r.Context()); err == nil {
			c.Write(r.Context(), typ, b)
			c.Read(r.Context())
		}
	}))
	defer echo.Close()
	if f := checkWebSocket(ctx, newTestTarget(t, echo.URL, Options{})); f.Severity != Fail || !strings.Contains(f.What, "not minirtc's pong") {
		t.Errorf("websocket of an echo server: %+v", f)
	}

	// http:// redirected to https:// by the proxy: named as such.
	redirect := httptest.NewServer(http.RedirectHandler("https://rtc.example.com/healthz", http.StatusMovedPermanently))
	defer redirect.Close()
	if f := find(t, first(checkHealth(ctx, newTestTarget(t, redirect.URL, Options{}))), "healthz"); f.Severity != Fail || !strings.Contains(f.What, "redirected") {
		t.Errorf("healthz redirected: %+v", f)
	}

	tg = newTestTarget(t, dead.URL, Options{})
	if f := find(t, first(checkHealth(ctx, tg)), "healthz"); f.Severity != Fail || !strings.Contains(f.What, "502") || !strings.Contains(f.Fix, "forward") {
		t.Errorf("healthz through a proxy to nothing: %+v", f)
	}
	if f := checkAllocation(ctx, tg); f.Severity != Fail || !strings.Contains(f.What, "502") {
		t.Errorf("allocation through a proxy to nothing: %+v", f)
	}
}

func first(fs []Finding, _ serverDate) []Finding { return fs }

// TestCheckClock: a server clock two minutes off is warned (tokens), a
// missing Date header is only noted.
func TestCheckClock(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		date string
		want Severity
		what string
	}{
		{time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat), Warn, "ahead of"},
		{time.Now().Add(-90 * time.Second).UTC().Format(http.TimeFormat), Warn, "behind"},
		{time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat), OK, "within"},
		{"-", Info, "no Date header"},
	} {
		s := httptest.NewServer(fakeMinirtc(t, c.date))
		_, d := checkHealth(ctx, newTestTarget(t, s.URL, Options{}))
		s.Close()
		f := checkClock(d)
		if f.Severity != c.want || !strings.Contains(f.What, c.what) || (c.want == Warn && !strings.Contains(f.Fix, "NTP")) {
			t.Errorf("Date %q: %+v", c.date, f)
		}
	}
}

// TestCheckRTMP: a closed port and a port that is not RTMP fail.
func TestCheckRTMP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.ReadFull(c, make([]byte, 1537))
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n" + strings.Repeat(" ", 2000)))
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	if f := checkRTMP(context.Background(), newTestTarget(t, "http://127.0.0.1", Options{RTMPPort: port})); f.Severity != Fail || !strings.Contains(f.What, "not 3") {
		t.Errorf("HTTP on the RTMP port: %+v", f)
	}
	ln.Close()
	if f := checkRTMP(context.Background(), newTestTarget(t, "http://127.0.0.1", Options{RTMPPort: port})); f.Severity != Fail || !strings.Contains(f.Fix, "open TCP port "+strconv.Itoa(port)) {
		t.Errorf("closed RTMP port: %+v", f)
	}
}

// TestClassifyCandidates: private addresses for a public host fail, a
// mismatch warns, a match or a local address on loopback passes, none fails.
func TestClassifyCandidates(t *testing.T) {
	pub := []net.IP{net.ParseIP("198.51.100.20")}
	lo := []net.IP{net.ParseIP("127.0.0.1")}
	cand := func(ip string) candidate { return candidate{ip: net.ParseIP(ip), port: 8443, typ: "host"} }
	cases := []struct {
		name     string
		host     []net.IP
		loopback bool
		public   bool
		local    []net.IP
		cands    []candidate
		want     Severity
		fix      string
	}{
		{"none", pub, false, true, nil, nil, Fail, "--public-ip"},
		{"private-only", pub, false, true, nil, []candidate{cand("10.0.0.5"), cand("172.17.0.2")}, Fail, "--public-ip 198.51.100.20"},
		{"loopback-only-public-host", pub, false, true, nil, []candidate{cand("127.0.0.1")}, Fail, "--public-ip 198.51.100.20"},
		{"match", pub, false, true, nil, []candidate{cand("10.0.0.5"), cand("198.51.100.20")}, OK, ""},
		{"wrong-public-ip", pub, false, true, nil, []candidate{cand("203.0.113.7")}, Warn, "--public-ip 198.51.100.20"},
		{"loopback", lo, true, false, nil, []candidate{cand("127.0.0.1")}, OK, ""},
		{"loopback-local-address", lo, true, false, []net.IP{net.ParseIP("192.168.1.9")}, []candidate{cand("192.168.1.9")}, OK, ""},
		{"loopback-wrong-ip", lo, true, false, nil, []candidate{cand("203.0.113.7")}, Warn, "--public-ip"},
	}
	for _, c := range cases {
		f := classifyCandidates(c.host, c.loopback, c.public, c.local, c.cands)
		if f.ID != "ice-candidates" || f.Severity != c.want || !strings.Contains(f.Fix, c.fix) {
			t.Errorf("%s: %+v, want %s with fix containing %q", c.name, f, c.want, c.fix)
		}
	}
}

// TestParseCandidates reads UDP candidates with IP addresses only.
func TestParseCandidates(t *testing.T) {
	sdp := "v=0\r\na=candidate:1 1 udp 2130706431 203.0.113.7 8443 typ host\r\n" +
		"a=candidate:2 1 tcp 1 203.0.113.7 9 typ host tcptype active\r\n" +
		"a=candidate:3 1 udp 1 abc.local 5000 typ host\r\n" +
		"a=candidate:4 1 UDP 1694498815 198.51.100.1 40000 typ srflx raddr 0.0.0.0 rport 0\r\n"
	got := parseCandidates(sdp)
	if len(got) != 2 || got[0].String() != "203.0.113.7:8443" || got[1].typ != "srflx" {
		t.Fatalf("%+v", got)
	}
	if s := withoutCandidates(sdp); strings.Contains(s, "candidate") || !strings.HasPrefix(s, "v=0\r\n") {
		t.Fatalf("withoutCandidates: %q", s)
	}
}

// TestCheckAppToken: an app that accepts the appId as a token is warned on
// a public deployment, noted on loopback; apps that need tokens pass.
func TestCheckAppToken(t *testing.T) {
	ctx := context.Background()
	dev := App{ID: strings.Repeat("a", 32), Name: "dev", AllowNoToken: true}
	prod := App{ID: strings.Repeat("b", 32), Name: "prod"}
	cases := []struct {
		name     string
		loopback bool
		apps     []App
		want     Severity
	}{
		{"public-dev-app", false, []App{prod, dev}, Warn},
		{"loopback-dev-app", true, []App{dev}, Info},
		{"public-prod-only", false, []App{prod}, OK},
		{"nothing-known", false, nil, Warn},
	}
	for _, c := range cases {
		f := checkAppToken(ctx, &target{loopback: c.loopback, o: Options{Apps: c.apps}})
		if f.ID != "app-token" || f.Severity != c.want || (c.want == Warn && f.Fix == "") {
			t.Errorf("%s: %+v", c.name, f)
		}
		if c.name == "public-dev-app" && (!strings.Contains(f.What, dev.ID) || strings.Contains(f.What, prod.ID) || !strings.Contains(f.Fix, "minirtc app disable")) {
			t.Errorf("%s: %+v", c.name, f)
		}
	}
}

// TestRunUnresolvable: a host that does not resolve gives one dns finding
// and no further checks; a bad URL is an error.
func TestRunUnresolvable(t *testing.T) {
	rep, err := Run(context.Background(), Options{URL: "https://doctor-test.invalid", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := rep.Find("dns"); !ok || f.Severity != Fail || f.Fix == "" {
		t.Errorf("dns: %+v", rep.Findings)
	}
	if _, ok := rep.Find("healthz"); ok {
		t.Errorf("checks ran without an address: %+v", rep.Findings)
	}
	for _, bad := range []string{"ftp://x.example.com", "https://", "https://x.example.com/?a=b"} {
		if _, err := Run(context.Background(), Options{URL: bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	b, _ := json.Marshal(rep)
	if !strings.Contains(string(b), `"severity":"fail"`) {
		t.Errorf("JSON: %s", b)
	}
}
