package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	bucketApps    = []byte("apps")
	bucketSecrets = []byte("secrets")
	bucketAPIKeys = []byte("apikeys")
	bucketKicking = []byte("kickingrules")
)

// Bolt is the embedded Store, one bbolt file. Every write is a single
// transaction, fsynced before it returns.
type Bolt struct {
	db *bolt.DB
}

// OpenBolt opens (creating if needed) the store file at path. It fails fast
// if another process holds the file.
func OpenBolt(path string) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil { //nolint:gosec // G703: the path is the operator's data directory, not client input
		return nil, fmt.Errorf("store: create dir: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("store: %s is in use by another minirtc process", path)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketApps, bucketSecrets, bucketAPIKeys, bucketKicking} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close() // already failing with the init error
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// App implements Store.
func (b *Bolt) App(_ context.Context, id string) (App, error) {
	var a App
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketApps).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("app %s: %w", id, ErrNotFound)
		}
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("store: decode app %s: %w", id, err)
		}
		return nil
	})
	return a, err
}

// PutApp implements Store.
func (b *Bolt) PutApp(_ context.Context, a App) error {
	if err := ValidateApp(a); err != nil {
		return err
	}
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("store: encode app: %w", err)
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketApps).Put([]byte(a.ID), v)
	})
}

// Apps implements Store.
func (b *Bolt) Apps(_ context.Context) ([]App, error) {
	var out []App
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketApps).ForEach(func(k, v []byte) error {
			var a App
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("store: decode app %s: %w", k, err)
			}
			out = append(out, a)
			return nil
		})
	})
	sortApps(out)
	return out, err
}

// Secret implements Store.
func (b *Bolt) Secret(_ context.Context, name string) ([]byte, error) {
	var s []byte
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketSecrets)
		if v := bk.Get([]byte(name)); v != nil {
			s = append([]byte(nil), v...)
			return nil
		}
		var err error
		if s, err = newSecret(); err != nil {
			return err
		}
		return bk.Put([]byte(name), s)
	})
	return s, err
}

// APIKey implements Store.
func (b *Bolt) APIKey(_ context.Context, id string) (APIKey, error) {
	var k APIKey
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketAPIKeys).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("api key %s: %w", id, ErrNotFound)
		}
		if err := json.Unmarshal(v, &k); err != nil {
			return fmt.Errorf("store: decode api key %s: %w", id, err)
		}
		return nil
	})
	return k, err
}

// PutAPIKey implements Store.
func (b *Bolt) PutAPIKey(_ context.Context, k APIKey) error {
	if err := ValidateAPIKey(k); err != nil {
		return err
	}
	v, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("store: encode api key: %w", err)
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAPIKeys).Put([]byte(k.ID), v)
	})
}

// APIKeys implements Store.
func (b *Bolt) APIKeys(_ context.Context) ([]APIKey, error) {
	out := []APIKey{}
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAPIKeys).ForEach(func(k, v []byte) error {
			var key APIKey
			if err := json.Unmarshal(v, &key); err != nil {
				return fmt.Errorf("store: decode api key %s: %w", k, err)
			}
			out = append(out, key)
			return nil
		})
	})
	sortAPIKeys(out)
	return out, err
}

// DeleteAPIKey implements Store.
func (b *Bolt) DeleteAPIKey(_ context.Context, id string) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketAPIKeys)
		if bk.Get([]byte(id)) == nil {
			return fmt.Errorf("api key %s: %w", id, ErrNotFound)
		}
		return bk.Delete([]byte(id))
	})
}

func ruleKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// KickingRule implements Store.
func (b *Bolt) KickingRule(_ context.Context, id uint64) (KickingRule, error) {
	var r KickingRule
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketKicking).Get(ruleKey(id))
		if v == nil {
			return fmt.Errorf("kicking rule %d: %w", id, ErrNotFound)
		}
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("store: decode kicking rule %d: %w", id, err)
		}
		return nil
	})
	return r, err
}

// PutKickingRule implements Store. Ids come from the bucket's sequence, so
// a deleted rule's id is never given again.
func (b *Bolt) PutKickingRule(_ context.Context, r KickingRule) (uint64, error) {
	if err := ValidateKickingRule(r); err != nil {
		return 0, err
	}
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketKicking)
		if r.ID == 0 {
			id, err := bk.NextSequence()
			if err != nil {
				return fmt.Errorf("store: kicking rule id: %w", err)
			}
			r.ID = id
		} else if bk.Get(ruleKey(r.ID)) == nil {
			return fmt.Errorf("kicking rule %d: %w", r.ID, ErrNotFound)
		}
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("store: encode kicking rule: %w", err)
		}
		return bk.Put(ruleKey(r.ID), v)
	})
	if err != nil {
		return 0, err
	}
	return r.ID, nil
}

// KickingRules implements Store.
func (b *Bolt) KickingRules(_ context.Context) ([]KickingRule, error) {
	out := []KickingRule{}
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKicking).ForEach(func(k, v []byte) error {
			var r KickingRule
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("store: decode kicking rule %x: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	sortKickingRules(out)
	return out, err
}

// DeleteKickingRule implements Store.
func (b *Bolt) DeleteKickingRule(_ context.Context, id uint64) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketKicking)
		if bk.Get(ruleKey(id)) == nil {
			return fmt.Errorf("kicking rule %d: %w", id, ErrNotFound)
		}
		return bk.Delete(ruleKey(id))
	})
}

// Close implements Store.
func (b *Bolt) Close() error { return b.db.Close() }
