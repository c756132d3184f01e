package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// Memory is a Store that lives in memory only.
type Memory struct {
	mu      sync.Mutex
	apps    map[string]App
	secrets map[string][]byte
	keys    map[string]APIKey
	rules   map[uint64]KickingRule
	ruleSeq uint64

	whOnce   sync.Once
	webhooks *memWebhooks // webhook_memory.go
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{apps: map[string]App{}, secrets: map[string][]byte{}, keys: map[string]APIKey{},
		rules: map[uint64]KickingRule{}}
}

// App implements Store.
func (m *Memory) App(_ context.Context, id string) (App, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.apps[id]
	if !ok {
		return App{}, fmt.Errorf("app %s: %w", id, ErrNotFound)
	}
	return a, nil
}

// PutApp implements Store.
func (m *Memory) PutApp(_ context.Context, a App) error {
	if err := ValidateApp(a); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.apps[a.ID] = a
	return nil
}

// Apps implements Store.
func (m *Memory) Apps(_ context.Context) ([]App, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]App, 0, len(m.apps))
	for _, a := range m.apps {
		out = append(out, a)
	}
	sortApps(out)
	return out, nil
}

// Secret implements Store.
func (m *Memory) Secret(_ context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.secrets[name]; ok {
		return s, nil
	}
	s, err := newSecret()
	if err != nil {
		return nil, err
	}
	m.secrets[name] = s
	return s, nil
}

// APIKey implements Store.
func (m *Memory) APIKey(_ context.Context, id string) (APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return APIKey{}, fmt.Errorf("api key %s: %w", id, ErrNotFound)
	}
	return k, nil
}

// PutAPIKey implements Store.
func (m *Memory) PutAPIKey(_ context.Context, k APIKey) error {
	if err := ValidateAPIKey(k); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[k.ID] = k
	return nil
}

// APIKeys implements Store.
func (m *Memory) APIKeys(_ context.Context) ([]APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]APIKey, 0, len(m.keys))
	for _, k := range m.keys {
		out = append(out, k)
	}
	sortAPIKeys(out)
	return out, nil
}

// DeleteAPIKey implements Store.
func (m *Memory) DeleteAPIKey(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[id]; !ok {
		return fmt.Errorf("api key %s: %w", id, ErrNotFound)
	}
	delete(m.keys, id)
	return nil
}

// KickingRule implements Store.
func (m *Memory) KickingRule(_ context.Context, id uint64) (KickingRule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rules[id]
	if !ok {
		return KickingRule{}, fmt.Errorf("kicking rule %d: %w", id, ErrNotFound)
	}
	r.Privileges = slices.Clone(r.Privileges)
	return r, nil
}

// PutKickingRule implements Store.
func (m *Memory) PutKickingRule(_ context.Context, r KickingRule) (uint64, error) {
	if err := ValidateKickingRule(r); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.ID == 0 {
		m.ruleSeq++
		r.ID = m.ruleSeq
	} else if _, ok := m.rules[r.ID]; !ok {
		return 0, fmt.Errorf("kicking rule %d: %w", r.ID, ErrNotFound)
	}
	r.Privileges = slices.Clone(r.Privileges)
	m.rules[r.ID] = r
	return r.ID, nil
}

// KickingRules implements Store.
func (m *Memory) KickingRules(_ context.Context) ([]KickingRule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]KickingRule, 0, len(m.rules))
	for _, r := range m.rules {
		r.Privileges = slices.Clone(r.Privileges)
		out = append(out, r)
	}
	sortKickingRules(out)
	return out, nil
}

// DeleteKickingRule implements Store.
func (m *Memory) DeleteKickingRule(_ context.Context, id uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rules[id]; !ok {
		return fmt.Errorf("kicking rule %d: %w", id, ErrNotFound)
	}
	delete(m.rules, id)
	return nil
}

// Close implements Store.
func (m *Memory) Close() error { return nil }

func sortApps(apps []App) {
	sort.Slice(apps, func(i, j int) bool {
		if !apps[i].CreatedAt.Equal(apps[j].CreatedAt) {
			return apps[i].CreatedAt.Before(apps[j].CreatedAt)
		}
		return apps[i].ID < apps[j].ID
	})
}

func sortAPIKeys(keys []APIKey) {
	sort.Slice(keys, func(i, j int) bool {
		if !keys[i].CreatedAt.Equal(keys[j].CreatedAt) {
			return keys[i].CreatedAt.Before(keys[j].CreatedAt)
		}
		return keys[i].ID < keys[j].ID
	})
}
