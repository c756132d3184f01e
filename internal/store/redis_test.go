package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
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

// TestRedisAdoptWhileOwnerWrites: two nodes adopt a dead-looking node's
// pending entries over their own connections while that node (only paused,
// in truth) keeps updating them: each entry ends with exactly one adopter,
// no update of the old owner lands after the adoption, and the adopted
// entry keeps the owner's last update.
func TestRedisAdoptWhileOwnerWrites(t *testing.T) {
	ctx := context.Background()
	a, b, srv := twoNodes(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	c, err := OpenRedis(ctx, rdb, "cluster")
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]OutboxEntry, 40)
	for i := range batch {
		batch[i] = OutboxEntry{NoticeID: "n", Node: "a", Status: DeliveryPending, CreatedAt: time.Unix(1, 0)}
	}
	es, err := a.AppendOutbox(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	// The old owner bumps every entry's attempts until it is fenced off.
	lastByA := make([]int, len(es))
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for round := 1; ; round++ {
			stopped := false // the adopters are done: this round must be fenced off entirely
			select {
			case <-stop:
				stopped = true
			default:
			}
			fenced := 0
			for i, e := range es {
				e.Attempts = round
				switch err := a.UpdateOutbox(ctx, e); {
				case errors.Is(err, ErrNotOwner):
					fenced++
				case err != nil:
					t.Error(err)
					return
				default:
					lastByA[i] = round
				}
			}
			if fenced == len(es) {
				return
			}
			if stopped {
				t.Errorf("the old owner was not fenced off from %d entries", len(es)-fenced)
				return
			}
		}
	}()
	var mu sync.Mutex
	wins := map[uint64][]string{}
	var wg sync.WaitGroup
	for _, n := range []struct {
		s  *Redis
		id string
	}{{b, "b"}, {c, "c"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, e := range es {
				got, ok, err := n.s.AdoptOutbox(ctx, e.Seq, "a", n.id)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					wins[e.Seq] = append(wins[e.Seq], n.id+":"+strconv.Itoa(got.Attempts))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-done
	pend, err := b.PendingOutbox(ctx)
	if err != nil || len(pend) != len(es) {
		t.Fatalf("pending %d %v", len(pend), err)
	}
	for i, e := range pend {
		w := wins[e.Seq]
		if len(w) != 1 || w[0] != e.Node+":"+strconv.Itoa(e.Attempts) {
			t.Errorf("entry %d: winners %v, stored %s with attempts %d", e.Seq, w, e.Node, e.Attempts)
		}
		if e.Attempts != lastByA[i] {
			t.Errorf("entry %d: stored attempts %d, the old owner's last successful update was %d", e.Seq, e.Attempts, lastByA[i])
		}
	}
}

// BenchmarkRedisSweepRead is what a cluster node's webhook sweep reads every
// period: the pending outbox, here 10,000 entries of a dead node.
func BenchmarkRedisSweepRead(b *testing.B) {
	ctx := context.Background()
	r := openTestRedis(b)
	batch := make([]OutboxEntry, 1000)
	for i := range batch {
		batch[i] = OutboxEntry{NoticeID: "0123456789abcdef0123456789abcdef", App: strings.Repeat("a", 32), Endpoint: strings.Repeat("e", 32),
			Channel: "room", EventType: 103, Node: "dead", Payload: []byte(`{"channelName":"room","uid":11,"platform":1,"clientSeq":1796599458000000,"ts":1796599458}`),
			Status: DeliveryPending, CreatedAt: time.Now(), RetryUntil: time.Now().Add(time.Hour), NextAttempt: time.Now()}
	}
	for range 10 {
		if _, err := r.AppendOutbox(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if p, err := r.PendingOutbox(ctx); err != nil || len(p) != 10000 {
			b.Fatal(len(p), err)
		}
	}
}

// BenchmarkRedisAdoptOutbox is one adoption (read, compare-and-set).
func BenchmarkRedisAdoptOutbox(b *testing.B) {
	ctx := context.Background()
	r := openTestRedis(b)
	es, err := r.AppendOutbox(ctx, []OutboxEntry{{NoticeID: "n", Node: "n0", Status: DeliveryPending, Payload: []byte(`{}`)}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, ok, err := r.AdoptOutbox(ctx, es[0].Seq, "n"+strconv.Itoa(i), "n"+strconv.Itoa(i+1)); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func TestRedisPersistentRestartKeepsData(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartPersistent(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer rdb.Close()
	st, err := OpenRedis(ctx, rdb, "p")
	if err != nil {
		t.Fatal(err)
	}
	app, _ := NewApp("kept", time.Unix(1, 0))
	if err := st.PutApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	srv.Stop() // killed: only what was fsynced survives
	srv.Restart()
	if got, err := st.App(ctx, app.ID); err != nil || got.Name != "kept" {
		t.Fatalf("after a restart with persistence: %+v %v", got, err)
	}
}
