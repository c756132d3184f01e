package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// twoNodes opens two stores on one real Redis, as two cluster nodes would.
func twoNodes(t *testing.T) (a, b *Redis, srv *redistest.Server) {
	t.Helper()
	srv = redistest.Start(t)
	open := func() *Redis {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = rdb.Close() })
		r, err := OpenRedis(context.Background(), rdb, "cluster")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	return open(), open(), srv
}

func TestRedisNodesShareState(t *testing.T) {
	ctx := context.Background()
	a, b, _ := twoNodes(t)

	app, err := NewApp("shared", time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PutApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	got, err := b.App(ctx, app.ID)
	if err != nil || got.Certificate != app.Certificate {
		t.Fatalf("node b does not see node a's app: %+v %v", got, err)
	}
	sa, err := a.Secret(ctx, "node")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Secret(ctx, "node")
	if err != nil || string(sa) != string(sb) {
		t.Fatalf("nodes got different secrets (%v)", err)
	}

	// Rule ids and outbox seqs taken concurrently by both nodes never collide.
	const perNode = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[uint64]bool{}
	seqs := map[uint64]bool{}
	for _, s := range []*Redis{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perNode; i++ {
				id, err := s.PutKickingRule(ctx, KickingRule{App: app.ID, Channel: "c", Privileges: []string{"join_channel"}, Until: time.Now().Add(time.Minute), CreatedAt: time.Now()})
				if err != nil {
					t.Error(err)
					return
				}
				es, err := s.AppendOutbox(ctx, []OutboxEntry{{App: app.ID, NoticeID: "n", Status: DeliveryPending}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[id] = true
				seqs[es[0].Seq] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(ids) != 2*perNode || len(seqs) != 2*perNode {
		t.Fatalf("ids %d, seqs %d unique of %d", len(ids), len(seqs), 2*perNode)
	}
	pending, err := b.PendingOutbox(ctx)
	if err != nil || len(pending) != 2*perNode {
		t.Fatalf("pending outbox: %d %v", len(pending), err)
	}
	for i := 1; i < len(pending); i++ {
		if pending[i-1].Seq >= pending[i].Seq {
			t.Fatalf("pending not in seq order at %d", i)
		}
	}
}

func TestRedisOutageIsAnErrorThenRecovers(t *testing.T) {
	ctx := context.Background()
	a, _, srv := twoNodes(t)
	app, _ := NewApp("x", time.Unix(1, 0))
	if err := a.PutApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := a.App(short, app.ID)
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("read during an outage: %v, want a connection error (not ErrNotFound)", err)
	}
	srv.Restart() // an empty Redis: the app is gone, the store works again
	if _, err := a.App(ctx, app.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after restart: %v, want ErrNotFound", err)
	}
	if err := a.PutApp(ctx, app); err != nil {
		t.Fatalf("write after restart: %v", err)
	}
}
