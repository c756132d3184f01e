package store

import (
	"context"
	"sync"
	"testing"
)

// TestRedisChannelMembers: the owner's member list is written only under
// the lease that holds, and a successor takes it exactly once per lease.
func TestRedisChannelMembers(t *testing.T) {
	ctx := context.Background()
	a, b, _ := twoNodes(t)
	const app, ch, leaseKey = "0123456789abcdef0123456789abcdef", "room", "{cluster}:lease:x"
	old := Fence{Key: leaseKey, Value: "n1 1"}
	if err := a.rdb.Set(ctx, leaseKey, old.Value, 0).Err(); err != nil {
		t.Fatal(err)
	}
	m1 := ChannelMember{UID: 1, Account: "alice", Role: 1, JoinedMs: 1_700_000_000_000, Kind: "web", OS: "Android"}
	m2 := ChannelMember{UID: 2, JoinedMs: 1_700_000_001_000}
	for _, m := range []ChannelMember{m1, m2, {UID: 3, JoinedMs: 5}} {
		if ok, err := a.PutChannelMember(ctx, old, app, ch, m); err != nil || !ok {
			t.Fatalf("put %d under the holding lease: %v %v", m.UID, ok, err)
		}
	}
	if ok, err := a.DeleteChannelMember(ctx, old, app, ch, 3); err != nil || !ok {
		t.Fatalf("delete: %v %v", ok, err)
	}
	if got, err := b.ChannelsWithMembers(ctx); err != nil || len(got) != 1 || got[0] != [2]string{app, ch} {
		t.Fatalf("channels with members: %v %v, want [%s %s]", got, err, app, ch)
	}
	// A node whose lease is not the one in Redis writes nothing.
	stale := Fence{Key: leaseKey, Value: "n9 0"}
	if ok, err := b.PutChannelMember(ctx, stale, app, ch, ChannelMember{UID: 7}); err != nil || ok {
		t.Fatalf("put under a lease that does not hold: %v %v, want false", ok, err)
	}
	if ok, err := b.DropChannelMembers(ctx, stale, app, ch); err != nil || ok {
		t.Fatalf("drop under a lease that does not hold: %v %v, want false", ok, err)
	}
	// The owner's own lease, taken again: nothing to take.
	if got, err := a.TakeChannelMembers(ctx, old, app, ch); err != nil || got.Members != nil {
		t.Fatalf("take under the writer's own lease: %v %v, want none", got, err)
	}

	// The owner dies; its lease expires; two nodes race for the list under
	// the new grant: exactly one gets it.
	next := Fence{Key: leaseKey, Value: "n2 2"}
	if err := a.rdb.Set(ctx, leaseKey, next.Value, 0).Err(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lists []TakenMembers
	var wg sync.WaitGroup
	for _, r := range []*Redis{a, b, a, b} {
		wg.Go(func() {
			got, err := r.TakeChannelMembers(ctx, next, app, ch)
			if err != nil {
				t.Error(err)
			}
			if got.Members != nil {
				mu.Lock()
				lists = append(lists, got)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(lists) != 1 {
		t.Fatalf("%d takers got the list, want exactly 1", len(lists))
	}
	got := map[uint32]ChannelMember{}
	for _, m := range lists[0].Members {
		got[m.UID] = m
	}
	if len(got) != 2 || got[1] != m1 || got[2] != m2 || lists[0].Previous != old.Value || lists[0].HandedOver {
		t.Fatalf("taken %+v, want members 1 and 2 (%+v, %+v) from %q, not handed over", lists[0], m1, m2, old.Value)
	}
	// The old owner, back from a pause, can no longer change the list.
	if ok, _ := a.DeleteChannelMember(ctx, old, app, ch, 1); ok {
		t.Fatal("the old owner deleted a member after losing the lease")
	}
	// The list survives the taking (for a successor of the successor) and
	// goes with its last member.
	for _, uid := range []uint32{1, 2} {
		if ok, err := b.DeleteChannelMember(ctx, next, app, ch, uid); err != nil || !ok {
			t.Fatalf("delete %d: %v %v", uid, ok, err)
		}
	}
	if n, err := a.rdb.Exists(ctx, a.membersKey(app, ch)).Result(); err != nil || n != 0 {
		t.Fatalf("the member list outlived its last member: exists=%d %v", n, err)
	}
	if got, err := b.ChannelsWithMembers(ctx); err != nil || len(got) != 0 {
		t.Fatalf("channels with members after the last left: %v %v, want none", got, err)
	}
	// A drop under the holding lease removes the list.
	if _, err := b.PutChannelMember(ctx, next, app, ch, m2); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.DropChannelMembers(ctx, next, app, ch); err != nil || !ok {
		t.Fatalf("drop: %v %v", ok, err)
	}
	if got, err := b.ChannelsWithMembers(ctx); err != nil || len(got) != 0 {
		t.Fatalf("channels with members after a drop: %v %v, want none", got, err)
	}
	if got, err := b.TakeChannelMembers(ctx, Fence{Key: leaseKey, Value: "n2 2"}, app, ch); err != nil || got.Members != nil {
		t.Fatalf("take after a drop: %v %v, want none", got, err)
	}

	// A drain hands the list over: the next owner learns it.
	if _, err := b.PutChannelMember(ctx, next, app, ch, m1); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.HandOverChannelMembers(ctx, stale, app, ch); err != nil || ok {
		t.Fatalf("hand over under a lease that does not hold: %v %v, want false", ok, err)
	}
	if ok, err := b.HandOverChannelMembers(ctx, next, app, ch); err != nil || !ok {
		t.Fatalf("hand over: %v %v", ok, err)
	}
	third := Fence{Key: leaseKey, Value: "n3 3"}
	if err := a.rdb.Set(ctx, leaseKey, third.Value, 0).Err(); err != nil {
		t.Fatal(err)
	}
	tm, err := a.TakeChannelMembers(ctx, third, app, ch)
	if err != nil || !tm.HandedOver || len(tm.Members) != 1 || tm.Members[0] != m1 || tm.Previous != next.Value {
		t.Fatalf("take after a hand-over: %+v %v, want member 1, handed over by %q", tm, err, next.Value)
	}
	// The mark goes with the taking: if this owner dies, it died.
	fourth := Fence{Key: leaseKey, Value: "n1 4"}
	if err := a.rdb.Set(ctx, leaseKey, fourth.Value, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if tm, err := a.TakeChannelMembers(ctx, fourth, app, ch); err != nil || tm.HandedOver || len(tm.Members) != 1 {
		t.Fatalf("take after the hand-over's taker died: %+v %v, want member 1, not handed over", tm, err)
	}
	if ok, err := a.HandOverChannelMembers(ctx, fourth, app, "empty"); err != nil || ok {
		t.Fatalf("hand over of a channel without a list: %v %v, want false", ok, err)
	}
}

func TestParseMembersIndexMember(t *testing.T) {
	for _, c := range []struct {
		in, app, ch string
		ok          bool
	}{
		{"abc:4:room", "abc", "room", true},
		{"abc:6:a:b:cd", "abc", "a:b:cd", true},
		{"abc:0:", "abc", "", true},
		{"abc:5:room", "", "", false},
		{"abc:x:room", "", "", false},
		{":4:room", "", "", false},
		{"abc", "", "", false},
		{"abc:4", "", "", false},
	} {
		app, ch, ok := parseMembersIndexMember(c.in)
		if ok != c.ok || app != c.app || ch != c.ch {
			t.Errorf("%q: %q %q %v, want %q %q %v", c.in, app, ch, ok, c.app, c.ch, c.ok)
		}
		if ok && membersIndexMember(app, ch) != c.in {
			t.Errorf("%q does not round-trip", c.in)
		}
	}
}
