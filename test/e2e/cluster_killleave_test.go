package e2e

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/webhook"
)

// killHookLog is a webhook endpoint that keeps every notice it receives.
type killHookLog struct {
	mu      sync.Mutex
	notices []killNotice
	seen    map[string]int
}

type killNotice struct {
	ID      string
	Type    int
	At      time.Time // when it arrived
	Payload webhook.Payload
}

func (h *killHookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		NoticeID  string          `json:"noticeId"`
		EventType int             `json:"eventType"`
		Payload   webhook.Payload `json:"payload"`
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(b, &body); err != nil || body.NoticeID == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen[body.NoticeID]++
	if h.seen[body.NoticeID] == 1 {
		h.notices = append(h.notices, killNotice{ID: body.NoticeID, Type: body.EventType, At: time.Now(), Payload: body.Payload})
	}
}

// find returns the notices of type typ about uid (any uid when uid is 0).
func (h *killHookLog) find(typ int, uid uint32) []killNotice {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []killNotice
	for _, n := range h.notices {
		if n.Type == typ && (uid == 0 || (n.Payload.UID != nil && *n.Payload.UID == uid)) {
			out = append(out, n)
		}
	}
	return out
}

func (h *killHookLog) types() map[int]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[int]int{}
	for _, n := range h.notices {
		out[n.Type]++
	}
	return out
}

func (h *killHookLog) duplicates() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := 0
	for _, k := range h.seen {
		d += k - 1
	}
	return d
}

// TestClusterKillOwnerLeaveNotices: the owner of a channel with two members
// is killed (SIGKILL). Member 1 rejoins on a live node, member 2 never comes
// back. The webhooks tell the story of one channel that never ended until
// its last member left: one create (101), one join per member (103; the
// rejoin is not reported), member 2's leave (104) with reason 2 (timeout)
// and a duration from its first join once its grace (cluster.leaseTTL after
// the takeover) ran out, member 1's own leave (reason 1, duration from its
// first join) and one destroy (102) naming it last. Before the fix the new
// owner reported a second create and join, member 2 never left.
func TestClusterKillOwnerLeaveNotices(t *testing.T) {
	testOwnerGoneLeaveNotices(t, syscall.SIGKILL, 2)
}

// TestClusterDrainLeaveNotices: the same with SIGTERM (a drain hands the
// channel over): member 2's leave has reason 4 (the server adjusted its
// load). Before the fix the drained node reported no leave at all and the
// new owner a second create and join.
func TestClusterDrainLeaveNotices(t *testing.T) {
	testOwnerGoneLeaveNotices(t, syscall.SIGTERM, 4)
}

// startOwnerGone starts n nodes that send their webhooks to a fresh
// killHookLog and joins uid to ch on the first node; it returns the
// member's connection and the channel's owner.
func startOwnerGone(t *testing.T, n int, ch string, uid int) (context.Context, *killHookLog, *testCluster, *mc.Conn, *clusterProc) {
	t.Helper()
	hooks := &killHookLog{seen: map[string]int{}}
	recv := httptest.NewServer(hooks)
	t.Cleanup(recv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	c := startCluster(t, n, recv.URL)
	m, err := c.join(ctx, c.nodes[0], ch, uid, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.CloseNow)
	owner := c.node(c.owner(ch))
	if owner == nil {
		t.Fatal("the channel has no owner after the first join")
	}
	return ctx, hooks, c, m, owner
}

func testOwnerGoneLeaveNotices(t *testing.T, sig syscall.Signal, reason int) {
	if testing.Short() {
		t.Skip("three nodes and a failover (about 20 s)")
	}
	const ch = "killleave"
	ctx, hooks, c, m1, owner := startOwnerGone(t, 3, ch, 1)
	m2, err := c.join(ctx, owner, ch, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m2.CloseNow)
	joined := time.Now()
	waitUntil(t, "both join notices", 20*time.Second, func() bool { return len(hooks.find(webhook.EventBroadcasterJoin, 0)) == 2 })
	time.Sleep(time.Second) // a duration of at least a second before the kill

	var live []*clusterProc
	for _, p := range c.nodes {
		if p != owner {
			live = append(live, p)
		}
	}
	killed := time.Now()
	owner.signal(t, sig)
	t.Logf("signalled owner %s (%v)", owner.id, sig)
	// Both connections end (the process died, or drained them); member 2
	// is gone for good, member 1 rejoins as the SDK does, through the live
	// nodes in turn.
	for i, m := range []interface{ Done() <-chan struct{} }{m1, m2} {
		select {
		case <-m.Done():
		case <-time.After(15 * time.Second):
			t.Fatalf("member %d's connection did not end when its owner went", i+1)
		}
	}
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	for i := 0; ; i++ {
		cc, err := c.join(rctx, live[i%len(live)], ch, 1, []string{"1", "2"})
		if err == nil {
			m1 = cc
			t.Cleanup(cc.CloseNow)
			break
		}
		select {
		case <-rctx.Done():
			t.Fatalf("member 1 did not rejoin: %v", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	rejoined := time.Now()
	t.Logf("member 1 rejoined %s after the signal", rejoined.Sub(killed).Round(time.Millisecond))

	// Member 2's leave, once its grace ran out.
	waitUntil(t, "member 2's leave notice", 30*time.Second, func() bool { return len(hooks.find(webhook.EventBroadcasterLeave, 2)) > 0 })
	l2 := hooks.find(webhook.EventBroadcasterLeave, 2)[0]
	if l2.Payload.Reason == nil || *l2.Payload.Reason != reason {
		t.Errorf("member 2's leave reason %v, want %d", l2.Payload.Reason, reason)
	}
	if d := l2.Payload.Duration; d == nil || *d < int64(killed.Sub(joined)/time.Second) || *d > int64(l2.At.Sub(joined)/time.Second)+1 {
		t.Errorf("member 2's leave duration %v s, want from its join to the leave (%s..%s)", d, killed.Sub(joined), l2.At.Sub(joined))
	}
	t.Logf("member 2's leave arrived %s after the signal, %s after member 1's rejoin (duration %d s)",
		l2.At.Sub(killed).Round(time.Millisecond), l2.At.Sub(rejoined).Round(time.Millisecond), *l2.Payload.Duration)

	// Member 1 leaves by itself: the channel ends.
	left := time.Now()
	if err := m1.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the destroy notice", 20*time.Second, func() bool { return len(hooks.find(webhook.EventChannelDestroy, 0)) > 0 })
	l1 := hooks.find(webhook.EventBroadcasterLeave, 1)
	if len(l1) != 1 {
		t.Fatalf("member 1's leave notices: %d, want 1", len(l1))
	}
	if r := l1[0].Payload.Reason; r == nil || *r != 1 {
		t.Errorf("member 1's leave reason %v, want 1 (normal)", r)
	}
	if d := l1[0].Payload.Duration; d == nil || *d < int64(left.Sub(joined)/time.Second) {
		t.Errorf("member 1's leave duration %v s, want from its first join (at least %s), not from its rejoin", d, left.Sub(joined))
	}
	if d := hooks.find(webhook.EventChannelDestroy, 0)[0].Payload.LastUID; d == nil || *d != 1 {
		t.Errorf("destroy notice's lastUid %v, want 1", d)
	}

	time.Sleep(2 * clusterTTL) // time for a late or duplicate notice to arrive
	want := map[int]int{webhook.EventChannelCreate: 1, webhook.EventBroadcasterJoin: 2,
		webhook.EventBroadcasterLeave: 2, webhook.EventChannelDestroy: 1}
	if got := hooks.types(); !maps.Equal(got, want) {
		t.Errorf("webhook notices by event type %v, want %v", got, want)
	}
	if n := len(hooks.find(webhook.EventBroadcasterLeave, 2)); n != 1 {
		t.Errorf("member 2's leave notices: %d, want exactly 1", n)
	}
	if d := hooks.duplicates(); d > 0 {
		t.Errorf("%d notices delivered more than once", d)
	}
}

// TestClusterKillOwnerNobodyBack: the owner of a channel with one member is
// killed and the member never comes back, so no rejoin makes any node take
// the channel. A live node finds the dead owner's member list with no lease
// and takes the channel itself: the member's leave (104, reason 2) and the
// channel's end (102) are reported once, within a few lease periods.
func TestClusterKillOwnerNobodyBack(t *testing.T) {
	if testing.Short() {
		t.Skip("two nodes and a failover (about 20 s)")
	}
	_, hooks, _, m, owner := startOwnerGone(t, 2, "nobodyback", 7)
	joined := time.Now()
	waitUntil(t, "the join notice", 20*time.Second, func() bool { return len(hooks.find(webhook.EventBroadcasterJoin, 7)) == 1 })
	killed := time.Now()
	owner.signal(t, syscall.SIGKILL)
	<-owner.exited
	m.CloseNow()

	waitUntil(t, "the destroy notice", 40*time.Second, func() bool { return len(hooks.find(webhook.EventChannelDestroy, 0)) > 0 })
	l := hooks.find(webhook.EventBroadcasterLeave, 7)
	if len(l) != 1 {
		t.Fatalf("leave notices of the member: %d, want 1 (before the destroy)", len(l))
	}
	if r := l[0].Payload.Reason; r == nil || *r != 2 {
		t.Errorf("leave reason %v, want 2 (timeout)", r)
	}
	if d := l[0].Payload.Duration; d == nil || *d < int64(killed.Sub(joined)/time.Second) || *d > int64(l[0].At.Sub(joined)/time.Second)+1 {
		t.Errorf("leave duration %v s, want from the join to the leave", d)
	}
	t.Logf("the leave arrived %s after the kill (cluster.leaseTTL %s)", l[0].At.Sub(killed).Round(time.Millisecond), clusterTTL)
	time.Sleep(2 * clusterTTL)
	want := map[int]int{webhook.EventChannelCreate: 1, webhook.EventBroadcasterJoin: 1,
		webhook.EventBroadcasterLeave: 1, webhook.EventChannelDestroy: 1}
	if got := hooks.types(); !maps.Equal(got, want) {
		t.Errorf("webhook notices by event type %v, want %v", got, want)
	}
	if d := hooks.duplicates(); d > 0 {
		t.Errorf("%d notices delivered more than once", d)
	}
}
