package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The webhook buckets are created by the first write that needs them, so
// older store files open unchanged.
var (
	bucketWebhooks = []byte("webhooks") // key app/id
	bucketOutbox   = []byte("outbox")   // key: Seq, 8 bytes big-endian
)

func endpointKey(app, id string) []byte { return []byte(app + "/" + id) }

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// WebhookEndpoints implements WebhookStore.
func (b *Bolt) WebhookEndpoints(_ context.Context, app string) ([]WebhookEndpoint, error) {
	out := []WebhookEndpoint{}
	err := b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketWebhooks)
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			var e WebhookEndpoint
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: decode webhook %s: %w", k, err)
			}
			if app == "" || e.App == app {
				out = append(out, e)
			}
			return nil
		})
	})
	sortEndpoints(out)
	return out, err
}

// PutWebhookEndpoint implements WebhookStore.
func (b *Bolt) PutWebhookEndpoint(_ context.Context, e WebhookEndpoint) error {
	if err := ValidateWebhookEndpoint(e); err != nil {
		return err
	}
	v, err := json.Marshal(e) //nolint:gosec // G117: the store keeps the secret on purpose: deliveries are signed with it
	if err != nil {
		return fmt.Errorf("store: encode webhook: %w", err)
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketWebhooks)
		if err != nil {
			return err
		}
		return bk.Put(endpointKey(e.App, e.ID), v)
	})
}

// DeleteWebhookEndpoint implements WebhookStore.
func (b *Bolt) DeleteWebhookEndpoint(_ context.Context, app, id string) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketWebhooks)
		if bk == nil || bk.Get(endpointKey(app, id)) == nil {
			return fmt.Errorf("webhook %s: %w", id, ErrNotFound)
		}
		return bk.Delete(endpointKey(app, id))
	})
}

// AppendOutbox implements WebhookStore. The entries are on disk (fsynced)
// when it returns.
func (b *Bolt) AppendOutbox(_ context.Context, entries []OutboxEntry) ([]OutboxEntry, error) {
	out := make([]OutboxEntry, len(entries))
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketOutbox)
		if err != nil {
			return err
		}
		for i, e := range entries {
			if e.Seq, err = bk.NextSequence(); err != nil {
				return err
			}
			v, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("store: encode outbox entry: %w", err)
			}
			if err := bk.Put(seqKey(e.Seq), v); err != nil {
				return err
			}
			out[i] = e
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateOutbox implements WebhookStore.
func (b *Bolt) UpdateOutbox(_ context.Context, e OutboxEntry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("store: encode outbox entry: %w", err)
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		cur, err := getOutbox(tx, e.Seq)
		if err != nil {
			return err
		}
		if cur.Node != e.Node {
			return fmt.Errorf("outbox entry %d (node %q): %w", e.Seq, cur.Node, ErrNotOwner)
		}
		return tx.Bucket(bucketOutbox).Put(seqKey(e.Seq), v)
	})
}

// getOutbox reads the entry with seq in tx, or returns ErrNotFound.
func getOutbox(tx *bolt.Tx, seq uint64) (OutboxEntry, error) {
	var e OutboxEntry
	bk := tx.Bucket(bucketOutbox)
	if bk == nil {
		return e, fmt.Errorf("outbox entry %d: %w", seq, ErrNotFound)
	}
	v := bk.Get(seqKey(seq))
	if v == nil {
		return e, fmt.Errorf("outbox entry %d: %w", seq, ErrNotFound)
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return e, fmt.Errorf("store: decode outbox entry %d: %w", seq, err)
	}
	return e, nil
}

// AdoptOutbox implements WebhookStore: the check and the write are one
// transaction.
func (b *Bolt) AdoptOutbox(_ context.Context, seq uint64, from, to string) (OutboxEntry, bool, error) {
	var out OutboxEntry
	adopted := false
	err := b.db.Update(func(tx *bolt.Tx) error {
		e, err := getOutbox(tx, seq)
		if err != nil || !adoptable(e, from) {
			return err
		}
		e.Node = to
		v, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("store: encode outbox entry: %w", err)
		}
		if err := tx.Bucket(bucketOutbox).Put(seqKey(seq), v); err != nil {
			return err
		}
		out, adopted = e, true
		return nil
	})
	if err != nil {
		return OutboxEntry{}, false, err
	}
	return out, adopted, nil
}

// scanOutbox calls keep for each entry in Seq order (or newest first) and
// collects those it keeps, at most limit (0: all).
func (b *Bolt) scanOutbox(keep func(OutboxEntry) bool, newestFirst bool, limit int) ([]OutboxEntry, error) {
	out := []OutboxEntry{}
	err := b.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketOutbox)
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		first, next := c.First, c.Next
		if newestFirst {
			first, next = c.Last, c.Prev
		}
		for k, v := first(); k != nil; k, v = next() {
			var e OutboxEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: decode outbox entry %x: %w", k, err)
			}
			if keep(e) {
				out = append(out, e)
				if limit > 0 && len(out) == limit {
					return nil
				}
			}
		}
		return nil
	})
	return out, err
}

// PendingOutbox implements WebhookStore.
func (b *Bolt) PendingOutbox(_ context.Context) ([]OutboxEntry, error) {
	return b.scanOutbox(func(e OutboxEntry) bool { return e.Status == DeliveryPending }, false, 0)
}

// RecentOutbox implements WebhookStore.
func (b *Bolt) RecentOutbox(_ context.Context, app string, limit int) ([]OutboxEntry, error) {
	return b.scanOutbox(func(e OutboxEntry) bool { return e.App == app }, true, limit)
}

// OutboxByNotice implements WebhookStore.
func (b *Bolt) OutboxByNotice(_ context.Context, app, noticeID string) ([]OutboxEntry, error) {
	return b.scanOutbox(func(e OutboxEntry) bool { return e.App == app && e.NoticeID == noticeID }, false, 0)
}

// PruneOutbox implements WebhookStore.
func (b *Bolt) PruneOutbox(_ context.Context, before time.Time) (int, error) {
	n := 0
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketOutbox)
		if bk == nil {
			return nil
		}
		var dead [][]byte
		err := bk.ForEach(func(k, v []byte) error {
			var e OutboxEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: decode outbox entry %x: %w", k, err)
			}
			if prunable(e, before) {
				dead = append(dead, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range dead {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		n = len(dead)
		return nil
	})
	return n, err
}
