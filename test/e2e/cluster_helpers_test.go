package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/redistest"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// The failover tests run three `minirtc serve` processes on one redistest
// Redis with short cluster times, so that a dead node's channels move in
// seconds: a node is dead after clusterTTL without a heartbeat, and its
// leases expire after clusterTTL.
const clusterTTL = 3 * time.Second

// buildClusterBin builds ./cmd/minirtc into the test's temporary
// directory (after the first test the Go build cache makes it a link).
func buildClusterBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "minirtc")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/minirtc").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// testCluster is a Redis, the shared store's app and API key, and the
// nodes' processes.
type testCluster struct {
	t      *testing.T
	bin    string
	redis  *redistest.Server
	rdb    *redis.Client
	reg    *cluster.Cluster
	app    store.App
	keyID  string
	secret string
	nodes  []*clusterProc
}

// clusterProc is one `minirtc serve` of the cluster.
type clusterProc struct {
	id       string
	cmd      *exec.Cmd
	httpAddr string
	rtmpAddr string
	logs     *syncBuffer
	exited   chan struct{} // closed when the process has exited
	exitErr  error         // read after exited
}

// startCluster starts Redis, stores an app (with a certificate), an API key
// and, when hook is not empty, a webhook endpoint, then starts n nodes.
func startCluster(t *testing.T, n int, hook string) *testCluster {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	c := &testCluster{t: t, bin: buildClusterBin(t), redis: redistest.StartPersistent(t)}
	c.rdb = redis.NewClient(&redis.Options{Addr: c.redis.Addr()})
	t.Cleanup(func() { _ = c.rdb.Close() })
	reg, err := cluster.New(c.rdb, cluster.Config{Prefix: "minirtc", NodeTTL: clusterTTL, LeaseTTL: clusterTTL})
	if err != nil {
		t.Fatal(err)
	}
	c.reg = reg
	ctx := context.Background()
	st, err := store.OpenRedis(ctx, c.rdb, "minirtc")
	if err != nil {
		t.Fatal(err)
	}
	if c.app, err = store.NewApp("failover", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.PutApp(ctx, c.app); err != nil {
		t.Fatal(err)
	}
	k, secret, err := store.NewAPIKey("ops", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	c.keyID, c.secret = k.ID, secret
	if hook != "" {
		ep, err := store.NewWebhookEndpoint(c.app.ID, hook, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutWebhookEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		c.nodes = append(c.nodes, c.startNode(fmt.Sprintf("n%d", i+1)))
	}
	t.Cleanup(func() {
		for _, p := range c.nodes {
			p.stop()
		}
		if t.Failed() {
			for _, p := range c.nodes {
				t.Logf("---- node %s log:\n%s", p.id, p.logs.String())
			}
		}
	})
	return c
}

// startNode runs one node with its own data dir and ports.
func (c *testCluster) startNode(id string) *clusterProc {
	t := c.t
	t.Helper()
	dir := t.TempDir()
	p := &clusterProc{id: id, httpAddr: freePort(t), rtmpAddr: freePort(t), logs: &syncBuffer{}, exited: make(chan struct{})}
	cfg := fmt.Sprintf(`dataDir: %s
cluster:
  redis: %s
  nodeId: %s
  nodeTTL: %s
  leaseTTL: %s
  drainTimeout: 10s
  pullMinBackoff: 100ms
  pullMaxBackoff: 1s
webhooks:
  minBackoff: 100ms
  maxBackoff: 1s
`, filepath.Join(dir, "data"), c.redis.URL(), id, clusterTTL, clusterTTL)
	file := filepath.Join(dir, "minirtc.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(c.bin, "serve", "--config", file, "--http-addr", p.httpAddr, "--rtmp-addr", p.rtmpAddr,
		"--webrtc-addr", "127.0.0.1:0", "--log-level", "debug")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exitErr = p.cmd.Wait(); close(p.exited) }()
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get("http://" + p.httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not ready: %v\n%s", id, err, p.logs.String())
		}
		select {
		case <-p.exited:
			t.Fatalf("node %s exited at start: %v\n%s", id, p.exitErr, p.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return p
}

// stop interrupts the node if it still runs and waits for it (killing it
// after 10 s).
func (p *clusterProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// signal sends sig to the node's process.
func (p *clusterProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// node returns the node with the id.
func (c *testCluster) node(id string) *clusterProc {
	for _, p := range c.nodes {
		if p.id == id {
			return p
		}
	}
	c.t.Fatalf("no node %q", id)
	return nil
}

// owner is the node that holds the channel's lease ("" when none).
func (c *testCluster) owner(ch string) string {
	l, err := c.reg.Owner(context.Background(), c.app.ID, ch)
	if err != nil || l == nil {
		return ""
	}
	return l.Owner
}

// token is an RTC token of the app for uid in ch.
func (c *testCluster) token(ch, uid string, role token.Role) string {
	s, err := token.BuildRTC007(token.RTCOptions{AppID: c.app.ID, AppCert: c.app.Certificate, Channel: ch,
		UID: uid, Role: role, IssuedAt: time.Now(), Lifetime: 600})
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// join dials node p's gateway and joins ch as uid (broadcaster); rejoin
// sends known_speakers as the SDK's rejoin does.
func (c *testCluster) join(ctx context.Context, p *clusterProc, ch string, uid int, known []string) (*mc.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cc, err := mc.Dial(dctx, "ws://"+p.httpAddr+"/api", mc.WithPingInterval(mc.DefaultPingInterval))
	if err != nil {
		return nil, err
	}
	_, err = cc.Join(dctx, mc.JoinParams{AppID: c.app.ID, Channel: ch, UID: strconv.Itoa(uid),
		Key: c.token(ch, strconv.Itoa(uid), token.RolePublisher), Role: mc.RoleBroadcaster, KnownSpeakers: known})
	if err != nil {
		cc.CloseNow()
		return nil, err
	}
	return cc, nil
}

// members lists the uids of ch as the REST API of node p answers.
func (c *testCluster) members(p *clusterProc, ch string) ([]uint32, error) {
	req, _ := http.NewRequest("GET", "http://"+p.httpAddr+"/rest/v1/apps/"+c.app.ID+"/channels/"+url.PathEscape(ch)+"/members?pageSize=100", nil)
	req.SetBasicAuth(c.keyID, c.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("members: %s: %s", resp.Status, body)
	}
	var l struct {
		Items []struct {
			UID uint32 `json:"uid"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("members: %w: %s", err, body)
	}
	out := make([]uint32, 0, len(l.Items))
	for _, it := range l.Items {
		out = append(out, it.UID)
	}
	return out, nil
}

// pusher runs ffmpeg pushing a test pattern to url until stop or the test
// ends.
type pusher struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startPusher(t *testing.T, url string) *pusher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "120", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv", url)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	p := &pusher{cancel: cancel, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	return p
}

func (p *pusher) stop() { p.cancel(); <-p.done }

// flvReader plays an HTTP-FLV URL and counts its video tags, reconnecting
// (every 200 ms) when the stream ends, as a player that retries does.
type flvReader struct {
	frames atomic.Int64
	last   atomic.Int64 // unix nanos of the last video tag
	maxGap atomic.Int64 // longest wait between two video tags since resetGap, nanos
	cancel context.CancelFunc
	done   chan struct{}
}

func startFLVReader(t *testing.T, url string) *flvReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &flvReader{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ctx.Err() == nil {
			r.readOnce(ctx, url)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *flvReader) readOnce(ctx context.Context, url string) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.Discard(9 + 4); err != nil { // FLV header, PreviousTagSize0
		return
	}
	var h [11]byte
	for {
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		size := int(binary.BigEndian.Uint32(append([]byte{0}, h[1:4]...)))
		if _, err := br.Discard(size + 4); err != nil {
			return
		}
		if h[0]&0x1f == 9 {
			r.frames.Add(1)
			now := time.Now().UnixNano()
			if prev := r.last.Swap(now); prev != 0 && now-prev > r.maxGap.Load() {
				r.maxGap.Store(now - prev)
			}
		}
	}
}

// resetGap starts measuring the longest gap between video tags anew.
func (r *flvReader) resetGap() { r.maxGap.Store(0) }

// gap is the longest wait between two video tags since resetGap.
func (r *flvReader) gap() time.Duration { return time.Duration(r.maxGap.Load()) }

// waitFrames waits until n video tags arrived after the count from.
func (r *flvReader) waitFrames(ctx context.Context, from int64, n int64) error {
	for r.frames.Load()-from < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("reader: %d video frames after the mark, want %d", r.frames.Load()-from, n)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// noticeCounter is a webhook endpoint counting deliveries per notice id.
type noticeCounter struct {
	mu    sync.Mutex
	count map[string]int
	types map[int]int
}

func (n *noticeCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		NoticeID  string `json:"noticeId"`
		EventType int    `json:"eventType"`
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(b, &body); err != nil || body.NoticeID == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	n.count[body.NoticeID]++
	n.types[body.EventType]++
	n.mu.Unlock()
}

// duplicates lists the notice ids delivered more than once, and the total.
func (n *noticeCounter) duplicates() ([]string, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var dup []string
	total := 0
	for id, k := range n.count {
		total += k
		if k > 1 {
			dup = append(dup, id)
		}
	}
	return dup, total
}

func waitUntil(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
