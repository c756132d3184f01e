package node

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/redistest"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/redis/go-redis/v9"
)

// successionNode is one node's succession over a real Redis, with the
// events it passes to the webhooks recorded.
type successionNode struct {
	s     *succession
	agent *cluster.Agent
	mu    sync.Mutex
	out   []channel.Event
}

func (n *successionNode) events() []channel.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]channel.Event(nil), n.out...)
}

func newSuccessionNode(t *testing.T, rdb redis.UniversalClient, id string, grace time.Duration) *successionNode {
	t.Helper()
	c, err := cluster.New(rdb, cluster.Config{Prefix: "t", NodeTTL: time.Minute, LeaseTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenRedis(context.Background(), rdb, "t")
	if err != nil {
		t.Fatal(err)
	}
	n := &successionNode{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n.s = newSuccession(st, c, func() *cluster.Agent { return n.agent }, func(string, string) []channel.MemberInfo { return nil },
		func(ev channel.Event) { n.mu.Lock(); n.out = append(n.out, ev); n.mu.Unlock() }, grace, log)
	n.agent = c.NewAgent(cluster.AgentConfig{Info: cluster.NodeInfo{ID: id}, OnTaken: n.s.taken})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.s.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

// TestSuccessionContinuesADeadOwnersMembers: node 1 owns a channel with two
// members and dies (its lease goes); node 2 takes the channel. Member 1
// comes back as audience: a role change is reported, not a second create
// or join, and its leave counts from its first join. Member 2 does not come
// back: after the grace it leaves with reason 2 (timeout), and only then is
// the channel's end, held back meanwhile, reported.
func TestSuccessionContinuesADeadOwnersMembers(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	const app, ch = "0123456789abcdef0123456789abcdef", "room"
	n1 := newSuccessionNode(t, rdb, "n1", time.Minute)
	grace := 500 * time.Millisecond
	n2 := newSuccessionNode(t, rdb, "n2", grace)

	l1, err := n1.agent.Own(ctx, app, ch)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	ev := func(kind channel.EventKind, uid uint32, role channel.Role, joined time.Time) channel.Event {
		return channel.Event{Kind: kind, App: app, Channel: ch, UID: uid, Role: role, JoinedAt: joined, At: time.Now(),
			Client: channel.ClientInfo{Kind: "web", OS: "Android"}}
	}
	n1.s.observe(ev(channel.EventChannelCreated, 0, 0, time.Time{}))
	n1.s.observe(ev(channel.EventMemberJoined, 1, channel.RoleBroadcaster, first))
	n1.s.observe(ev(channel.EventMemberJoined, 2, channel.RoleBroadcaster, first.Add(time.Second)))
	if got := len(n1.events()); got != 3 {
		t.Fatalf("node 1 passed %d events, want 3", got)
	}
	key := "{t}:members:" + app + ":4:" + ch
	deadline := time.Now().Add(5 * time.Second)
	for rdb.HLen(ctx, key).Val() != 3 { // owner field and two members
		if time.Now().After(deadline) {
			t.Fatalf("member list %v, want two members", rdb.HGetAll(ctx, key).Val())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Node 1 dies: its lease expires.
	if err := rdb.Del(ctx, "{t}:lease:"+app+":4:"+ch).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.agent.Own(ctx, app, ch); err != nil {
		t.Fatal(err)
	}
	if !n2.s.waiting(app, ch) {
		t.Fatal("node 2 did not take node 1's members over")
	}
	// Node 1, back from the dead, writes nothing its successor would read.
	n1.s.observe(ev(channel.EventMemberLeft, 2, channel.RoleBroadcaster, first))
	if ok, err := n1.s.st.DropChannelMembers(ctx, store.Fence{Key: n1.s.c.LeaseKey(app, ch), Value: l1.Value()}, app, ch); err != nil || ok {
		t.Fatalf("the dead owner dropped its successor's list: %v %v", ok, err)
	}

	n2.s.observe(ev(channel.EventChannelCreated, 0, 0, time.Time{}))
	n2.s.observe(ev(channel.EventMemberJoined, 1, channel.RoleAudience, time.Now()))
	left := ev(channel.EventMemberLeft, 1, channel.RoleAudience, time.Now())
	left.LeaveReason = errcode.LeaveNormal
	n2.s.observe(left)
	n2.s.observe(ev(channel.EventChannelDestroyed, 0, 0, time.Time{}))
	time.Sleep(grace + 500*time.Millisecond)

	got := n2.events()
	type want struct {
		kind   channel.EventKind
		uid    uint32
		reason errcode.LeaveReason
		joined time.Time
	}
	wants := []want{
		{kind: channel.EventRoleChanged, uid: 1, joined: first},
		{kind: channel.EventMemberLeft, uid: 1, reason: errcode.LeaveNormal, joined: first},
		{kind: channel.EventMemberLeft, uid: 2, reason: errcode.LeaveTimeout, joined: first.Add(time.Second)},
		{kind: channel.EventChannelDestroyed},
	}
	if len(got) != len(wants) {
		t.Fatalf("node 2 passed %d events %+v, want %d", len(got), got, len(wants))
	}
	for i, w := range wants {
		g := got[i]
		if g.Kind != w.kind || g.UID != w.uid || g.LeaveReason != w.reason || !g.JoinedAt.Equal(w.joined) {
			t.Errorf("event %d: kind %v uid %d reason %v joined %v, want kind %v uid %d reason %v joined %v",
				i, g.Kind, g.UID, g.LeaveReason, g.JoinedAt, w.kind, w.uid, w.reason, w.joined)
		}
	}
	if g := got[2]; g.Client.OS != "Android" || g.Client.Kind != "web" || g.Role != channel.RoleBroadcaster {
		t.Errorf("member 2's leave: client %+v role %v, want what it joined with", g.Client, g.Role)
	}
	if rdb.Exists(ctx, key).Val() != 0 {
		t.Errorf("member list %v left after everyone left", rdb.HGetAll(ctx, key).Val())
	}
	if n2.s.waiting(app, ch) {
		t.Error("still waiting after the grace")
	}
}

// TestSuccessionLostChannelReportsNothing: a node whose lease another node
// took (it was paused) tells its members to rejoin; their leaves there and
// the channel's end are not reported by it (the new owner reports them).
func TestSuccessionLostChannelReportsNothing(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	n := newSuccessionNode(t, rdb, "n1", time.Minute)
	const app, ch = "0123456789abcdef0123456789abcdef", "room"
	n.s.observe(channel.Event{Kind: channel.EventChannelCreated, App: app, Channel: ch})
	n.s.observe(channel.Event{Kind: channel.EventMemberJoined, App: app, Channel: ch, UID: 1})
	n.s.lost(app, ch)
	n.s.observe(channel.Event{Kind: channel.EventMemberLeft, App: app, Channel: ch, UID: 1, LeaveReason: errcode.LeaveDrain})
	n.s.observe(channel.Event{Kind: channel.EventChannelDestroyed, App: app, Channel: ch})
	n.s.observe(channel.Event{Kind: channel.EventChannelCreated, App: app, Channel: ch})
	var kinds []channel.EventKind
	for _, ev := range n.events() {
		kinds = append(kinds, ev.Kind)
	}
	want := []channel.EventKind{channel.EventChannelCreated, channel.EventMemberJoined, channel.EventChannelCreated}
	if len(kinds) != len(want) {
		t.Fatalf("passed %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("passed %v, want %v", kinds, want)
		}
	}
}
