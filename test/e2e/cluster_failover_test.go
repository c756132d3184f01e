package e2e

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/minirtc/minirtc/internal/webhook"
)

// Issue 18 item 4 (failover), with real processes: three `minirtc serve`
// nodes on one Redis (cluster.nodeTTL and cluster.leaseTTL 3 s).

const failCh = "failover"

// callSetup is a call on a three-node cluster: uid 1 joined through n1,
// uid 2 through n2, uid 3 through n3; uid 1 publishes with ffmpeg to its
// push URL (the owner's); an HTTP-FLV reader plays uid 1's stream on a node
// that is not the owner.
type callSetup struct {
	c      *testCluster
	conns  map[int]*mc.Conn
	owner  *clusterProc
	push   *pusher
	pushTo string
	reader *flvReader
	rnode  *clusterProc
}

func setupCall(ctx context.Context, t *testing.T, hook string) *callSetup {
	t.Helper()
	return setupCallOn(ctx, t, hook, 3)
}

// setupCallOn is setupCall on a cluster of n nodes (uid i joins through
// node i).
func setupCallOn(ctx context.Context, t *testing.T, hook string, n int) *callSetup {
	t.Helper()
	c := startCluster(t, n, hook)
	s := &callSetup{c: c, conns: map[int]*mc.Conn{}}
	for i, p := range c.nodes {
		cc, err := c.join(ctx, p, failCh, i+1, nil)
		if err != nil {
			t.Fatalf("join %d through %s: %v", i+1, p.id, err)
		}
		s.conns[i+1] = cc
		t.Cleanup(cc.CloseNow)
	}
	s.owner = c.node(c.owner(failCh))
	var err error
	if s.pushTo, err = s.conns[1].Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.pushTo, s.owner.rtmpAddr) {
		t.Fatalf("push URL %s does not name the owner %s (%s)", s.pushTo, s.owner.id, s.owner.rtmpAddr)
	}
	s.push = startPusher(t, s.pushTo)
	for _, p := range c.nodes {
		if p != s.owner {
			s.rnode = p
			break
		}
	}
	s.reader = startFLVReader(t, s.flvURL(s.rnode))
	if err := s.reader.waitFrames(ctx, 0, 25); err != nil {
		t.Fatalf("before the failure: %v", err)
	}
	s.wantMembers(t, s.rnode, s.uids()...)
	return s
}

// uids are the call's members.
func (s *callSetup) uids() []uint32 {
	var out []uint32
	for uid := range s.conns {
		out = append(out, uint32(uid)) //nolint:gosec // G115: uids 1..3
	}
	slices.Sort(out)
	return out
}

// flvURL is uid 1's stream as HTTP-FLV on node p, for a subscriber.
func (s *callSetup) flvURL(p *clusterProc) string {
	return "http://" + p.httpAddr + "/live/" + token.StreamName(s.c.app.ID, failCh, "1") + ".flv?token=" +
		url.QueryEscape(s.c.token(failCh, "900", token.RoleSubscriber))
}

func (s *callSetup) wantMembers(t *testing.T, p *clusterProc, uids ...uint32) {
	t.Helper()
	got, err := s.c.members(p, failCh)
	if err != nil {
		t.Fatalf("members at %s: %v", p.id, err)
	}
	slices.Sort(got)
	if !slices.Equal(got, uids) {
		t.Fatalf("members at %s: %v, want %v", p.id, got, uids)
	}
}

// rejoinAll rejoins every member (whose connection ended) through the live
// nodes, each starting with the node it used before (then the next one),
// with known_speakers, as the SDK's autoRejoin does, retrying every 250 ms
// until ctx ends. It returns when each member has rejoined, with the time
// each took from start.
func (s *callSetup) rejoinAll(ctx context.Context, t *testing.T, start time.Time, live []*clusterProc) map[int]time.Duration {
	t.Helper()
	var mu sync.Mutex
	took := map[int]time.Duration{}
	errs := map[int]error{}
	fresh := map[int]*mc.Conn{}
	var wg sync.WaitGroup
	for uid, old := range s.conns {
		wg.Go(func() {
			select {
			case <-old.Done():
			case <-ctx.Done():
				mu.Lock()
				errs[uid] = errors.New("its connection never ended")
				mu.Unlock()
				return
			}
			for i := uid; ; i++ {
				p := live[i%len(live)]
				cc, err := s.c.join(ctx, p, failCh, uid, []string{"1", "2", "3"})
				if err == nil {
					mu.Lock()
					fresh[uid] = cc
					took[uid] = time.Since(start)
					mu.Unlock()
					t.Cleanup(cc.CloseNow)
					return
				}
				select {
				case <-ctx.Done():
					mu.Lock()
					errs[uid] = err
					mu.Unlock()
					return
				case <-time.After(250 * time.Millisecond):
				}
			}
		})
	}
	wg.Wait()
	maps.Copy(s.conns, fresh)
	for uid, err := range errs {
		t.Errorf("member %d did not rejoin: %v", uid, err)
	}
	if t.Failed() {
		t.FailNow()
	}
	return took
}

// republish has uid 1 ask for its push URL again, which must name the
// channel's new owner, and restarts ffmpeg there.
func (s *callSetup) republish(ctx context.Context, t *testing.T, dead *clusterProc) *clusterProc {
	t.Helper()
	u, err := s.conns[1].Publish(ctx)
	if err != nil {
		t.Fatalf("publish after the failover: %v", err)
	}
	owner := s.c.owner(failCh)
	if owner == "" || owner == dead.id {
		t.Fatalf("after the failover the channel's owner is %q", owner)
	}
	np := s.c.node(owner)
	if !strings.Contains(u, np.rtmpAddr) {
		t.Fatalf("new push URL %s does not name the new owner %s (%s)", u, owner, np.rtmpAddr)
	}
	s.push.stop()
	s.push = startPusher(t, u)
	return np
}

// TestClusterKillOwnerMidCall: the owner of a call is killed with SIGKILL.
// Within 15 s every member has rejoined on a live node, the publisher
// pushes to the new owner's URL, the reader on another node decodes frames
// again, the REST API on every live node lists every member, and no
// webhook notice was delivered twice.
func TestClusterKillOwnerMidCall(t *testing.T) {
	if testing.Short() {
		t.Skip("three nodes and a failover (about 20 s)")
	}
	hooks := &noticeCounter{count: map[string]int{}, types: map[int]int{}}
	recv := httptest.NewServer(hooks)
	defer recv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := setupCall(ctx, t, recv.URL)

	var live []*clusterProc
	for _, p := range s.c.nodes {
		if p != s.owner {
			live = append(live, p)
		}
	}
	killed := time.Now()
	s.owner.signal(t, syscall.SIGKILL)
	<-s.owner.exited
	t.Logf("killed owner %s", s.owner.id)

	rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
	defer rcancel()
	took := s.rejoinAll(rctx, t, killed, live)
	s.republish(rctx, t, s.owner)
	mark := s.reader.frames.Load()
	if err := s.reader.waitFrames(rctx, mark, 25); err != nil {
		t.Fatalf("the reader on %s did not resume within 15 s of the kill: %v", s.rnode.id, err)
	}
	back := time.Since(killed)
	t.Logf("kill -9 to everyone back (members rejoined, re-pushed, reader decoded 25 new frames): %s; rejoins: %v",
		back.Round(time.Millisecond), took)
	for _, p := range live {
		s.wantMembers(t, p, 1, 2, 3)
	}

	// Webhooks: every event once (the dead node's pending notices are
	// adopted by a live node, the delivered ones are not sent again): the
	// channel created once and three joins (the new owner continues the
	// dead owner's channel and members: their rejoins are not reported),
	// the stream published on each owner.
	want := map[int]int{webhook.EventChannelCreate: 1, webhook.EventBroadcasterJoin: 3, webhook.EventStreamPublished: 2}
	// A dead node's pending notices wait for its registry entry to expire
	// and a live node's sweep (each cluster.nodeTTL): allow a few rounds
	// on a loaded machine.
	deadline := time.Now().Add(30 * time.Second)
	for {
		hooks.mu.Lock()
		got := maps.Clone(hooks.types)
		hooks.mu.Unlock()
		done := true
		for typ, n := range want {
			done = done && got[typ] >= n
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook notices by event type after 30 s: %v, want at least %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * clusterTTL) // time for a duplicate to arrive
	hooks.mu.Lock()
	for typ, n := range want {
		if hooks.types[typ] != n {
			t.Errorf("webhook notices of event type %d: %d, want %d", typ, hooks.types[typ], n)
		}
	}
	hooks.mu.Unlock()
	dup, total := hooks.duplicates()
	if total == 0 {
		t.Fatal("no webhook notice arrived")
	}
	if len(dup) > 0 {
		t.Fatalf("notices delivered more than once: %v (of %d deliveries)", dup, total)
	}
	hooks.mu.Lock()
	t.Logf("webhook deliveries: %d, by event type %v", total, hooks.types)
	hooks.mu.Unlock()
}

// TestClusterKillOwnerOfTwo: the owner of a two-node cluster is killed, so
// the channel moves to the node whose HTTP-FLV reader was fed by a relay
// from the dead owner; that stream (paused since the relay broke) is taken
// over by the publisher's new push. The channel on the new owner must see
// the media start: the reader decodes again, the stream stays published
// past the media start timeout's first checks, and the stream-published
// notice (1001) comes from each owner. Before the fix the hub reported the
// takeover as a resume, the channel never saw a start, no 1001 was sent and
// the stream was removed 30 s later ("media never started").
func TestClusterKillOwnerOfTwo(t *testing.T) {
	if testing.Short() {
		t.Skip("two nodes and a failover (about 15 s)")
	}
	hooks := &noticeCounter{count: map[string]int{}, types: map[int]int{}}
	recv := httptest.NewServer(hooks)
	defer recv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := setupCallOn(ctx, t, recv.URL, 2)
	survivor := s.rnode
	killed := time.Now()
	s.owner.signal(t, syscall.SIGKILL)
	<-s.owner.exited

	rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
	defer rcancel()
	s.rejoinAll(rctx, t, killed, []*clusterProc{survivor})
	if np := s.republish(rctx, t, s.owner); np != survivor {
		t.Fatalf("new owner %s, want the survivor %s", np.id, survivor.id)
	}
	mark := s.reader.frames.Load()
	if err := s.reader.waitFrames(rctx, mark, 25); err != nil {
		t.Fatalf("the reader on %s did not resume: %v", survivor.id, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		hooks.mu.Lock()
		n := hooks.types[webhook.EventStreamPublished]
		hooks.mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream-published notices: %d, want one from each owner (2)", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterDrainOnSIGTERM: the owner of a call gets SIGTERM. It marks
// itself draining (no new channel is placed on it), its members get the
// rejoin push (501) and land on other nodes, the publisher re-pushes to the
// new owner, the reader resumes, nobody is lost, and the process exits 0
// within cluster.drainTimeout (10 s here).
func TestClusterDrainOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("three nodes and a drain (about 15 s)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := setupCall(ctx, t, "")
	var live []*clusterProc
	for _, p := range s.c.nodes {
		if p != s.owner {
			live = append(live, p)
		}
	}
	// Watch every member's connection for the 501 push.
	got501 := map[int]chan bool{}
	for uid, cc := range s.conns {
		ch := make(chan bool, 1)
		got501[uid] = ch
		go func() {
			saw := false
			for {
				m, err := cc.Next(ctx)
				if err != nil {
					ch <- saw
					return
				}
				saw = saw || m.Code() == 501
			}
		}()
	}
	stopped := time.Now()
	s.owner.signal(t, syscall.SIGTERM)
	waitUntil(t, "the owner to be marked draining or gone", 5*time.Second, func() bool {
		n, ok, err := s.c.reg.Node(ctx, s.owner.id)
		return err == nil && (!ok || n.Draining)
	})
	// A new channel is not placed on the draining node.
	cc, err := s.c.join(ctx, live[0], "another", 50, nil)
	if err != nil {
		t.Fatalf("join of a new channel during the drain: %v", err)
	}
	defer cc.CloseNow()
	if o := s.c.owner("another"); o == "" || o == s.owner.id {
		t.Fatalf("a new channel during the drain was placed on %q (the draining node is %s)", o, s.owner.id)
	}
	rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
	defer rcancel()
	took := s.rejoinAll(rctx, t, stopped, live)
	for uid, ch := range got501 {
		if !<-ch {
			t.Errorf("member %d's connection ended without the 501 rejoin push", uid)
		}
	}
	s.republish(rctx, t, s.owner)
	mark := s.reader.frames.Load()
	if err := s.reader.waitFrames(rctx, mark, 25); err != nil {
		t.Fatalf("the reader on %s did not resume: %v", s.rnode.id, err)
	}
	t.Logf("SIGTERM to everyone back: %s; rejoins: %v", time.Since(stopped).Round(time.Millisecond), took)
	for _, p := range live {
		s.wantMembers(t, p, 1, 2, 3)
	}
	select {
	case <-s.owner.exited:
	case <-time.After(10*time.Second + 5*time.Second - time.Since(stopped)):
		t.Fatalf("the drained node did not exit within cluster.drainTimeout (10 s)")
	}
	if s.owner.exitErr != nil {
		t.Fatalf("the drained node exited with %v, want status 0", s.owner.exitErr)
	}
	t.Logf("SIGTERM to exit: %s", time.Since(stopped).Round(time.Millisecond))
}

// TestClusterRedisOutage: Redis answers nobody for 5 s (CLIENT PAUSE ALL:
// unavailable, its data kept). Meanwhile the call goes on (the reader
// decodes frames, the members' connections answer pings) and a new join
// gets 502 cluster unavailable; afterwards, without restarting any node, a
// new member joins the same call (it sees the publisher) and the REST API
// lists everyone.
func TestClusterRedisOutage(t *testing.T) {
	testRedisOutage(t, func(s *callSetup, d time.Duration) error { return s.c.redis.Pause(d) })
}

// TestClusterRedisRestart is TestClusterRedisOutage with the Redis process
// killed and started again 5 s later (with its append-only file, as a
// production Redis keeps its data): connections are refused meanwhile
// instead of hanging.
func TestClusterRedisRestart(t *testing.T) {
	testRedisOutage(t, func(s *callSetup, d time.Duration) error {
		s.c.redis.Stop()
		go func() {
			time.Sleep(d)
			s.c.redis.Restart()
		}()
		return nil
	})
}

func testRedisOutage(t *testing.T, outageFor func(s *callSetup, d time.Duration) error) {
	if testing.Short() {
		t.Skip("three nodes and a 5 s Redis outage (about 20 s)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := setupCall(ctx, t, "")
	if err := s.conns[3].Leave(ctx); err != nil { // uid 3 joins again after the outage
		t.Fatal(err)
	}
	s.conns[3].CloseNow()
	waitUntil(t, "uid 3 to leave", 10*time.Second, func() bool {
		got, err := s.c.members(s.rnode, failCh)
		return err == nil && !slices.Contains(got, 3)
	})
	owner := s.owner.id

	const outage = 5 * time.Second
	if err := outageFor(s, outage); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	mark := s.reader.frames.Load()
	s.reader.resetGap()
	// Existing sessions go on.
	for uid := 1; uid <= 2; uid++ {
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		err := s.conns[uid].PingRequest(pctx)
		pcancel()
		if err != nil {
			t.Fatalf("member %d during the outage: %v", uid, err)
		}
	}
	var other *clusterProc
	for _, p := range s.c.nodes {
		if p != s.owner {
			other = p
		}
	}
	// A new HTTP-FLV viewer during the outage: the same catalogue error as
	// a join, as HTTP 503 (asked now: each answer waits for Redis's timeout).
	flvStatus := make(chan int, 1)
	go func() {
		resp, err := http.Get(s.flvURL(other))
		if err != nil {
			flvStatus <- 0
			return
		}
		resp.Body.Close()
		flvStatus <- resp.StatusCode
	}()
	// A new join during the outage: the documented catalogue error.
	_, err := s.c.join(ctx, other, "newcall", 60, nil)
	var ce *mc.Error
	if !errors.As(err, &ce) || !errors.Is(err, errcode.ClusterUnavailable("")) {
		t.Fatalf("join during the outage: %v, want 502 cluster unavailable", err)
	}
	t.Logf("join during the outage: %v", err)
	if code := <-flvStatus; code != http.StatusServiceUnavailable {
		t.Fatalf("a new FLV viewer during the outage: HTTP %d, want 503 (cluster unavailable)", code)
	}
	if time.Since(began) >= outage {
		t.Fatalf("the checks took %s: the outage was over", time.Since(began))
	}
	// The stream still flows in the outage's last second, past the
	// lease time (frames are counted, not timed: the machine may encode
	// slower than real time).
	time.Sleep(outage - time.Second - time.Since(began))
	late := s.reader.frames.Load()
	time.Sleep(outage - time.Since(began))
	n, gap := s.reader.frames.Load()-mark, s.reader.gap()
	t.Logf("during the 5 s outage the reader got %d video frames, longest gap %s", n, gap.Round(time.Millisecond))
	if s.reader.frames.Load() == late || n < 25 {
		t.Fatalf("the reader got %d video frames during the 5 s outage, %d in its last second: the stream stalled", n, s.reader.frames.Load()-late)
	}

	// After it: a new member joins the call through another node and sees
	// the publisher; nobody was lost; the channel did not move.
	waitUntil(t, "Redis to answer again", 5*time.Second, func() bool { return s.c.rdb.Ping(ctx).Err() == nil })
	time.Sleep(clusterTTL + time.Second) // a lease dropped during the outage would have expired by now
	jctx, jcancel := context.WithTimeout(ctx, 15*time.Second)
	defer jcancel()
	var cc *mc.Conn
	for {
		cc, err = s.c.join(jctx, other, failCh, 3, nil)
		if err == nil {
			break
		}
		if jctx.Err() != nil {
			t.Fatalf("join after the outage: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	defer cc.CloseNow()
	if _, err := cc.WaitPush(jctx, func(p mc.Push) bool { return p.Action == "stream-added" && p.UID == 1 }); err != nil {
		t.Fatalf("the member that joined after the outage does not see the publisher (a second copy of the channel?): %v", err)
	}
	if o := s.c.owner(failCh); o != owner {
		t.Fatalf("after the outage the channel's owner is %q, want %s (its members are there)", o, owner)
	}
	for _, p := range s.c.nodes {
		s.wantMembers(t, p, 1, 2, 3)
	}
	if err := s.reader.waitFrames(jctx, s.reader.frames.Load(), 25); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + other.httpAddr + "/healthz"); err != nil {
		t.Fatal(err)
	}
}
