package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
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
