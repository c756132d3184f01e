package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/redistest"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// flvWatch is a light HTTP-FLV reader for the edge tests: it counts the
// video tags it receives from the first keyframe on, the body bytes, and
// every break in the video timestamps (the publisher sends a frame every
// frameMS, B-frames off, so consecutive video tags are frameMS apart).
type flvWatch struct {
	url     string
	frameMS uint32

	frames  atomic.Int64
	bytes   atomic.Int64
	lastTS  atomic.Int64 // last video timestamp, ms
	started atomic.Bool  // got its first keyframe

	mu   sync.Mutex
	gaps []string
	err  error
}

// run reads until ctx ends or the stream fails.
func (w *flvWatch) run(ctx context.Context) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url, nil)
	if err != nil {
		w.fail(err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.fail(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		w.fail(fmt.Errorf("HTTP %d: %s", resp.StatusCode, body))
		return
	}
	r := bufio.NewReaderSize(resp.Body, 16<<10)
	var hdr [13]byte // FLV header (9) and PreviousTagSize0
	if _, err := io.ReadFull(r, hdr[:]); err != nil || string(hdr[:3]) != "FLV" {
		w.fail(fmt.Errorf("FLV header: %v %q", err, hdr[:3]))
		return
	}
	var th [11]byte
	var prev uint32
	for {
		if _, err := io.ReadFull(r, th[:]); err != nil {
			if ctx.Err() == nil {
				w.fail(fmt.Errorf("tag header: %w", err))
			}
			return
		}
		size := int(th[1])<<16 | int(th[2])<<8 | int(th[3])
		ts := uint32(th[4])<<16 | uint32(th[5])<<8 | uint32(th[6]) | uint32(th[7])<<24
		body := make([]byte, size+4)
		if _, err := io.ReadFull(r, body); err != nil {
			if ctx.Err() == nil {
				w.fail(fmt.Errorf("tag body: %w", err))
			}
			return
		}
		w.bytes.Add(int64(len(th) + len(body)))
		if th[0] != 9 || size < 2 {
			continue
		}
		key, seqHeader := body[0]>>4 == 1, body[1] == 0
		if seqHeader {
			continue
		}
		if !w.started.Load() {
			if !key {
				continue // waits for its first keyframe
			}
			w.started.Store(true)
		} else if d := ts - prev; d+1 < w.frameMS || d > w.frameMS+1 {
			w.mu.Lock()
			w.gaps = append(w.gaps, fmt.Sprintf("%d->%d", prev, ts))
			w.mu.Unlock()
		}
		prev = ts
		w.lastTS.Store(int64(ts))
		w.frames.Add(1)
	}
}

func (w *flvWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *flvWatch) result() (gaps []string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.gaps...), w.err
}

// joinAudience joins ch as an audience member uid through n.
func joinAudience(ctx context.Context, n *Node, app store.App, ch string, uid int) (*mc.Conn, error) {
	cc, err := mc.Dial(ctx, "ws://"+n.HTTPAddr()+"/api", mc.WithPingInterval(mc.DefaultPingInterval))
	if err != nil {
		return nil, err
	}
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: ch,
		UID: strconv.Itoa(uid), Role: token.RoleSubscriber, IssuedAt: time.Now(), Lifetime: 600})
	if err != nil {
		cc.CloseNow()
		return nil, err
	}
	if _, err := cc.Join(ctx, mc.JoinParams{AppID: app.ID, Channel: ch, UID: strconv.Itoa(uid), Key: tok, Role: mc.RoleAudience}); err != nil {
		cc.CloseNow()
		return nil, fmt.Errorf("join %s as %d through %s: %w", ch, uid, n.HTTPAddr(), err)
	}
	return cc, nil
}

// edgeReaders is the number of readers of TestClusterEdgeFanOut:
// MINIRTC_EDGE_READERS, or 300 (120 with -short).
func edgeReaders(t *testing.T) int {
	if v := os.Getenv("MINIRTC_EDGE_READERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("MINIRTC_EDGE_READERS=%q: want a positive number", v)
		}
		return n
	}
	if testing.Short() {
		return 120
	}
	return 300
}

// TestClusterEdgeFanOut is issue 18's edge acceptance: three nodes with
// cluster.edgeThreshold 50, one publisher on the owner, and readers that
// get their play URLs the way a mini program does (join, subscribe, play
// the HTTP-FLV URL of the answer). The first 50 play at the owner, the
// rest are sent to the two other nodes; every reader receives every video
// frame from its first keyframe on (no break in the 40 ms timestamps), a
// few play the edges' RTMP URLs with ffmpeg, and the owner sends each edge
// about one copy of the stream (the bytes its own single reader gets), not
// one per reader.
func TestClusterEdgeFanOut(t *testing.T) {
	readers := edgeReaders(t)
	const threshold = 50
	srv := redistest.Start(t)
	nodes := map[string]*Node{}
	for _, id := range []string{"a", "b", "c"} {
		cfg := clusterConfig(t, srv, id)
		cfg.Cluster.EdgeThreshold = threshold
		nodes[id] = startClusterNode(t, cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	apps, _ := nodes["a"].Store().Apps(ctx)
	app := apps[0]
	const ch = "live"

	// The host joins through a and pushes a light stream (25 fps, a
	// keyframe a second) to the push URL its publish answer gives.
	host := joinThrough(t, nodes["a"], app, ch, 1)
	lease, err := nodes["a"].cluster.c.Owner(ctx, app.ID, ch)
	if err != nil || lease == nil {
		t.Fatalf("the channel has no owner: %v", err)
	}
	owner := nodes[lease.Owner]
	pushURL, err := host.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	startLightPush(t, pushURL)
	waitFor(t, "the stream on the owner", func() bool {
		return owner.media.hub.Live(media.Key{AppID: app.ID, Channel: ch, UID: "1"})
	})

	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopWatch(); wg.Wait() }()
	watch := func(u string) *flvWatch {
		w := &flvWatch{url: u, frameMS: 40}
		wg.Add(1)
		go func() { defer wg.Done(); w.run(watchCtx) }()
		return w
	}

	// Readers join (most through the owner, every tenth through another
	// node, whose gateway forwards them) and play their answer's URL, one
	// after the other as a crowd arriving.
	var others []*Node
	for id, n := range nodes {
		if id != lease.Owner {
			others = append(others, n)
		}
	}
	perNode := map[string]int{}
	var watches []*flvWatch
	var rtmpEdgeURLs []string
	for i := range readers {
		through := owner
		if i%10 == 9 {
			through = others[i%2]
		}
		cc, err := joinAudience(ctx, through, app, ch, 1000+i)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cc.CloseNow)
		play, err := cc.Subscribe(ctx, 1, mc.SubscribeOptions{Audio: true, Video: true, FLV: true})
		if err != nil {
			t.Fatalf("reader %d: subscribe: %v", i, err)
		}
		at := nodeOf(t, nodes, play.URL)
		perNode[at]++
		if i < threshold && at != lease.Owner {
			t.Fatalf("reader %d (below the threshold) was sent to %s, want the owner %s", i, at, lease.Owner)
		}
		w := watch(play.URL)
		if i < threshold {
			// The owner counts readers that play: let this one start.
			waitFor(t, fmt.Sprintf("reader %d's first frame", i), func() bool { return w.started.Load() || w.failed() })
		}
		watches = append(watches, w)
		if at != lease.Owner && len(rtmpEdgeURLs) < 2 {
			// This member also plays the RTMP URL a live-player would get.
			rp, err := cc.Subscribe(ctx, 1, mc.SubscribeOptions{Audio: true, Video: true})
			if err != nil {
				t.Fatal(err)
			}
			rtmpEdgeURLs = append(rtmpEdgeURLs, rp.URL)
		}
	}
	t.Logf("readers per node: %v (owner %s)", perNode, lease.Owner)
	if perNode[lease.Owner] != threshold {
		t.Errorf("the owner got %d readers, want the threshold %d", perNode[lease.Owner], threshold)
	}
	for _, n := range others {
		id, _ := n.ClusterNode()
		if perNode[id.ID] == 0 {
			t.Errorf("node %s got no readers: %v", id.ID, perNode)
		}
	}
	// Edge RTMP play URLs decode in ffmpeg.
	for _, u := range rtmpEdgeURLs {
		if strings.Contains(u, owner.RTMPAddr()) {
			t.Fatalf("an RTMP play URL past the threshold names the owner: %s", u)
		}
		decodeFrames(t, u, 25)
	}

	waitFor(t, "every reader's first keyframe", func() bool {
		for _, w := range watches {
			if !w.started.Load() && !w.failed() {
				return false
			}
		}
		return true
	})
	// The owner's bytes to each edge against one reader's bytes at the
	// owner (reader 0), over the same window.
	ref := watches[0]
	out0, ref0 := owner.cluster.origin.BytesOut(), ref.bytes.Load()
	frames0 := make([]int64, len(watches))
	for i, w := range watches {
		frames0[i] = w.frames.Load()
	}
	time.Sleep(5 * time.Second)
	out1, ref1 := owner.cluster.origin.BytesOut(), ref.bytes.Load()
	// Timestamps are comparable between readers of one node (an edge's
	// start where its pull did).
	lastMax := map[string]int64{}
	for _, w := range watches {
		id := nodeOfURL(nodes, w.url)
		lastMax[id] = max(lastMax[id], w.lastTS.Load())
	}
	stopWatch()
	wg.Wait()

	for i, w := range watches {
		gaps, err := w.result()
		if err != nil {
			t.Errorf("reader %d (%s): %v", i, nodeOfURL(nodes, w.url), err)
			continue
		}
		if len(gaps) > 0 {
			t.Errorf("reader %d (%s) missed frames: timestamp breaks %v", i, nodeOfURL(nodes, w.url), gaps)
		}
		if got := w.frames.Load() - frames0[i]; got == 0 {
			t.Errorf("reader %d (%s) got no frame in the window", i, nodeOfURL(nodes, w.url))
		}
		if lag := lastMax[nodeOfURL(nodes, w.url)] - w.lastTS.Load(); lag > 2000 {
			t.Errorf("reader %d (%s) is %d ms behind the others of its node", i, nodeOfURL(nodes, w.url), lag)
		}
	}
	refBytes := float64(ref1 - ref0)
	for _, n := range others {
		id, _ := n.ClusterNode()
		sent := float64(out1[id.ID] - out0[id.ID])
		ratio := sent / refBytes
		t.Logf("owner -> %s: %.0f bytes in the window for %d readers there; the owner's own reader got %.0f (ratio %.2f)",
			id.ID, sent, perNode[id.ID], refBytes, ratio)
		if ratio < 0.5 || ratio > 2 {
			t.Errorf("owner sent %s %.2f times one reader's bytes for %d readers; want one copy of the stream", id.ID, ratio, perNode[id.ID])
		}
	}
}

func (w *flvWatch) failed() bool {
	_, err := w.result()
	return err != nil
}

// nodeOf names the node whose HTTP address u names, or fails the test.
func nodeOf(t *testing.T, nodes map[string]*Node, u string) string {
	t.Helper()
	if id := nodeOfURL(nodes, u); id != "" {
		return id
	}
	t.Fatalf("play URL %s names no node", u)
	return ""
}

func nodeOfURL(nodes map[string]*Node, u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	for id, n := range nodes {
		if pu.Host == n.HTTPAddr() || pu.Host == n.RTMPAddr() {
			return id
		}
	}
	return ""
}

// startLightPush pushes a low-bitrate test stream to url with ffmpeg: 25
// fps without B-frames (video tags 40 ms apart), a keyframe a second.
func startLightPush(t *testing.T, url string) {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg is required (make test installs it)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "300",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0",
		"-b:v", "150k", "-pix_fmt", "yuv420p", "-an", "-f", "flv", url)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestClusterEdgeAdmitsOwnersMembersOnly: a signed play URL the owner
// issued is played at another node (an edge) only while its viewer is a
// member of the channel on the owner: the edge asks the owner, and asks
// again every cluster.edgeMemberCheck while it plays. A URL for a uid
// that is not a member is refused at the edge as at the owner; when the
// member leaves, its edge reader ends and its URL is refused there; a
// forged membership question gets 401.
func TestClusterEdgeAdmitsOwnersMembersOnly(t *testing.T) {
	srv := redistest.Start(t)
	nodes := map[string]*Node{}
	for _, id := range []string{"a", "b"} {
		cfg := clusterConfig(t, srv, id)
		cfg.Gateway.URLRejoinGrace = 0 // a member's URLs end with its leave
		cfg.Cluster.EdgeMemberCheck = 200 * time.Millisecond
		nodes[id] = startClusterNode(t, cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	apps, _ := nodes["a"].Store().Apps(ctx)
	app := apps[0]
	const ch = "show"
	host := joinThrough(t, nodes["a"], app, ch, 1)
	// a is the channel's owner, b the other node.
	lease, err := nodes["a"].cluster.c.Owner(ctx, app.ID, ch)
	if err != nil || lease == nil {
		t.Fatalf("the channel has no owner: %v", err)
	}
	a, b := nodes["a"], nodes["b"]
	if lease.Owner == "b" {
		a, b = b, a
	}
	pushURL, err := host.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	startLightPush(t, pushURL)
	waitFor(t, "the stream on a", func() bool { return a.media.hub.Live(media.Key{AppID: app.ID, Channel: ch, UID: "1"}) })

	stream := token.StreamName(app.ID, ch, "1")
	edgeURL := func(viewer string) string {
		return "http://" + b.HTTPAddr() + "/live/" + stream + ".flv?" +
			a.Signer().ViewerQuery(token.ActionPlay, stream, viewer, time.Now().Add(time.Minute))
	}
	status := func(u string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// A member of the channel on a plays its URL at b.
	viewer, err := joinAudience(ctx, a, app, ch, 7)
	if err != nil {
		t.Fatal(err)
	}
	w := &flvWatch{url: edgeURL("7"), frameMS: 40}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.run(wctx); close(done) }()
	defer func() { stop(); <-done }()
	waitFor(t, "the member's frames at the edge", func() bool { return w.frames.Load() > 10 || w.failed() })
	if _, err := w.result(); err != nil {
		t.Fatalf("a member's signed URL at the edge: %v", err)
	}
	// Still playing after several membership checks.
	time.Sleep(time.Second)
	if _, err := w.result(); err != nil {
		t.Fatalf("the member's edge reader ended while it is in the channel: %v", err)
	}
	// A uid that is not a member: refused.
	if code := status(edgeURL("8")); code == http.StatusOK {
		t.Fatal("a signed URL for a uid that is not in the channel plays at the edge")
	}
	// The member leaves: its URL no longer lets new connections in there.
	if err := viewer.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the member's leave on a", func() bool {
		_, ok := a.channels.Member(app.ID, ch, 7)
		return !ok
	})
	// Its reader at the edge ends at the next check.
	waitFor(t, "the departed member's edge reader to end", w.failed)
	if code := status(edgeURL("7")); code == http.StatusOK {
		t.Fatal("the edge let a departed member's URL in")
	}
	// Only a node of the cluster may ask.
	resp, err := http.Get("http://" + a.HTTPAddr() + relayPrefix + "/member/" + app.ID + "/" + ch + "/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("membership question without the cluster credential: %d, want 401", resp.StatusCode)
	}
}
