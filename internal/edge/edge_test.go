package edge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/media/mediatest"
)

var (
	secret  = []byte("0123456789abcdef0123456789abcdef")
	testKey = media.Key{AppID: "app", Channel: "room 1/é", UID: "7"}
)

const prefix = "/cluster"

// packetAt is packet i of a test stream: a keyframe every 20 packets, video
// and audio alternating, the payload naming i so that order can be checked.
func packetAt(i int) *media.Packet {
	ts := time.Duration(i) * 20 * time.Millisecond
	payload := binary.BigEndian.AppendUint32(make([]byte, 0, 64), uint32(i))
	payload = append(payload, bytes.Repeat([]byte{byte(i)}, 60)...)
	if i%2 == 1 {
		return &media.Packet{Track: mediatest.Audio, DTS: ts, PTS: ts, Keyframe: true, Payload: payload}
	}
	return &media.Packet{Track: mediatest.Video, DTS: ts, PTS: ts + 40*time.Millisecond, Keyframe: i%20 == 0, Payload: payload}
}

// wireSize is packetAt's size in a relay body (frame header, packet header,
// payload).
const wireSize = 5 + 18 + 64

func seqOf(p *media.Packet) int { return int(binary.BigEndian.Uint32(p.Payload)) }

// testNode stands for one node: its hub, relay handler on a loopback HTTP
// server and Puller.
type testNode struct {
	id     string
	hub    *media.Hub
	auth   *cluster.Auth
	origin *Origin
	srv    *httptest.Server
	puller *Puller
	locate atomic.Int64 // Locate calls
}

type clusterOpts struct {
	grace  time.Duration // the hubs' publisher grace (default 300 ms)
	linger time.Duration // the Pullers' linger (default 100 ms)
	// locate answers for node n (default: node "a" is every stream's origin).
	locate func(n *testNode, nodes map[string]*testNode, key media.Key) (string, bool, error)
	self   bool // set PullerConfig.Self
}

func originA(n *testNode, nodes map[string]*testNode, _ media.Key) (string, bool, error) {
	if n.id == "a" {
		return "", true, nil
	}
	return nodes["a"].srv.URL, false, nil
}

// leakCheck fails the test if goroutines started during it outlive it; call
// it first so that its cleanup runs last.
func leakCheck(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("goroutine leak: %d running, %d before the test\n%s", n, base, buf)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func newCluster(t *testing.T, o clusterOpts, ids ...string) map[string]*testNode {
	t.Helper()
	if o.grace == 0 {
		o.grace = 300 * time.Millisecond
	}
	if o.linger == 0 {
		o.linger = 100 * time.Millisecond
	}
	if o.locate == nil {
		o.locate = originA
	}
	log := slog.New(slog.DiscardHandler)
	nodes := map[string]*testNode{}
	for _, id := range ids {
		n := &testNode{id: id}
		var err error
		if n.hub, err = media.NewHub(media.Config{Grace: o.grace}, nil, log); err != nil {
			t.Fatal(err)
		}
		if n.auth, err = cluster.NewAuth(secret, id); err != nil {
			t.Fatal(err)
		}
		if n.origin, err = NewOrigin(n.hub, n.auth, prefix, log); err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle(n.origin.Pattern(), n.origin)
		n.srv = httptest.NewServer(mux)
		cfg := PullerConfig{
			Hub: n.hub, Auth: n.auth, Prefix: prefix, Log: log,
			Linger: o.linger, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
			Locate: func(ctx context.Context, key media.Key) (string, bool, error) {
				n.locate.Add(1)
				return o.locate(n, nodes, key)
			},
		}
		if o.self {
			cfg.Self = n.srv.URL
		}
		if n.puller, err = NewPuller(cfg); err != nil {
			t.Fatal(err)
		}
		n.hub.SetOnWanted(n.puller.Wanted)
		nodes[id] = n
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.puller.Close()
		}
		for _, n := range nodes {
			n.hub.Close()
		}
		for _, n := range nodes {
			n.srv.Close()
		}
	})
	return nodes
}

// waitFor polls cond until it holds or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// collect reads rd on a goroutine until it ends; wait returns the sequence
// numbers it got and the reason it ended.
func collect(ctx context.Context, rd *media.Reader) (wait func() ([]int, error)) {
	var (
		got []int
		end error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer rd.Close()
		var pkts []*media.Packet
		for {
			var err error
			pkts, err = rd.Next(ctx, pkts[:0])
			for _, p := range pkts {
				got = append(got, seqOf(p))
			}
			if err != nil {
				end = err
				return
			}
		}
	}()
	return func() ([]int, error) { <-done; return got, end }
}

// checkSeq: seqs run from first to last without a gap.
func checkSeq(t *testing.T, who string, seqs []int, first, last int) {
	t.Helper()
	if len(seqs) == 0 || seqs[0] != first || seqs[len(seqs)-1] != last || len(seqs) != last-first+1 {
		head := seqs[:min(5, len(seqs))]
		t.Fatalf("%s got %d packets starting %v, want %d..%d", who, len(seqs), head, first, last)
	}
	for j := 1; j < len(seqs); j++ {
		if seqs[j] != seqs[j-1]+1 {
			t.Fatalf("%s: packet %d follows %d", who, seqs[j], seqs[j-1])
		}
	}
}

// publish writes packets from..to-1 on pub at about 4x real time.
func publish(t *testing.T, pub *media.Publisher, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := pub.Write(packetAt(i)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// TestEdgeFanOut: 50 readers on node B and 50 on node C of a stream
// published on node A each receive every frame, starting at the keyframe of
// A's GOP cache; A sends the stream once to each edge (about two copies of
// the stream, not 100); when A's stream ends, B's and C's readers end with
// A's reason, at once rather than after a grace period of B's and C's own.
func TestEdgeFanOut(t *testing.T) {
	leakCheck(t)
	nodes := newCluster(t, clusterOpts{}, "a", "b", "c")
	a := nodes["a"]
	pub, err := a.hub.Publish(testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.SetTracks(mediatest.Video, mediatest.Audio)
	// Packets 0..49 before any edge reader: A's GOP cache holds 40..49.
	const firstKey, before, last = 40, 50, 449
	publish(t, pub, 0, before)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const perEdge = 50
	var waits []func() ([]int, error)
	for _, id := range []string{"b", "c"} {
		for range perEdge {
			rd, err := nodes[id].hub.Subscribe(testKey, media.SubscribeOptions{Protocol: "test"})
			if err != nil {
				t.Fatal(err)
			}
			waits = append(waits, collect(ctx, rd))
		}
	}
	waitFor(t, "both edges to pull", func() bool { return nodes["b"].hub.Live(testKey) && nodes["c"].hub.Live(testKey) })
	if got := a.origin.Active(); got != 2 {
		t.Fatalf("origin serves %d relays for 2 edges with %d readers each", got, perEdge)
	}
	publish(t, pub, before, last+1)
	// A's publisher stops; its grace expires; B's and C's readers end after
	// their own grace, although B and C keep trying to pull meanwhile.
	pub.Close(nil)
	for i, w := range waits {
		seqs, end := w()
		checkSeq(t, fmt.Sprintf("reader %d", i), seqs, firstKey, last)
		// With the origin's reason, not after a grace period of their own.
		if end == nil || !strings.Contains(end.Error(), "did not come back within 300ms (on the origin node)") {
			t.Fatalf("reader %d did not end with the stream: %v", i, end)
		}
	}
	// One copy per edge: the packets from the GOP cache on, and the magic and
	// two track frames per body.
	one := uint64((last - firstKey + 1) * wireSize)
	out := a.origin.BytesOut()
	for _, id := range []string{"b", "c"} {
		if out[id] < one || out[id] > one+1024 {
			t.Fatalf("origin sent %d bytes to %s (%d readers); one copy is about %d (all: %v)", out[id], id, perEdge, one, out)
		}
		if in := nodes[id].puller.Stats().BytesIn; in < one {
			t.Fatalf("%s counted %d bytes in, the origin sent it %d", id, in, out[id])
		}
	}
	if total := a.origin.TotalBytesOut(); total > 2*one+2048 {
		t.Fatalf("origin sent %d bytes for 2 edges: more than two copies (%d each)", total, one)
	}
	t.Logf("origin bytes out per edge %v, one copy %d, %d readers", out, one, 2*perEdge)
}

// TestLingerAndReconnect: a reader that comes back within the linger finds
// the edge's GOP cache at once, without a new pull; after the last reader
// left, the edge's pull stops once the linger has passed.
func TestLingerAndReconnect(t *testing.T) {
	leakCheck(t)
	nodes := newCluster(t, clusterOpts{linger: 400 * time.Millisecond}, "a", "b")
	a, b := nodes["a"], nodes["b"]
	pub, err := a.hub.Publish(testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.SetTracks(mediatest.Video, mediatest.Audio)
	publish(t, pub, 0, 30)
	rd, err := b.hub.Subscribe(testKey, media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to pull", func() bool { return b.hub.Live(testKey) })
	rd.Close()
	// Within the linger: the GOP cache (keyframe 20) comes at once.
	rd, err = b.hub.Subscribe(testKey, media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := rd.TryNext(nil)
	if err != nil || len(pkts) == 0 || seqOf(pkts[0]) != 20 || !pkts[0].Keyframe {
		t.Fatalf("a reader back within the linger got %d packets (err %v), want the GOP cache from keyframe 20", len(pkts), err)
	}
	// The first pull goes on: no second one even after several backoffs.
	time.Sleep(150 * time.Millisecond)
	if n := b.puller.Stats().Pulls; n != 1 {
		t.Fatalf("%d pulls for one stream whose reader came back within the linger", n)
	}
	rd.Close()
	waitFor(t, "B's pull to stop after the linger", func() bool { return a.origin.Active() == 0 && b.puller.Stats().Streams == 0 })
	if n := b.puller.Stats().Pulls; n != 1 {
		t.Fatalf("%d pulls for one stream", n)
	}
}

// TestRetryWhileWanted: a Locate that fails, then an origin that refuses,
// are tried again while a reader waits; the reader gets the stream once
// its origin serves it. A reader that gives up stops the retries.
func TestRetryWhileWanted(t *testing.T) {
	leakCheck(t)
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "draining", http.StatusServiceUnavailable)
	}))
	defer refuse.Close()
	var phase atomic.Int32 // 0: Locate fails, 1: the origin refuses, 2: A
	nodes := newCluster(t, clusterOpts{locate: func(n *testNode, nodes map[string]*testNode, key media.Key) (string, bool, error) {
		switch {
		case n.id == "a":
			return "", true, nil
		case phase.Load() == 0:
			return "", false, errors.New("redis: connection refused")
		case phase.Load() == 1:
			return refuse.URL, false, nil
		}
		return nodes["a"].srv.URL, false, nil
	}}, "a", "b")
	a, b := nodes["a"], nodes["b"]
	pub, err := a.hub.Publish(testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.SetTracks(mediatest.Video, mediatest.Audio)
	publish(t, pub, 0, 30)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rd, err := b.hub.Subscribe(testKey, media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wait := collect(ctx, rd)
	waitFor(t, "Locate failures", func() bool { return b.puller.Stats().Failures >= 3 })
	phase.Store(1)
	f := b.puller.Stats().Failures
	waitFor(t, "refused pulls", func() bool { return b.puller.Stats().Failures >= f+3 })
	phase.Store(2)
	waitFor(t, "B to pull", func() bool { return b.hub.Live(testKey) })
	publish(t, pub, 30, 100)
	a.hub.EndStream(testKey, nil)
	seqs, _ := wait()
	checkSeq(t, "the waiting reader", seqs, 20, 99)

	// Locate fails for good: a reader waits, gives up; the retries stop.
	phase.Store(0)
	other := media.Key{AppID: "app", Channel: "room", UID: "8"}
	rd, err = b.hub.Subscribe(other, media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f = b.puller.Stats().Failures
	waitFor(t, "Locate failures", func() bool { return b.puller.Stats().Failures >= f+2 })
	rd.Close()
	waitFor(t, "the retries to stop", func() bool { return b.puller.Stats().Streams == 0 })
	calls := b.locate.Load()
	time.Sleep(300 * time.Millisecond)
	if n := b.locate.Load(); n != calls {
		t.Fatalf("Locate called %d more times after the last reader left and the linger passed", n-calls)
	}
}

// TestFailover: the origin dies (its server drops every connection); the
// edge tries again, its locator names the stream's new origin, where the
// publisher re-published, and the edge's readers resume within the grace.
func TestFailover(t *testing.T) {
	leakCheck(t)
	var owner atomic.Value
	owner.Store("a")
	nodes := newCluster(t, clusterOpts{grace: 2 * time.Second, locate: func(n *testNode, nodes map[string]*testNode, key media.Key) (string, bool, error) {
		o := owner.Load().(string)
		if n.id == o {
			return "", true, nil
		}
		return nodes[o].srv.URL, false, nil
	}}, "a", "b", "c")
	a, b, c := nodes["a"], nodes["b"], nodes["c"]
	pubA, err := a.hub.Publish(testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	pubA.SetTracks(mediatest.Video, mediatest.Audio)
	publish(t, pubA, 0, 30)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rd, err := b.hub.Subscribe(testKey, media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wait := collect(ctx, rd)
	waitFor(t, "B to pull from A", func() bool { return a.origin.Active() == 1 })
	publish(t, pubA, 30, 60)
	waitFor(t, "B to receive A's packets", func() bool { return b.puller.Stats().BytesIn >= uint64(40*wireSize) })

	// A dies: its connections drop; C owns the channel now and its
	// publisher re-pushes there (its own clock restarts).
	// A's shutdown is no end of the stream: B's readers wait for it.
	owner.Store("c")
	a.hub.Close()
	waitFor(t, "A to stop serving", func() bool { return a.origin.Active() == 0 })
	a.srv.CloseClientConnections()
	pubC, err := c.hub.Publish(testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	pubC.SetTracks(mediatest.Video, mediatest.Audio)
	waitFor(t, "B to pull from C", func() bool { return c.origin.Active() == 1 })
	publish(t, pubC, 60, 200)
	c.hub.EndStream(testKey, nil)
	seqs, _ := wait()
	if len(seqs) == 0 || seqs[0] != 20 || seqs[len(seqs)-1] != 199 {
		t.Fatalf("the reader on B got %d packets from %v to %v, want 20 (A's GOP) to 199 (C's last)", len(seqs), seqs[:min(1, len(seqs))], seqs[max(0, len(seqs)-1):])
	}
	if out := c.origin.BytesOut()["b"]; out == 0 {
		t.Fatal("C sent nothing to B")
	}
}

// TestNeverPullsFromItself: a locator that names this very node (stale
// placement) makes no pull.
func TestNeverPullsFromItself(t *testing.T) {
	leakCheck(t)
	nodes := newCluster(t, clusterOpts{self: true, locate: func(n *testNode, _ map[string]*testNode, _ media.Key) (string, bool, error) {
		return n.srv.URL + "/", false, nil
	}}, "a")
	a := nodes["a"]
	rd, err := a.hub.Subscribe(testKey, media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	waitFor(t, "Locate", func() bool { return a.locate.Load() >= 1 })
	time.Sleep(200 * time.Millisecond)
	if s := a.puller.Stats(); s.Pulls != 0 || a.origin.Active() != 0 {
		t.Fatalf("the node pulled from itself: %+v", s)
	}
}

// TestOriginRefuses: the relay endpoint answers only nodes of the cluster
// (401 with the reason), never the node itself, and only well-formed paths.
func TestOriginRefuses(t *testing.T) {
	leakCheck(t)
	nodes := newCluster(t, clusterOpts{}, "a")
	a := nodes["a"]
	good, _ := cluster.NewAuth(secret, "b")
	stranger, _ := cluster.NewAuth([]byte("another secret, same length!...."), "b")
	path := RelayURL(a.srv.URL, prefix, testKey)
	cases := []struct {
		name   string
		method string
		url    string
		auth   *cluster.Auth
		status int
		reason string
	}{
		{"no credential", "GET", path, nil, 401, cluster.AuthHeader},
		{"another cluster's secret", "GET", path, stranger, 401, "invalid node credential"},
		{"the node itself", "GET", path, a.auth, 409, "itself"},
		{"two segments", "GET", a.srv.URL + prefix + "/relay/app/room", good, 400, "2 path segments"},
		{"four segments", "GET", a.srv.URL + prefix + "/relay/app/room/7/8", good, 400, "4 path segments"},
		{"empty channel", "GET", a.srv.URL + prefix + "/relay/app//7", good, 400, "path segments"}, // the mux cleans // first
		{"empty uid", "GET", a.srv.URL + prefix + "/relay/app/room/", good, 400, "uid segment: empty"},
		{"control character", "GET", a.srv.URL + prefix + "/relay/app/room%0A/7", good, 400, "control character"},
		{"bad escape", "GET", a.srv.URL + prefix + "/relay/app/room%zz/7", good, 400, ""}, // the server refuses the URL
		{"too long", "GET", a.srv.URL + prefix + "/relay/app/" + strings.Repeat("x", 300) + "/7", good, 400, "more than 255"},
		{"not UTF-8", "GET", a.srv.URL + prefix + "/relay/app/%ff/7", good, 400, "UTF-8"},
		{"POST", "POST", path, good, 405, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, a.srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = strings.TrimPrefix(c.url, "http:") // sent as is
			if c.auth != nil {
				c.auth.Sign(req.Header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(body), c.reason) {
				t.Fatalf("%d %q, want %d with %q", resp.StatusCode, body, c.status, c.reason)
			}
		})
	}
	if a.hub.Stats().Readers != 0 {
		t.Fatal("a refused request left a reader on the hub")
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestPullerConfig: a client with a Timeout would cut relayed streams.
func TestPullerConfig(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	auth, _ := cluster.NewAuth(secret, "a")
	locate := func(context.Context, media.Key) (string, bool, error) { return "", true, nil }
	if _, err := NewPuller(PullerConfig{Hub: hub, Auth: auth, Locate: locate, Log: log, Client: &http.Client{Timeout: time.Minute}}); err == nil {
		t.Fatal("a client with a Timeout was accepted")
	}
	if _, err := NewPuller(PullerConfig{Hub: hub, Locate: locate, Log: log}); err == nil {
		t.Fatal("a Puller without Auth was accepted")
	}
	if _, err := NewOrigin(hub, auth, "cluster/", log); err == nil {
		t.Fatal("a bad prefix was accepted")
	}
	p, err := NewPuller(PullerConfig{Hub: hub, Auth: auth, Locate: locate, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}
