package webrtc

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/minirtc/minirtc/internal/token"
)

// answerFor runs a WHIP offer against a server built with cfg and returns
// the answer's candidate lines.
func answerFor(t *testing.T, cfg Config) (cands []string, udpPort int) {
	t.Helper()
	e := newEnv(t)
	cfg.LoopbackOnly = true
	srv, err := New(cfg, e.hub, e.srv.auth, e.chans, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { // Run with an ended context releases the socket
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = srv.Run(ctx)
	}()
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	e.http = hs
	c := newWHIPClient(t)
	defer c.pc.Close()
	status, body, loc := e.post("whip", "room", "5", e.token("room", "5", token.RolePublisher), offer(t, c.pc))
	if status != http.StatusCreated {
		t.Fatalf("WHIP: %d %s", status, body)
	}
	if sess := srv.session(strings.TrimPrefix(loc, "/webrtc/session/")); sess != nil {
		sess.close(nil)
	}
	if cfg.PortMin != 0 && srv.UDPAddr() != nil {
		t.Error("a port range server has a shared UDP address")
	}
	if a, ok := srv.UDPAddr().(*net.UDPAddr); ok {
		udpPort = a.Port
	}
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "a=candidate:") {
			cands = append(cands, strings.TrimSpace(l))
		}
	}
	if len(cands) == 0 {
		t.Fatalf("no candidates in the answer:\n%s", body)
	}
	return cands, udpPort
}

func TestNetworkConfig(t *testing.T) {
	t.Run("NAT 1:1 public IP", func(t *testing.T) {
		cands, _ := answerFor(t, Config{PublicIPs: []string{"203.0.113.7"}})
		for _, c := range cands {
			if !strings.Contains(c, " 203.0.113.7 ") {
				t.Errorf("candidate %q does not announce the public IP", c)
			}
		}
	})
	t.Run("port range", func(t *testing.T) {
		re := regexp.MustCompile(` udp \d+ \S+ (\d+) typ`)
		cands, _ := answerFor(t, Config{PortMin: 40000, PortMax: 40100})
		for _, c := range cands {
			m := re.FindStringSubmatch(strings.ToLower(c))
			if m == nil {
				t.Fatalf("candidate %q", c)
			}
			if p, _ := strconv.Atoi(m[1]); p < 40000 || p > 40100 {
				t.Errorf("candidate port %d outside 40000-40100", p)
			}
		}
	})
	t.Run("port range behind NAT 1:1", func(t *testing.T) {
		re := regexp.MustCompile(` udp \d+ (\S+) (\d+) typ`)
		cands, _ := answerFor(t, Config{PortMin: 40200, PortMax: 40300, PublicIPs: []string{"198.51.100.4"}})
		for _, c := range cands {
			m := re.FindStringSubmatch(strings.ToLower(c))
			if m == nil {
				t.Fatalf("candidate %q", c)
			}
			if p, _ := strconv.Atoi(m[2]); m[1] != "198.51.100.4" || p < 40200 || p > 40300 {
				t.Errorf("candidate %q: want 198.51.100.4 with a port in 40200-40300", c)
			}
		}
	})
	t.Run("every peer on the shared port", func(t *testing.T) {
		re := regexp.MustCompile(` udp \d+ \S+ (\d+) typ`)
		cands, port := answerFor(t, Config{UDPAddr: "127.0.0.1:0"})
		for _, c := range cands {
			if m := re.FindStringSubmatch(strings.ToLower(c)); m == nil || m[1] != strconv.Itoa(port) {
				t.Fatalf("candidate %q is not on the shared port %d", c, port)
			}
		}
	})
	if _, err := New(Config{PublicIPs: []string{"not-an-ip"}}, newEnv(t).hub, nopAuth{}, nil, testLogger(t)); err == nil {
		t.Error("a bad public IP was accepted")
	}
}

// TestOnlyLoopback: a host whose interfaces have only loopback (and
// link-local) addresses offers the loopback candidate; any routable address
// turns that off.
func TestOnlyLoopback(t *testing.T) {
	ips := func(s ...string) []net.IP {
		var out []net.IP
		for _, a := range s {
			out = append(out, net.ParseIP(a))
		}
		return out
	}
	for _, c := range []struct {
		name string
		ips  []net.IP
		want bool
	}{
		{"nothing", nil, false},
		{"loopback", ips("127.0.0.1", "::1"), true},
		{"loopback and link-local", ips("127.0.0.1", "fe80::1"), true},
		{"private address", ips("127.0.0.1", "192.0.2.2"), false},
		{"global IPv6", ips("::1", "2001:db8::5"), false},
		{"link-local only", ips("fe80::1"), false},
	} {
		if got := onlyLoopback(c.ips); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
