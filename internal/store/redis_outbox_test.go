package store

import (
	"context"
	"net"
	"strings"
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
