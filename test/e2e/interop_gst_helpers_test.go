package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Meetecho's GStreamer WHIP client (Debian package simple-whip-client) as a
// child process, and a recording proxy that shows what it says to the node.

// whipExchange is one HTTP request the proxy forwarded, with the answer.
type whipExchange struct {
	method, path, contentType, ifMatch, body string
	status                                   int
	etag, location                           string
	refusal                                  string // the body of an answer >= 300
}

func (x whipExchange) String() string {
	s := fmt.Sprintf("%s %s (Content-Type %q, If-Match %q) -> %d (ETag %q, Location %q)",
		x.method, x.path, x.contentType, x.ifMatch, x.status, x.etag, x.location)
	if x.refusal != "" {
		s += ": " + strings.TrimSpace(x.refusal)
	}
	return s
}

// whipRecorder is a reverse proxy to the node's HTTP address that records
// every exchange, so the test sees the client's requests and the node's
// answers as they were on the wire.
type whipRecorder struct {
	url string // base URL of the proxy (http://127.0.0.1:port)
	mu  sync.Mutex
	log []whipExchange
}

func newWHIPRecorder(t *testing.T, nodeAddr string) *whipRecorder {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: nodeAddr}
	rec := &whipRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		x := whipExchange{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"),
			ifMatch: r.Header.Get("If-Match"), status: resp.StatusCode, etag: resp.Header.Get("ETag"),
			location: resp.Header.Get("Location")}
		if b, ok := r.Context().Value(bodyKey{}).(*[]byte); ok {
			x.body = string(*b)
		}
		if resp.StatusCode >= 300 {
			b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			if err != nil {
				return err
			}
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			x.refusal = string(b)
		}
		rec.mu.Lock()
		rec.log = append(rec.log, x)
		rec.mu.Unlock()
		return nil
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, &b)))
	}))
	t.Cleanup(func() {
		hs.Close()
		if t.Failed() {
			for _, x := range rec.exchanges() {
				t.Logf("whip-client -> node: %v", x)
			}
		}
	})
	rec.url = hs.URL
	return rec
}

type bodyKey struct{}

func (r *whipRecorder) exchanges() []whipExchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]whipExchange(nil), r.log...)
}

// find returns the exchanges with this method.
func (r *whipRecorder) find(method string) []whipExchange {
	var out []whipExchange
	for _, x := range r.exchanges() {
		if x.method == method {
			out = append(out, x)
		}
	}
	return out
}

// await waits until the client made a request with this method and the node
// answered it (the member may hear of the stream before the answer is
// written).
func (r *whipRecorder) await(t *testing.T, c *whipClient, method string) []whipExchange {
	t.Helper()
	var xs []whipExchange
	c.waitFor(t, "whip-client's "+method, func() bool {
		xs = r.find(method)
		return len(xs) > 0
	})
	return xs
}

// syncBuffer is an io.Writer safe for the child's stdout and stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// whipClient is a running whip-client process (its own process group).
type whipClient struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error // set before exited is closed
}

// whipClientPath is the installed client; the test fails without it.
func whipClientPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("whip-client")
	if err != nil {
		t.Fatalf("whip-client is required (scripts/test.sh installs it: apt-get install -y simple-whip-client "+
			"gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-nice): %v", err)
	}
	return p
}

// libniceHostIP is the IPv4 address the node's WebRTC must use for
// whip-client to reach it. libnice never gathers loopback candidates while
// another interface is up (and in a loopback-only network namespace it
// gathers nothing), and it pins each socket's sends to its interface
// (IP_UNICAST_IF), so its packets to 127.0.0.1 leave by that interface and
// are lost. Both ends on the first non-loopback IPv4 address (the test's
// namespace has just one, on a veth pair) keep the traffic local.
func libniceHostIP(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLinkLocalUnicast() {
				return ipn.IP.String()
			}
		}
	}
	t.Fatal("whip-client (libnice) needs a non-loopback IPv4 interface (the test's namespace adds a veth pair): it never offers loopback candidates")
	return ""
}

// noUPnPSource replaces libgupnp-igd for whip-client. Debian 12's
// simple-whip-client links libsoup 2, while libnice (through gupnp-igd and
// gupnp 1.6) pulls in libsoup 3; libsoup 3 aborts the process when it finds
// libsoup 2 loaded ("Using libsoup2 and libsoup3 in the same process is not
// supported"), so the packaged client cannot start at all. This stand-in
// only makes libnice's UPnP port mapping unavailable (gupnp-igd's thread
// constructor returns NULL, which libnice treats as "no UPnP"); nothing else
// in the client changes, and UPnP has no role on loopback.
const noUPnPSource = `typedef unsigned long GType;
void *gupnp_simple_igd_thread_new(void) { return 0; }
GType gupnp_simple_igd_get_type(void) { return 20 << 2; /* G_TYPE_OBJECT */ }
void gupnp_simple_igd_add_port(void *s, const char *proto, unsigned ext, const char *ip,
	unsigned local, unsigned timeout, const char *desc) {}
void gupnp_simple_igd_remove_port_local(void *s, const char *proto, const char *ip, unsigned local) {}
`

// noUPnPLibDir builds the libgupnp-igd stand-in (see noUPnPSource) into a
// temporary directory for LD_LIBRARY_PATH.
func noUPnPLibDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "noupnp.c")
	if err := os.WriteFile(src, []byte(noUPnPSource), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runWait(exec.Command(needTool(t, "gcc"), "-shared", "-fPIC", "-Wl,-soname,libgupnp-igd-1.0.so.4",
		"-o", filepath.Join(dir, "libgupnp-igd-1.0.so.4"), src)); err != nil {
		t.Fatalf("building the libgupnp-igd stand-in for whip-client: %v", err)
	}
	return dir
}

// startWHIPClient runs whip-client with args. Its output goes into the test
// log if the test fails; the whole process group is killed at cleanup.
func startWHIPClient(t *testing.T, args ...string) *whipClient {
	t.Helper()
	c := &whipClient{out: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(whipClientPath(t), args...)
	c.cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+noUPnPLibDir(t))
	c.cmd.Stdout = c.out
	c.cmd.Stderr = c.out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
		if t.Failed() {
			t.Logf("whip-client %s output:\n%s", strings.Join(args, " "), c.out.String())
		}
	})
	return c
}

// waitFor polls cond for up to 30 s; it fails at once if the client exits
// meanwhile (a refused offer, a failed connection).
func (c *whipClient) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitCond(t, what, c.exited, cond)
}

// waitCond polls cond for up to 30 s, failing early when gone (if not nil)
// is closed while cond is still false.
func waitCond(t *testing.T, what string, gone <-chan struct{}, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		select {
		case <-gone:
			if !cond() {
				t.Fatalf("whip-client exited before %s", what)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in 30 s", what)
		}
	}
}

// stop sends sig to the client and waits up to timeout for it to exit.
func (c *whipClient) stop(sig syscall.Signal, timeout time.Duration) error {
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.exited:
		var ee *exec.ExitError
		if c.err != nil && !errors.As(c.err, &ee) {
			return c.err
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("whip-client did not exit %v after %v", timeout, sig)
	}
}
