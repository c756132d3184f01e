package store

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// countingConn counts the bytes a Redis client receives.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// openCountingRedis opens a store on srv whose client counts the bytes it
// receives in *n.
func openCountingRedis(t testing.TB, srv *redistest.Server, n *atomic.Int64) *Redis {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, n: n}, nil
	}})
	t.Cleanup(func() { _ = rdb.Close() })
	r, err := OpenRedis(context.Background(), rdb, "test")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// outboxFill appends n entries of app (notice ids "bulk-<i>"), status st,
// created at created, in batches of 1,000.
func outboxFill(t testing.TB, r *Redis, app, st string, created time.Time, n int) {
	t.Helper()
	batch := make([]OutboxEntry, 0, 1000)
	for i := range n {
		batch = append(batch, OutboxEntry{NoticeID: "bulk-" + strings.Repeat("x", i%7), App: app, Endpoint: strings.Repeat("e", 32),
			Channel: "room", EventType: 103, Node: "n1", Payload: []byte(`{"channelName":"room","uid":11,"platform":1,"clientSeq":1796599458000000,"ts":1796599458}`),
			Status: st, CreatedAt: created, RetryUntil: created.Add(time.Hour), NextAttempt: created})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := r.AppendOutbox(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// cmdCalls is the number of calls of cmd (lower case) Redis has served, from
// INFO commandstats.
func cmdCalls(t testing.TB, rdb *redis.Client, cmd string) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			n := 0
			for _, c := range rest {
				if c < '0' || c > '9' {
					break
				}
				n = n*10 + int(c-'0')
			}
			return n
		}
	}
	return 0
}

// TestRedisOutboxReadsFollowTheAnswer: with 5,000 pending entries of
// another app and 5,000 old delivered entries of the app itself, listing
// the app's 10 newest entries, looking up one notice and pruning read only
// what they return (a few kilobytes), never the whole outbox (about 2.5 MB
// here): the client receives a bounded number of bytes and Redis serves no
// HGETALL.
func TestRedisOutboxReadsFollowTheAnswer(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	var got atomic.Int64
	r := openCountingRedis(t, srv, &got)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = admin.Close() })

	app, other := strings.Repeat("a", 32), strings.Repeat("b", 32)
	old := time.Unix(1000, 0).UTC()
	outboxFill(t, r, other, DeliveryPending, old, 5000)
	outboxFill(t, r, app, DeliveryDelivered, old.Add(time.Hour), 5000)
	fresh := make([]OutboxEntry, 20)
	for i := range fresh {
		fresh[i] = OutboxEntry{NoticeID: "n" + string(rune('a'+i%10)), App: app, Endpoint: "e", Payload: []byte(`{}`),
			Status: DeliveryPending, CreatedAt: old.Add(2 * time.Hour)}
	}
	fresh, err := r.AppendOutbox(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	hgetall := cmdCalls(t, admin, "hgetall")
	if n := admin.ZCount(ctx, "{test}:outbox:prune", "+inf", "+inf").Val(); n != 5020 {
		t.Fatalf("%d entries of the prune index scored +inf, want the 5,020 pending", n)
	}

	const bound = 16 << 10 // what 10 small entries and the replies around them take, with room
	for _, c := range []struct {
		name  string
		call  func() (int, error)
		count int
	}{
		{"recent 10", func() (int, error) { es, err := r.RecentOutbox(ctx, app, 10); return len(es), err }, 10},
		{"by notice", func() (int, error) { es, err := r.OutboxByNotice(ctx, app, "nc"); return len(es), err }, 2},
		{"prune nothing", func() (int, error) { return r.PruneOutbox(ctx, old.Add(time.Minute)) }, 0},
	} {
		got.Store(0)
		n, err := c.call()
		if err != nil || n != c.count {
			t.Fatalf("%s: %d %v, want %d", c.name, n, err, c.count)
		}
		if b := got.Load(); b > bound {
			t.Errorf("%s: the client received %d bytes, want at most %d (the outbox holds 10,020 entries)", c.name, b, bound)
		}
	}
	recent, _ := r.RecentOutbox(ctx, app, 10)
	for i, e := range recent {
		if want := fresh[len(fresh)-1-i].Seq; e.Seq != want {
			t.Fatalf("recent[%d] is seq %d, want %d", i, e.Seq, want)
		}
	}
	// Pruning the 5,000 old delivered entries reads none of them either.
	got.Store(0)
	if n, err := r.PruneOutbox(ctx, old.Add(90*time.Minute)); err != nil || n != 5000 {
		t.Fatalf("prune: %d %v, want 5000", n, err)
	}
	if b := got.Load(); b > bound {
		t.Errorf("prune of 5,000: the client received %d bytes, want at most %d", b, bound)
	}
	if n := cmdCalls(t, admin, "hgetall") - hgetall; n != 0 {
		t.Errorf("Redis served %d HGETALL for listings and prunes, want 0", n)
	}
	if rest, _ := r.RecentOutbox(ctx, app, 0); len(rest) != 20 {
		t.Errorf("after prune: %d entries of the app, want the 20 pending", len(rest))
	}
	if pend, _ := r.PendingOutbox(ctx); len(pend) != 5020 {
		t.Errorf("after prune: %d pending, want 5020", len(pend))
	}
}

// BenchmarkRedisRecentOutbox is one listing of an app's 10 newest
// deliveries with 10,000 entries in the outbox (9,000 of another app).
func BenchmarkRedisRecentOutbox(b *testing.B) {
	ctx := context.Background()
	r := openTestRedis(b)
	app := strings.Repeat("a", 32)
	outboxFill(b, r, strings.Repeat("b", 32), DeliveryDelivered, time.Now(), 9000)
	outboxFill(b, r, app, DeliveryDelivered, time.Now(), 1000)
	b.ResetTimer()
	for range b.N {
		if es, err := r.RecentOutbox(ctx, app, 10); err != nil || len(es) != 10 {
			b.Fatal(len(es), err)
		}
	}
}

// TestRedisOutboxIndexesAnOldOutbox: an outbox written by the version
// without indexes (entries, counter and pending set only, written here by
// hand) is indexed when nodes open it, two at once: every listing, lookup
// and prune then answers as before, and each entry has exactly one member
// in each index. Entries a node of the old version writes or prunes
// afterwards (a rolling upgrade) are taken in by the next prune, and an
// entry it queued again is not pruned.
func TestRedisOutboxIndexesAnOldOutbox(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	const p = "{test}:"
	app, other := strings.Repeat("a", 32), strings.Repeat("b", 32)
	t0 := time.Unix(1_800_000_000, 0).UTC()
	// oldWrite stores e as the old version did.
	oldWrite := func(e OutboxEntry) {
		t.Helper()
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		field := strconv.FormatUint(e.Seq, 10)
		if err := raw.HSet(ctx, p+"outbox", field, b).Err(); err != nil {
			t.Fatal(err)
		}
		if e.Status == DeliveryPending {
			raw.ZAdd(ctx, p+"outbox:pending", redis.Z{Score: float64(e.Seq), Member: field})
		} else {
			raw.ZRem(ctx, p+"outbox:pending", field)
		}
	}
	var seq uint64
	for i := range 300 {
		seq++
		e := OutboxEntry{Seq: seq, App: app, NoticeID: "n" + strconv.Itoa(i/3), Endpoint: strconv.Itoa(i % 3), Payload: []byte(`{}`),
			Status: DeliveryDelivered, CreatedAt: t0.Add(time.Duration(i) * time.Second)}
		if i%10 == 0 {
			e.Status = DeliveryPending
		}
		if i%2 == 1 {
			e.App = other
		}
		oldWrite(e)
	}
	raw.Set(ctx, p+"outbox:seq", seq, 0)

	stores := make([]*Redis, 2)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { _ = rdb.Close() })
			r, err := OpenRedis(ctx, rdb, "test")
			if err != nil {
				t.Error(err)
			}
			stores[i] = r
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	r := stores[0]
	consistent := func(when string) {
		t.Helper()
		n := raw.HLen(ctx, p+"outbox").Val()
		for _, k := range []string{"outbox:app", "outbox:notice", "outbox:prune"} {
			if c := raw.ZCard(ctx, p+k).Val(); c != n {
				t.Fatalf("%s: %s has %d members for %d entries", when, k, c, n)
			}
		}
	}
	consistent("after open")

	recent, err := stores[1].RecentOutbox(ctx, app, 4)
	if err != nil || len(recent) != 4 || recent[0].Seq != 299 || recent[3].Seq != 293 {
		t.Fatalf("recent after indexing: %+v %v", recent, err)
	}
	byN, err := r.OutboxByNotice(ctx, other, "n7")
	if err != nil || len(byN) != 2 || byN[0].Seq != 22 || byN[1].Seq != 24 {
		t.Fatalf("by notice after indexing: %+v %v", byN, err)
	}
	// 100 entries created before t0+100s: 10 pending, 90 pruned.
	if n, err := r.PruneOutbox(ctx, t0.Add(100*time.Second)); err != nil || n != 90 {
		t.Fatalf("prune after indexing: %d %v, want 90", n, err)
	}
	consistent("after prune")

	// An old-version node appends an entry, prunes one and queues one
	// again: the entries' count is the same, the pending ones' is not.
	oldWrite(OutboxEntry{Seq: uint64(raw.Incr(ctx, p+"outbox:seq").Val()), App: app, NoticeID: "late", Payload: []byte(`{}`), Status: DeliveryDelivered, CreatedAt: t0})
	raw.HDel(ctx, p+"outbox", "298")
	requeued := OutboxEntry{Seq: 297, App: app, NoticeID: "n98", Endpoint: "2", Payload: []byte(`{}`),
		Status: DeliveryPending, CreatedAt: t0.Add(296 * time.Second)}
	oldWrite(requeued)
	if n, err := r.PruneOutbox(ctx, t0.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("prune after the old node: %d %v, want 1 (its new, old entry)", n, err)
	}
	consistent("after the old node's writes")
	if n, err := r.PruneOutbox(ctx, t0.Add(time.Hour)); err != nil || n != 178 {
		t.Fatalf("prune of all finished: %d %v, want 178", n, err)
	}
	pend, _ := r.PendingOutbox(ctx)
	if len(pend) != 31 {
		t.Fatalf("pending after prune: %d, want 31 (30 and the requeued one)", len(pend))
	}
	if s := raw.ZScore(ctx, p+"outbox:prune", "32:"+app+"3:n98"+idxSeq(297)).Val(); !math.IsInf(s, 1) {
		t.Errorf("the requeued entry's prune score is %v, want +inf", s)
	}
	if es, _ := r.RecentOutbox(ctx, app, 0); len(es) != 31 {
		t.Errorf("app after prune: %d, want its 31 pending", len(es))
	}
	if es, _ := r.RecentOutbox(ctx, other, 0); len(es) != 0 {
		t.Errorf("other app after prune: %d, want none", len(es))
	}
	consistent("at the end")
}

// TestRedisPruneKeepsWhatAnOldNodeQueuedAgain: an old-version node queues a
// finished entry again and finishes a pending one, so the counts the index
// check compares do not change and the prune index still calls the first
// finished: prune keeps it all the same (it is in the pending set, which
// every version keeps), and from then on its prune score is +inf.
func TestRedisPruneKeepsWhatAnOldNodeQueuedAgain(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	r, err := OpenRedis(ctx, raw, "test")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0).UTC()
	es, err := r.AppendOutbox(ctx, []OutboxEntry{
		{App: "a", NoticeID: "done", Status: DeliveryDelivered, CreatedAt: t0},
		{App: "a", NoticeID: "pend", Status: DeliveryPending, CreatedAt: t0},
	})
	if err != nil {
		t.Fatal(err)
	}
	again, finished := es[0], es[1]
	again.Status, finished.Status = DeliveryPending, DeliveryDelivered
	for _, e := range []OutboxEntry{again, finished} { // as the old UpdateOutbox did
		b, _ := json.Marshal(e)
		raw.HSet(ctx, "{test}:outbox", strconv.FormatUint(e.Seq, 10), b)
	}
	raw.ZAdd(ctx, "{test}:outbox:pending", redis.Z{Score: float64(again.Seq), Member: strconv.FormatUint(again.Seq, 10)})
	raw.ZRem(ctx, "{test}:outbox:pending", strconv.FormatUint(finished.Seq, 10))

	if n, err := r.PruneOutbox(ctx, t0.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("prune: %d %v, want 0", n, err)
	}
	pend, _ := r.PendingOutbox(ctx)
	if len(pend) != 1 || pend[0].Seq != again.Seq {
		t.Fatalf("pending after prune: %+v, want the entry queued again", pend)
	}
	if s := raw.ZScore(ctx, "{test}:outbox:prune", "1:a4:done"+idxSeq(again.Seq)).Val(); !math.IsInf(s, 1) {
		t.Errorf("its prune score is %v, want +inf", s)
	}
}
