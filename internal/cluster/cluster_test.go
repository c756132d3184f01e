package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// nodes opens n cluster handles on one real Redis, as n nodes would.
func nodes(t *testing.T, n int, cfg Config) ([]*Cluster, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	out := make([]*Cluster, n)
	for i := range out {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = rdb.Close() })
		c, err := New(rdb, cfg)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = c
	}
	return out, srv
}

func TestLeaseIsExclusive(t *testing.T) {
	cs, _ := nodes(t, 3, Config{NodeTTL: time.Second, LeaseTTL: 5 * time.Second})
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := map[string]int{}
	owners := map[string]bool{}
	for i, c := range cs {
		for j := 0; j < 20; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, ok, err := c.Acquire(ctx, "app", "room", fmt.Sprintf("n%d", i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				owners[l.Value()] = true
				if ok {
					granted[l.Owner]++
				}
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	total := 0
	for _, n := range granted {
		total += n
	}
	if total != 1 || len(owners) != 1 {
		t.Fatalf("60 concurrent acquires: %d grants, %d distinct leases seen (%v); want exactly one", total, len(owners), owners)
	}
}

func TestLeaseFencing(t *testing.T) {
	cs, _ := nodes(t, 2, Config{NodeTTL: time.Second, LeaseTTL: 300 * time.Millisecond})
	ctx := context.Background()
	old, ok, err := cs[0].Acquire(ctx, "app", "room", "n0")
	if err != nil || !ok {
		t.Fatalf("first acquire: %v %v", ok, err)
	}
	// The owner renews: the lease outlives several lease times.
	for i := 0; i < 4; i++ {
		time.Sleep(150 * time.Millisecond)
		if err := cs[0].Renew(ctx, old); err != nil {
			t.Fatalf("renew %d: %v", i, err)
		}
	}
	if _, ok, _ := cs[1].Acquire(ctx, "app", "room", "n1"); ok {
		t.Fatal("a renewed lease was granted to another node")
	}
	// The owner pauses past its lease; another node takes the channel.
	time.Sleep(450 * time.Millisecond)
	fresh, ok, err := cs[1].Acquire(ctx, "app", "room", "n1")
	if err != nil || !ok {
		t.Fatalf("acquire after expiry: %v %v", ok, err)
	}
	if fresh.Token <= old.Token {
		t.Fatalf("fencing token did not grow: old %d new %d", old.Token, fresh.Token)
	}
	// The paused owner wakes up: it may not renew, check or release the
	// new owner's lease.
	if err := cs[0].Renew(ctx, old); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale renew: %v, want ErrLeaseLost", err)
	}
	if err := cs[0].Check(ctx, old); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale check: %v, want ErrLeaseLost", err)
	}
	if err := cs[0].Release(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := cs[1].Check(ctx, fresh); err != nil {
		t.Fatalf("the stale release removed the new lease: %v", err)
	}
	// The owner's own release frees the channel at once.
	if err := cs[1].Release(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if l, err := cs[0].Owner(ctx, "app", "room"); err != nil || l != nil {
		t.Fatalf("owner after release: %+v %v", l, err)
	}
}

func TestLeaseKeysDoNotCollide(t *testing.T) {
	cs, _ := nodes(t, 1, Config{NodeTTL: time.Second, LeaseTTL: 5 * time.Second})
	ctx := context.Background()
	// "a:b" + "c" and "a" + "b:c" must be different channels.
	if _, ok, _ := cs[0].Acquire(ctx, "a:b", "c", "n0"); !ok {
		t.Fatal("first")
	}
	if _, ok, _ := cs[0].Acquire(ctx, "a", "b:c", "n0"); !ok {
		t.Fatal("a different (app, channel) shared a lease")
	}
}

func TestRegistryAndPlacement(t *testing.T) {
	cs, _ := nodes(t, 3, Config{NodeTTL: 400 * time.Millisecond, LeaseTTL: 5 * time.Second})
	ctx := context.Background()
	infos := []NodeInfo{
		{ID: "n0", Gateway: "http://127.0.0.1:1", Load: Load{CPU: 0.50}},
		{ID: "n1", Gateway: "http://127.0.0.1:2", Load: Load{CPU: 0.10}},
		{ID: "n2", Gateway: "http://127.0.0.1:3", Load: Load{CPU: 0.01}, Draining: true},
	}
	for i, n := range infos {
		if err := cs[i].Heartbeat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	list, err := cs[0].Nodes(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("nodes: %+v %v", list, err)
	}
	l, n, err := cs[0].Place(ctx, "app", "room")
	if err != nil || n.ID != "n1" || l.Owner != "n1" {
		t.Fatalf("placement: %+v %+v %v; want n1 (least loaded, not draining)", l, n, err)
	}
	// Asked again, from another node: the same owner.
	if _, n, err := cs[2].Place(ctx, "app", "room"); err != nil || n.ID != "n1" {
		t.Fatalf("second placement: %+v %v", n, err)
	}
	// n1 stops heartbeating (kill -9); n0 keeps going. After the node TTL
	// n1 is gone from the registry and new channels go to n0.
	deadline := time.Now().Add(2 * time.Second)
	for {
		_ = cs[0].Heartbeat(ctx, infos[0])
		_ = cs[2].Heartbeat(ctx, infos[2])
		list, err = cs[0].Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead node still listed: %+v", list)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, n, err := cs[0].Place(ctx, "app", "other"); err != nil || n.ID != "n0" {
		t.Fatalf("placement after n1 died: %+v %v", n, err)
	}
	// Every node drains: no placement, a clear error.
	infos[0].Draining = true
	_ = cs[0].Heartbeat(ctx, infos[0])
	if _, _, err := cs[0].Place(ctx, "app", "third"); !errors.Is(err, ErrNoNode) {
		t.Fatalf("placement with every node draining: %v", err)
	}
	if err := cs[0].Leave(ctx, "n0"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := cs[1].Node(ctx, "n0"); ok {
		t.Fatal("a node that left is still listed")
	}
}

func TestRedisOutage(t *testing.T) {
	cs, srv := nodes(t, 1, Config{NodeTTL: time.Second, LeaseTTL: 5 * time.Second})
	ctx := context.Background()
	srv.Stop()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, _, err := cs[0].Place(short, "app", "room"); err == nil || errors.Is(err, ErrNoNode) {
		t.Fatalf("placement during an outage: %v, want a connection error", err)
	}
	srv.Restart()
	if err := cs[0].Heartbeat(ctx, NodeInfo{ID: "n0"}); err != nil {
		t.Fatalf("heartbeat after Redis came back: %v", err)
	}
	if _, n, err := cs[0].Place(ctx, "app", "room"); err != nil || n.ID != "n0" {
		t.Fatalf("placement after Redis came back: %+v %v", n, err)
	}
}
