package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
)

// memWebhooks is the in-memory WebhookStore of Memory.
type memWebhooks struct {
	mu        sync.Mutex
	endpoints map[string]WebhookEndpoint // by id
	outbox    []OutboxEntry              // in Seq order
	seq       uint64
}

func (m *Memory) wh() *memWebhooks {
	m.whOnce.Do(func() { m.webhooks = &memWebhooks{endpoints: map[string]WebhookEndpoint{}} })
	return m.webhooks
}

// WebhookEndpoints implements WebhookStore.
func (m *Memory) WebhookEndpoints(_ context.Context, app string) ([]WebhookEndpoint, error) {
	w := m.wh()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := []WebhookEndpoint{}
	for _, e := range w.endpoints {
		if app == "" || e.App == app {
			out = append(out, e)
		}
	}
	sortEndpoints(out)
	return out, nil
}

// PutWebhookEndpoint implements WebhookStore.
func (m *Memory) PutWebhookEndpoint(_ context.Context, e WebhookEndpoint) error {
	if err := ValidateWebhookEndpoint(e); err != nil {
		return err
	}
	w := m.wh()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.endpoints[e.ID] = e
	return nil
}

// DeleteWebhookEndpoint implements WebhookStore.
func (m *Memory) DeleteWebhookEndpoint(_ context.Context, app, id string) error {
	w := m.wh()
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.endpoints[id]; !ok || e.App != app {
		return fmt.Errorf("webhook %s: %w", id, ErrNotFound)
	}
	delete(w.endpoints, id)
	return nil
}

// AppendOutbox implements WebhookStore.
func (m *Memory) AppendOutbox(_ context.Context, entries []OutboxEntry) ([]OutboxEntry, error) {
	w := m.wh()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]OutboxEntry, len(entries))
	for i, e := range entries {
		w.seq++
		e.Seq = w.seq
		e.Payload = slices.Clone(e.Payload)
		out[i] = e
	}
	w.outbox = append(w.outbox, out...)
	return slices.Clone(out), nil
}

// UpdateOutbox implements WebhookStore.
func (m *Memory) UpdateOutbox(_ context.Context, e OutboxEntry) error {
	w := m.wh()
	w.mu.Lock()
	defer w.mu.Unlock()
	i, ok := slices.BinarySearchFunc(w.outbox, e.Seq, func(o OutboxEntry, s uint64) int { return cmpSeq(o.Seq, s) })
	if !ok {
		return fmt.Errorf("outbox entry %d: %w", e.Seq, ErrNotFound)
	}
	if w.outbox[i].Node != e.Node {
		return fmt.Errorf("outbox entry %d (node %q): %w", e.Seq, w.outbox[i].Node, ErrNotOwner)
	}
	e.Payload = slices.Clone(e.Payload)
	w.outbox[i] = e
	return nil
}

// AdoptOutbox implements WebhookStore.
func (m *Memory) AdoptOutbox(_ context.Context, seq uint64, from, to string) (OutboxEntry, bool, error) {
	w := m.wh()
	w.mu.Lock()
	defer w.mu.Unlock()
	i, ok := slices.BinarySearchFunc(w.outbox, seq, func(o OutboxEntry, s uint64) int { return cmpSeq(o.Seq, s) })
	if !ok {
		return OutboxEntry{}, false, fmt.Errorf("outbox entry %d: %w", seq, ErrNotFound)
	}
	e := &w.outbox[i]
	if !adoptable(*e, from) {
		return OutboxEntry{}, false, nil
	}
	e.Node = to
	out := *e
	out.Payload = slices.Clone(e.Payload)
	return out, true, nil
}

// PendingOutbox implements WebhookStore.
func (m *Memory) PendingOutbox(_ context.Context) ([]OutboxEntry, error) {
	return m.filterOutbox(func(e OutboxEntry) bool { return e.Status == DeliveryPending }, false, 0), nil
}

// RecentOutbox implements WebhookStore.
func (m *Memory) RecentOutbox(_ context.Context, app string, limit int) ([]OutboxEntry, error) {
	return m.filterOutbox(func(e OutboxEntry) bool { return e.App == app }, true, limit), nil
}

// OutboxByNotice implements WebhookStore.
func (m *Memory) OutboxByNotice(_ context.Context, app, noticeID string) ([]OutboxEntry, error) {
	return m.filterOutbox(func(e OutboxEntry) bool { return e.App == app && e.NoticeID == noticeID }, false, 0), nil
}

func (m *Memory) filterOutbox(keep func(OutboxEntry) bool, newestFirst bool, limit int) []OutboxEntry {
	w := m.wh()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := []OutboxEntry{}
	n := len(w.outbox)
	for i := 0; i < n; i++ {
		e := w.outbox[i]
		if newestFirst {
			e = w.outbox[n-1-i]
		}
		if keep(e) {
			e.Payload = slices.Clone(e.Payload)
			out = append(out, e)
			if limit > 0 && len(out) == limit {
				break
			}
		}
	}
	return out
}

// PruneOutbox implements WebhookStore.
func (m *Memory) PruneOutbox(_ context.Context, before time.Time) (int, error) {
	w := m.wh()
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.outbox)
	w.outbox = slices.DeleteFunc(w.outbox, func(e OutboxEntry) bool { return prunable(e, before) })
	return n - len(w.outbox), nil
}

// adoptable reports whether e may be adopted from node from.
func adoptable(e OutboxEntry, from string) bool {
	return e.Status == DeliveryPending && e.Node == from
}

func prunable(e OutboxEntry, before time.Time) bool {
	return e.Status != DeliveryPending && e.CreatedAt.Before(before)
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortEndpoints(es []WebhookEndpoint) {
	sort.Slice(es, func(i, j int) bool {
		if !es[i].CreatedAt.Equal(es[j].CreatedAt) {
			return es[i].CreatedAt.Before(es[j].CreatedAt)
		}
		return es[i].ID < es[j].ID
	})
}
