package store

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStoreWebhooks: both stores keep endpoints per app, and an outbox whose
// entries get increasing Seq, survive updates, list pending in order and
// recent newest first, and are pruned only when finished.
func TestStoreWebhooks(t *testing.T) {
	ctx := context.Background()
	for name, open := range openers(t) {
		t.Run(name, func(t *testing.T) {
			s := open()
			defer s.Close()
			appA, appB := strings.Repeat("a", 32), strings.Repeat("b", 32)
			e1, err := NewWebhookEndpoint(appA, "http://127.0.0.1:9/hook", "", time.Unix(10, 0))
			if err != nil || len(e1.Secret) != 64 {
				t.Fatalf("new: %+v %v", e1, err)
			}
			e2, _ := NewWebhookEndpoint(appA, "https://example.invalid/x", "0123456789abcdef", time.Unix(20, 0))
			e3, _ := NewWebhookEndpoint(appB, "https://example.invalid/y", "0123456789abcdef", time.Unix(5, 0))
			for _, e := range []WebhookEndpoint{e1, e2, e3} {
				if err := s.PutWebhookEndpoint(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			list, err := s.WebhookEndpoints(ctx, appA)
			if err != nil || len(list) != 2 || list[0].ID != e1.ID || list[1].ID != e2.ID {
				t.Fatalf("list A: %+v %v", list, err)
			}
			if all, _ := s.WebhookEndpoints(ctx, ""); len(all) != 3 {
				t.Fatalf("list all: %+v", all)
			}
			if err := s.DeleteWebhookEndpoint(ctx, appB, e1.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("delete through the wrong app: %v", err)
			}
			if err := s.DeleteWebhookEndpoint(ctx, appA, e2.ID); err != nil {
				t.Fatal(err)
			}
			if list, _ := s.WebhookEndpoints(ctx, appA); len(list) != 1 {
				t.Fatalf("after delete: %+v", list)
			}

			now := time.Unix(1000, 0).UTC()
			in := []OutboxEntry{
				{NoticeID: "n1", App: appA, Endpoint: e1.ID, Channel: "c", EventType: 101, Payload: []byte(`{"a":1}`), CreatedAt: now, Status: DeliveryPending},
				{NoticeID: "n2", App: appA, Endpoint: e1.ID, Channel: "c", EventType: 103, Payload: []byte(`{}`), CreatedAt: now, Status: DeliveryPending},
				{NoticeID: "n3", App: appB, Endpoint: e3.ID, Channel: "d", EventType: 101, Payload: []byte(`{}`), CreatedAt: now, Status: DeliveryPending},
			}
			got, err := s.AppendOutbox(ctx, in)
			if err != nil || len(got) != 3 || !(got[0].Seq < got[1].Seq && got[1].Seq < got[2].Seq) {
				t.Fatalf("append: %+v %v", got, err)
			}
			more, _ := s.AppendOutbox(ctx, in[:1])
			if more[0].Seq <= got[2].Seq {
				t.Fatalf("seq did not increase: %d after %d", more[0].Seq, got[2].Seq)
			}
			done := got[0]
			done.Status, done.Attempts, done.LastStatus = DeliveryDelivered, 2, 200
			if err := s.UpdateOutbox(ctx, done); err != nil {
				t.Fatal(err)
			}
			if err := s.UpdateOutbox(ctx, OutboxEntry{Seq: 999}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("update missing: %v", err)
			}
			pend, _ := s.PendingOutbox(ctx)
			if len(pend) != 3 || pend[0].NoticeID != "n2" || pend[1].NoticeID != "n3" || pend[2].NoticeID != "n1" {
				t.Fatalf("pending: %+v", pend)
			}
			recent, _ := s.RecentOutbox(ctx, appA, 2)
			if len(recent) != 2 || recent[0].Seq != more[0].Seq || recent[1].NoticeID != "n2" {
				t.Fatalf("recent: %+v", recent)
			}
			byN, _ := s.OutboxByNotice(ctx, appA, "n1")
			if len(byN) != 2 || byN[0].Status != DeliveryDelivered || byN[0].Attempts != 2 || string(byN[0].Payload) != `{"a":1}` {
				t.Fatalf("by notice: %+v", byN)
			}
			n, err := s.PruneOutbox(ctx, now.Add(time.Second))
			if err != nil || n != 1 {
				t.Fatalf("prune: %d %v", n, err)
			}
			if pend, _ := s.PendingOutbox(ctx); len(pend) != 3 {
				t.Fatalf("prune took pending entries: %+v", pend)
			}
		})
	}
}

// TestBoltOutboxSurvivesReopen: what AppendOutbox returned is there after
// the file is closed and opened again.
func TestBoltOutboxSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "minirtc.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AppendOutbox(ctx, []OutboxEntry{{NoticeID: "x", Status: DeliveryPending}}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pend, err := b.PendingOutbox(ctx)
	if err != nil || len(pend) != 1 || pend[0].NoticeID != "x" {
		t.Fatalf("after reopen: %+v %v", pend, err)
	}
}

func TestValidateWebhookEndpoint(t *testing.T) {
	app := strings.Repeat("a", 32)
	for _, c := range []struct{ url, secret string }{
		{"ftp://x/y", "0123456789abcdef"},
		{"/relative", "0123456789abcdef"},
		{"http://user:pw@host/", "0123456789abcdef"},
		{"http://host/", "short"},
		{"http://host/", "0123456789abcdef\n"},
	} {
		if _, err := NewWebhookEndpoint(app, c.url, c.secret, time.Now()); err == nil {
			t.Errorf("%q %q accepted", c.url, c.secret)
		}
	}
}

// TestStoreOutboxOwnership: an entry's owning node fences updates
// (ErrNotOwner for another node's), and AdoptOutbox moves a pending entry
// from its owner to another node only when the owner named is the stored
// one; of concurrent adopters of the same entries exactly one wins each.
func TestStoreOutboxOwnership(t *testing.T) {
	ctx := context.Background()
	for name, open := range openers(t) {
		t.Run(name, func(t *testing.T) {
			s := open()
			defer s.Close()
			app := strings.Repeat("a", 32)
			now := time.Unix(1000, 0).UTC()
			got, err := s.AppendOutbox(ctx, []OutboxEntry{
				{NoticeID: "n1", App: app, Node: "a", Payload: []byte(`{"x":1}`), CreatedAt: now, Status: DeliveryPending},
				{NoticeID: "n2", App: app, Payload: []byte(`{}`), CreatedAt: now, Status: DeliveryPending},
				{NoticeID: "n3", App: app, Node: "a", Payload: []byte(`{}`), CreatedAt: now, Status: DeliveryDelivered},
			})
			if err != nil || got[0].Node != "a" || got[1].Node != "" {
				t.Fatalf("append: %+v %v", got, err)
			}
			e1, e2, e3 := got[0], got[1], got[2]

			stale := e1
			stale.Node, stale.Attempts = "b", 9
			if err := s.UpdateOutbox(ctx, stale); !errors.Is(err, ErrNotOwner) {
				t.Fatalf("update by another node: %v, want ErrNotOwner", err)
			}
			e1.Attempts = 1
			if err := s.UpdateOutbox(ctx, e1); err != nil {
				t.Fatalf("update by the owner: %v", err)
			}

			for _, c := range []struct {
				name     string
				seq      uint64
				from, to string
			}{
				{"wrong owner named", e1.Seq, "x", "b"},
				{"finished entry", e3.Seq, "a", "b"},
				{"owned entry as unowned", e1.Seq, "", "b"},
			} {
				if e, ok, err := s.AdoptOutbox(ctx, c.seq, c.from, c.to); ok || err != nil {
					t.Errorf("%s: adopted %v (%+v, %v)", c.name, ok, e, err)
				}
			}
			if _, _, err := s.AdoptOutbox(ctx, 999, "a", "b"); !errors.Is(err, ErrNotFound) {
				t.Errorf("adopt missing: %v", err)
			}
			e, ok, err := s.AdoptOutbox(ctx, e1.Seq, "a", "b")
			if err != nil || !ok || e.Node != "b" || e.Attempts != 1 || string(e.Payload) != `{"x":1}` || e.Status != DeliveryPending {
				t.Fatalf("adopt: %v %+v %v", ok, e, err)
			}
			if _, ok, _ := s.AdoptOutbox(ctx, e1.Seq, "a", "c"); ok {
				t.Fatal("adopted twice from the same owner")
			}
			// The old owner, back from a pause, is fenced off.
			e1.Status = DeliveryDelivered
			if err := s.UpdateOutbox(ctx, e1); !errors.Is(err, ErrNotOwner) {
				t.Fatalf("update by the old owner: %v, want ErrNotOwner", err)
			}
			if _, ok, err := s.AdoptOutbox(ctx, e2.Seq, "", "c"); !ok || err != nil {
				t.Fatalf("adopt an unowned entry: %v %v", ok, err)
			}
			pend, _ := s.PendingOutbox(ctx)
			if len(pend) != 2 || pend[0].Node != "b" || pend[0].Attempts != 1 || pend[1].Node != "c" {
				t.Fatalf("pending after adoption: %+v", pend)
			}

			// Concurrent adopters: each entry goes to exactly one of them.
			const entries, adopters = 30, 4
			batch := make([]OutboxEntry, entries)
			for i := range batch {
				batch[i] = OutboxEntry{NoticeID: "d", App: app, Node: "dead", CreatedAt: now, Status: DeliveryPending}
			}
			dead, err := s.AppendOutbox(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			wins := adoptConcurrently(t, s, dead, "dead", adopters)
			pend, _ = s.PendingOutbox(ctx)
			owner := map[uint64]string{}
			for _, e := range pend {
				owner[e.Seq] = e.Node
			}
			for _, d := range dead {
				if len(wins[d.Seq]) != 1 || owner[d.Seq] != wins[d.Seq][0] {
					t.Errorf("entry %d: winners %v, stored owner %q", d.Seq, wins[d.Seq], owner[d.Seq])
				}
			}
		})
	}
}

// adoptConcurrently has n adopters ("n0", "n1", ...) take every entry of
// from at once and returns the winners of each seq.
func adoptConcurrently(t *testing.T, s WebhookStore, es []OutboxEntry, from string, n int) map[uint64][]string {
	t.Helper()
	var mu sync.Mutex
	wins := map[uint64][]string{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		node := "n" + strconv.Itoa(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for _, e := range es {
				got, ok, err := s.AdoptOutbox(context.Background(), e.Seq, from, node)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					if got.Node != node || got.Seq != e.Seq {
						t.Errorf("%s adopted %+v", node, got)
					}
					mu.Lock()
					wins[e.Seq] = append(wins[e.Seq], node)
					mu.Unlock()
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	return wins
}

// TestStoreOutboxQueries: RecentOutbox lists one app's entries newest
// first, at most limit (all with 0), never another app's, even of app and
// notice ids made to look like each other's prefixes; OutboxByNotice lists
// exactly one app's notice, following updates; PruneOutbox deletes the
// finished entries created before its time (to the nanosecond), in any
// number, and keeps pending entries however old, entries created at or
// after its time, and an entry queued again.
func TestStoreOutboxQueries(t *testing.T) {
	ctx := context.Background()
	for name, open := range openers(t) {
		t.Run(name, func(t *testing.T) {
			s := open()
			defer s.Close()
			t0 := time.Unix(1_800_000_000, 500_000_000).UTC()
			apps := []string{"a", "ab", "1:a", "2:ab", "", "a\x00"}
			notices := []string{"n", "n1", "1:n", "2:n1"}
			var in []OutboxEntry
			for round := range 3 {
				for _, a := range apps {
					for _, n := range notices {
						in = append(in, OutboxEntry{App: a, NoticeID: n, Endpoint: strconv.Itoa(round), Payload: []byte(`{}`),
							Status: DeliveryDelivered, CreatedAt: t0.Add(time.Duration(round) * time.Minute)})
					}
				}
			}
			got, err := s.AppendOutbox(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range apps {
				all, err := s.RecentOutbox(ctx, a, 0)
				if err != nil || len(all) != 3*len(notices) {
					t.Fatalf("app %q: %d entries %v, want %d", a, len(all), err, 3*len(notices))
				}
				for i, e := range all {
					if e.App != a || (i > 0 && e.Seq >= all[i-1].Seq) {
						t.Fatalf("app %q, entry %d: %+v (previous seq %d)", a, i, e, all[max(i-1, 0)].Seq)
					}
				}
				top, _ := s.RecentOutbox(ctx, a, 5)
				if len(top) != 5 || top[0].Seq != all[0].Seq || top[4].Seq != all[4].Seq {
					t.Fatalf("app %q limit 5: %+v", a, top)
				}
				for _, n := range notices {
					es, err := s.OutboxByNotice(ctx, a, n)
					if err != nil || len(es) != 3 {
						t.Fatalf("app %q notice %q: %+v %v", a, n, es, err)
					}
					for i, e := range es {
						if e.App != a || e.NoticeID != n || e.Endpoint != strconv.Itoa(i) {
							t.Fatalf("app %q notice %q, entry %d: %+v", a, n, i, e)
						}
					}
				}
			}
			if es, _ := s.RecentOutbox(ctx, "zz", 10); len(es) != 0 {
				t.Fatalf("unknown app: %+v", es)
			}
			if es, _ := s.OutboxByNotice(ctx, "a", "n9"); len(es) != 0 {
				t.Fatalf("unknown notice: %+v", es)
			}

			// An update that moves an entry to another notice moves it in
			// the lookups.
			moved := got[0]
			moved.NoticeID = "moved"
			if err := s.UpdateOutbox(ctx, moved); err != nil {
				t.Fatal(err)
			}
			if es, _ := s.OutboxByNotice(ctx, moved.App, "moved"); len(es) != 1 || es[0].Seq != moved.Seq {
				t.Fatalf("moved entry under its new notice: %+v", es)
			}
			if es, _ := s.OutboxByNotice(ctx, moved.App, got[0].NoticeID); len(es) != 2 {
				t.Fatalf("moved entry still under its old notice: %+v", es)
			}

			// Prune: round 0's entries are finished and created at t0 (the
			// first of them queued again, pending); old pending entries and
			// 1,200 old delivered ones are added.
			requeued := got[1]
			requeued.Status = DeliveryPending
			if err := s.UpdateOutbox(ctx, requeued); err != nil {
				t.Fatal(err)
			}
			old := make([]OutboxEntry, 1200)
			for i := range old {
				st := DeliveryDelivered
				if i%100 == 0 {
					st = DeliveryPending
				} else if i%2 == 0 {
					st = DeliveryFailed
				}
				old[i] = OutboxEntry{App: "old", NoticeID: "o", Status: st, CreatedAt: time.Unix(1000, 0)}
			}
			if _, err := s.AppendOutbox(ctx, old); err != nil {
				t.Fatal(err)
			}
			perRound := len(apps) * len(notices)
			for _, c := range []struct {
				before time.Time
				want   int
			}{
				{t0, 1200 - 12},                         // created at before: kept
				{t0.Add(time.Nanosecond), perRound - 1}, // created before by 1 ns: pruned, but the requeued entry
				{t0.Add(time.Nanosecond), 0},
				{t0.Add(90 * time.Second), perRound},
			} {
				n, err := s.PruneOutbox(ctx, c.before)
				if err != nil || n != c.want {
					t.Fatalf("prune before %v: %d %v, want %d", c.before, n, err, c.want)
				}
			}
			pend, _ := s.PendingOutbox(ctx)
			if len(pend) != 13 {
				t.Fatalf("pending after prune: %d, want the 12 old and the requeued one", len(pend))
			}
			for _, a := range apps {
				es, _ := s.RecentOutbox(ctx, a, 0)
				want := len(notices)
				if a == requeued.App {
					want++
				}
				if len(es) != want {
					t.Fatalf("app %q after prune: %d entries, want %d", a, len(es), want)
				}
			}
			if es, _ := s.RecentOutbox(ctx, "old", 0); len(es) != 12 {
				t.Fatalf("old app after prune: %d entries, want its 12 pending", len(es))
			}
			if es, _ := s.OutboxByNotice(ctx, requeued.App, requeued.NoticeID); len(es) != 2 || es[0].Seq != requeued.Seq {
				t.Fatalf("requeued entry's notice after prune: %+v", es)
			}
		})
	}
}
