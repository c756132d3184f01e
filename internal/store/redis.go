package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Redis keeps the state of a cluster's nodes in one Redis (or Sentinel- or
// Cluster-managed Redis) so that every node sees the same apps, API keys,
// kicking rules, webhook endpoints and outbox. All its keys start with its
// prefix and share one hash tag, so a Redis Cluster keeps them in one slot
// and multi-key scripts stay valid.
//
// Records are JSON, as in Bolt. Writes that must check a record first (replace
// only an existing rule, update only an existing outbox entry) are Lua
// scripts, atomic on the server.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
}

// OpenRedis returns a store over rdb whose keys start with prefix (e.g.
// "minirtc"); it checks that Redis answers. The caller keeps ownership of
// rdb: Close does not close it.
func OpenRedis(ctx context.Context, rdb redis.UniversalClient, prefix string) (*Redis, error) {
	if rdb == nil {
		return nil, errors.New("store: OpenRedis needs a client")
	}
	if prefix == "" {
		prefix = "minirtc"
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("store: redis: %w", err)
	}
	r := &Redis{rdb: rdb, prefix: "{" + prefix + "}:"}
	if err := r.indexOutbox(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Redis) key(parts ...string) string {
	k := r.prefix
	for i, p := range parts {
		if i > 0 {
			k += ":"
		}
		k += p
	}
	return k
}

// Key names.
const (
	redisApps      = "apps"      // hash: app id -> App
	redisAPIKeys   = "apikeys"   // hash: key id -> APIKey
	redisRules     = "rules"     // hash: decimal id -> KickingRule
	redisRuleSeq   = "rules:seq" // counter: last kicking rule id
	redisWebhooks  = "webhooks"  // hash: app/id -> WebhookEndpoint
	redisOutbox    = "outbox"    // hash: decimal seq -> OutboxEntry
	redisOutboxSeq = "outbox:seq"
	redisPending   = "outbox:pending" // sorted set of pending seqs (score = seq)
	redisSecret    = "secret"         // string per name: the secret's bytes
	// The outbox's indexes, written in the same transaction or script as
	// the entries (see outboxIndex): sorted sets whose members all have
	// score 0 and are read by lexical range, so one key serves every app.
	redisOutboxApp    = "outbox:app"    // member idxPart(app)+idxSeq(seq): an app's entries in seq order
	redisOutboxNotice = "outbox:notice" // member idxPart(app)+idxPart(notice)+idxSeq(seq): a notice's entries
	// redisOutboxPrune holds the same members as redisOutboxNotice, scored
	// by the entry's CreatedAt in Unix milliseconds once it is finished and
	// +inf while it is pending: PruneOutbox reads only its low end.
	redisOutboxPrune = "outbox:prune"
)

func getJSON[T any](ctx context.Context, r *Redis, hash, field, what string) (T, error) {
	var v T
	b, err := r.rdb.HGet(ctx, r.key(hash), field).Bytes()
	if errors.Is(err, redis.Nil) {
		return v, fmt.Errorf("%s %s: %w", what, field, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("store: redis: %w", err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("store: decode %s %s: %w", what, field, err)
	}
	return v, nil
}

func listJSON[T any](ctx context.Context, r *Redis, hash, what string) ([]T, error) {
	m, err := r.rdb.HGetAll(ctx, r.key(hash)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: redis: %w", err)
	}
	out := make([]T, 0, len(m))
	for k, b := range m {
		var v T
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			return nil, fmt.Errorf("store: decode %s %s: %w", what, k, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func (r *Redis) putJSON(ctx context.Context, hash, field, what string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", what, err)
	}
	if err := r.rdb.HSet(ctx, r.key(hash), field, b).Err(); err != nil {
		return fmt.Errorf("store: redis: %w", err)
	}
	return nil
}

func (r *Redis) deleteField(ctx context.Context, hash, field, what string) error {
	n, err := r.rdb.HDel(ctx, r.key(hash), field).Result()
	if err != nil {
		return fmt.Errorf("store: redis: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%s %s: %w", what, field, ErrNotFound)
	}
	return nil
}

// App implements Store.
func (r *Redis) App(ctx context.Context, id string) (App, error) {
	return getJSON[App](ctx, r, redisApps, id, "app")
}

// PutApp implements Store.
func (r *Redis) PutApp(ctx context.Context, a App) error {
	if err := ValidateApp(a); err != nil {
		return err
	}
	return r.putJSON(ctx, redisApps, a.ID, "app", a)
}

// Apps implements Store.
func (r *Redis) Apps(ctx context.Context) ([]App, error) {
	apps, err := listJSON[App](ctx, r, redisApps, "app")
	if err != nil {
		return nil, err
	}
	sortApps(apps)
	return apps, nil
}

// APIKey implements Store.
func (r *Redis) APIKey(ctx context.Context, id string) (APIKey, error) {
	return getJSON[APIKey](ctx, r, redisAPIKeys, id, "api key")
}

// PutAPIKey implements Store.
func (r *Redis) PutAPIKey(ctx context.Context, k APIKey) error {
	if err := ValidateAPIKey(k); err != nil {
		return err
	}
	return r.putJSON(ctx, redisAPIKeys, k.ID, "api key", k)
}

// APIKeys implements Store.
func (r *Redis) APIKeys(ctx context.Context) ([]APIKey, error) {
	keys, err := listJSON[APIKey](ctx, r, redisAPIKeys, "api key")
	if err != nil {
		return nil, err
	}
	sortAPIKeys(keys)
	return keys, nil
}

// DeleteAPIKey implements Store.
func (r *Redis) DeleteAPIKey(ctx context.Context, id string) error {
	return r.deleteField(ctx, redisAPIKeys, id, "api key")
}

// KickingRule implements Store.
func (r *Redis) KickingRule(ctx context.Context, id uint64) (KickingRule, error) {
	return getJSON[KickingRule](ctx, r, redisRules, strconv.FormatUint(id, 10), "kicking rule")
}

// putExisting replaces KEYS[1]'s field ARGV[1] with ARGV[2] only when the
// field exists; it answers 1 when it did.
var putExisting = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`)

// PutKickingRule implements Store. Ids come from a counter, so a deleted
// rule's id is never given again.
func (r *Redis) PutKickingRule(ctx context.Context, rule KickingRule) (uint64, error) {
	if err := ValidateKickingRule(rule); err != nil {
		return 0, err
	}
	if rule.ID == 0 {
		id, err := r.rdb.Incr(ctx, r.key(redisRuleSeq)).Uint64()
		if err != nil {
			return 0, fmt.Errorf("store: kicking rule id: %w", err)
		}
		rule.ID = id
		return id, r.putJSON(ctx, redisRules, strconv.FormatUint(id, 10), "kicking rule", rule)
	}
	b, err := json.Marshal(rule)
	if err != nil {
		return 0, fmt.Errorf("store: encode kicking rule: %w", err)
	}
	field := strconv.FormatUint(rule.ID, 10)
	ok, err := putExisting.Run(ctx, r.rdb, []string{r.key(redisRules)}, field, b).Int()
	if err != nil {
		return 0, fmt.Errorf("store: redis: %w", err)
	}
	if ok == 0 {
		return 0, fmt.Errorf("kicking rule %d: %w", rule.ID, ErrNotFound)
	}
	return rule.ID, nil
}

// KickingRules implements Store.
func (r *Redis) KickingRules(ctx context.Context) ([]KickingRule, error) {
	rules, err := listJSON[KickingRule](ctx, r, redisRules, "kicking rule")
	if err != nil {
		return nil, err
	}
	sortKickingRules(rules)
	return rules, nil
}

// DeleteKickingRule implements Store.
func (r *Redis) DeleteKickingRule(ctx context.Context, id uint64) error {
	return r.deleteField(ctx, redisRules, strconv.FormatUint(id, 10), "kicking rule")
}

// Secret implements Store. The first node to ask creates the secret; every
// node gets the same bytes (SET NX, then GET).
func (r *Redis) Secret(ctx context.Context, name string) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("store: secret: %w", err)
	}
	k := r.key(redisSecret, name)
	if err := r.rdb.SetNX(ctx, k, fresh, 0).Err(); err != nil {
		return nil, fmt.Errorf("store: redis: %w", err)
	}
	b, err := r.rdb.Get(ctx, k).Bytes()
	if err != nil {
		return nil, fmt.Errorf("store: redis: %w", err)
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("store: secret %q in redis has %d bytes, want 32", name, len(b))
	}
	return b, nil
}

// WebhookEndpoints implements WebhookStore.
func (r *Redis) WebhookEndpoints(ctx context.Context, app string) ([]WebhookEndpoint, error) {
	all, err := listJSON[WebhookEndpoint](ctx, r, redisWebhooks, "webhook endpoint")
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, e := range all {
		if app == "" || e.App == app {
			out = append(out, e)
		}
	}
	sortEndpoints(out)
	return out, nil
}

// PutWebhookEndpoint implements WebhookStore.
func (r *Redis) PutWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error {
	if err := ValidateWebhookEndpoint(e); err != nil {
		return err
	}
	return r.putJSON(ctx, redisWebhooks, string(endpointKey(e.App, e.ID)), "webhook endpoint", e)
}

// DeleteWebhookEndpoint implements WebhookStore.
func (r *Redis) DeleteWebhookEndpoint(ctx context.Context, app, id string) error {
	return r.deleteField(ctx, redisWebhooks, string(endpointKey(app, id)), "webhook endpoint")
}

// AppendOutbox implements WebhookStore: the entries and their index
// members are stored in one MULTI/EXEC transaction after their seqs were
// taken from the counter.
func (r *Redis) AppendOutbox(ctx context.Context, entries []OutboxEntry) ([]OutboxEntry, error) {
	if len(entries) == 0 {
		return []OutboxEntry{}, nil
	}
	last, err := r.rdb.IncrBy(ctx, r.key(redisOutboxSeq), int64(len(entries))).Uint64()
	if err != nil {
		return nil, fmt.Errorf("store: outbox seq: %w", err)
	}
	first := last - uint64(len(entries)) + 1
	out := make([]OutboxEntry, len(entries))
	fields := make([]any, 0, 2*len(entries))
	var pending []redis.Z
	apps := make([]redis.Z, len(entries))
	notices := make([]redis.Z, len(entries))
	prune := make([]redis.Z, len(entries))
	for i, e := range entries {
		e.Seq = first + uint64(i)
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("store: encode outbox entry: %w", err)
		}
		field := strconv.FormatUint(e.Seq, 10)
		fields = append(fields, field, b)
		if e.Status == DeliveryPending {
			pending = append(pending, redis.Z{Score: float64(e.Seq), Member: field})
		}
		ix := outboxIndex(e)
		apps[i] = redis.Z{Member: ix.app}
		notices[i] = redis.Z{Member: ix.notice}
		prune[i] = redis.Z{Score: ix.score, Member: ix.notice}
		out[i] = e
	}
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, r.key(redisOutbox), fields...)
		if len(pending) > 0 {
			p.ZAdd(ctx, r.key(redisPending), pending...)
		}
		p.ZAdd(ctx, r.key(redisOutboxApp), apps...)
		p.ZAdd(ctx, r.key(redisOutboxNotice), notices...)
		p.ZAdd(ctx, r.key(redisOutboxPrune), prune...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: redis: %w", err)
	}
	return out, nil
}

// updateOutbox replaces an existing outbox entry of the same node and keeps
// the pending index and the outbox indexes in step: KEYS = outbox hash,
// pending set, app index, notice index, prune index; ARGV = seq, JSON,
// pending (1/0), node, the new entry's app member, notice member and prune
// score, and the seq as index members end it (idxSeq). It answers 1 when it
// did, 0 for a missing entry, -1 when another node owns the entry. Only the
// stored entry's node, app and notice are decoded (cjson), never
// re-encoded; the stored entry's index members are rebuilt from them as
// outboxIndex builds them (length, colon, bytes).
var updateOutbox = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local old = cjson.decode(cur)
local node = old['node']
if type(node) ~= 'string' then node = '' end
if node ~= ARGV[4] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[1]), ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
local function part(s)
  if type(s) ~= 'string' then s = '' end
  return string.len(s) .. ':' .. s
end
local oldApp = part(old['appId'])
local oldNotice = oldApp .. part(old['noticeId']) .. ARGV[8]
if oldNotice ~= ARGV[6] then
  redis.call('ZREM', KEYS[3], oldApp .. ARGV[8])
  redis.call('ZREM', KEYS[4], oldNotice)
  redis.call('ZREM', KEYS[5], oldNotice)
  redis.call('ZADD', KEYS[3], 0, ARGV[5])
  redis.call('ZADD', KEYS[4], 0, ARGV[6])
end
redis.call('ZADD', KEYS[5], ARGV[7], ARGV[6])
return 1`)

// UpdateOutbox implements WebhookStore.
func (r *Redis) UpdateOutbox(ctx context.Context, e OutboxEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("store: encode outbox entry: %w", err)
	}
	pending := "0"
	if e.Status == DeliveryPending {
		pending = "1"
	}
	ix := outboxIndex(e)
	ok, err := updateOutbox.Run(ctx, r.rdb, r.outboxKeys(redisOutbox, redisPending, redisOutboxApp, redisOutboxNotice, redisOutboxPrune),
		strconv.FormatUint(e.Seq, 10), b, pending, e.Node, ix.app, ix.notice, ix.scoreArg(), idxSeq(e.Seq)).Int()
	if err != nil {
		return fmt.Errorf("store: redis: %w", err)
	}
	switch ok {
	case 0:
		return fmt.Errorf("outbox entry %d: %w", e.Seq, ErrNotFound)
	case -1:
		return fmt.Errorf("outbox entry %d: %w", e.Seq, ErrNotOwner)
	}
	return nil
}

// swapOutbox replaces KEYS[1]'s field ARGV[1] with ARGV[3] only if it still
// holds exactly ARGV[2] (compare-and-set on the bytes); it answers 1 when it
// did.
var swapOutbox = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`)

// adoptTries bounds AdoptOutbox's compare-and-set loop. A lost race is
// retried only when the entry changed but may still be adoptable (its
// owner updated it after an attempt); a few tries are plenty.
const adoptTries = 8

// AdoptOutbox implements WebhookStore: the entry is read, checked and
// rewritten with the new owner by a script that writes only if the entry
// still holds the bytes read, so exactly one of concurrent adopters wins.
// Only the owner changes, and no index depends on it: the indexes stay as
// they are.
func (r *Redis) AdoptOutbox(ctx context.Context, seq uint64, from, to string) (OutboxEntry, bool, error) {
	field := strconv.FormatUint(seq, 10)
	for range adoptTries {
		raw, err := r.rdb.HGet(ctx, r.key(redisOutbox), field).Result()
		if errors.Is(err, redis.Nil) {
			return OutboxEntry{}, false, fmt.Errorf("outbox entry %d: %w", seq, ErrNotFound)
		}
		if err != nil {
			return OutboxEntry{}, false, fmt.Errorf("store: redis: %w", err)
		}
		var e OutboxEntry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return OutboxEntry{}, false, fmt.Errorf("store: decode outbox entry %d: %w", seq, err)
		}
		if !adoptable(e, from) {
			return OutboxEntry{}, false, nil
		}
		e.Node = to
		b, err := json.Marshal(e)
		if err != nil {
			return OutboxEntry{}, false, fmt.Errorf("store: encode outbox entry: %w", err)
		}
		ok, err := swapOutbox.Run(ctx, r.rdb, []string{r.key(redisOutbox)}, field, raw, b).Int()
		if err != nil {
			return OutboxEntry{}, false, fmt.Errorf("store: redis: %w", err)
		}
		if ok == 1 {
			return e, true, nil
		}
	}
	return OutboxEntry{}, false, fmt.Errorf("store: adopt outbox entry %d: it kept changing (%d tries)", seq, adoptTries)
}

// PendingOutbox implements WebhookStore. It reads the pending index, so its
// cost follows the pending entries, not the whole outbox.
func (r *Redis) PendingOutbox(ctx context.Context) ([]OutboxEntry, error) {
	seqs, err := r.rdb.ZRange(ctx, r.key(redisPending), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("store: redis: %w", err)
	}
	out := []OutboxEntry{}
	if len(seqs) == 0 {
		return out, nil
	}
	vals, err := r.rdb.HMGet(ctx, r.key(redisOutbox), seqs...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: redis: %w", err)
	}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // pruned between the two reads
		}
		var e OutboxEntry
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return nil, fmt.Errorf("store: decode outbox entry %s: %w", seqs[i], err)
		}
		if e.Status == DeliveryPending {
			out = append(out, e)
		}
	}
	return out, nil
}

// RecentOutbox implements WebhookStore. It reads the app's newest limit
// members of the app index and those entries, nothing else.
func (r *Redis) RecentOutbox(ctx context.Context, app string, limit int) ([]OutboxEntry, error) {
	app = canonical(app)
	es, err := r.outboxRange(ctx, redisOutboxApp, idxPart(app), true, limit)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(es, func(e OutboxEntry) bool { return e.App != app }), nil
}

// OutboxByNotice implements WebhookStore. It reads the notice's members of
// the notice index and those entries, nothing else.
func (r *Redis) OutboxByNotice(ctx context.Context, app, noticeID string) ([]OutboxEntry, error) {
	app, noticeID = canonical(app), canonical(noticeID)
	es, err := r.outboxRange(ctx, redisOutboxNotice, idxPart(app)+idxPart(noticeID), false, 0)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(es, func(e OutboxEntry) bool { return e.App != app || e.NoticeID != noticeID }), nil
}

// Close implements Store. The client stays open: its owner closes it.
func (r *Redis) Close() error { return nil }
