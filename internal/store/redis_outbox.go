package store

import (
	"context"
	"crypto/sha1" //nolint:gosec // G505: compared with redis.sha1hex to see an entry unchanged, not for security
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// The Redis outbox's indexes. Every entry has one member in each of three
// sorted sets, written with the entry in one transaction or script:
//
//   - outbox:app, member idxPart(app) + idxSeq(seq), score 0: a lexical
//     range gives one app's entries in seq order (RecentOutbox);
//   - outbox:notice, member idxPart(app) + idxPart(noticeID) + idxSeq(seq),
//     score 0: a lexical range gives one notice's entries (OutboxByNotice);
//   - outbox:prune, the same member as outbox:notice, scored by the entry's
//     CreatedAt in Unix milliseconds once it is finished and +inf while it is
//     pending: PruneOutbox reads only the finished entries created before
//     its time, and learns from the members themselves which index members
//     to delete with them, without reading the entries.
//
// An app id or notice id is written as its length in bytes, a colon and its
// bytes, so whatever they hold, the members of one app (or notice) are
// exactly those starting with its part: a member of another app cannot
// start with it. The seq is 20 decimal digits, so lexical order is seq
// order.

// idxPart is s as it appears in an index member.
func idxPart(s string) string { return strconv.Itoa(len(s)) + ":" + s }

// idxSeqLen is the length of idxSeq's answer.
const idxSeqLen = 20

// idxSeq is seq as it ends an index member.
func idxSeq(seq uint64) string { return fmt.Sprintf("%0*d", idxSeqLen, seq) }

// canonical is s as an entry stored as JSON gives it back: JSON keeps valid
// UTF-8 as it is and replaces invalid bytes, so an index member built from
// canonical(e.App) is the one the update script rebuilds from the stored
// entry.
func canonical(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b, _ := json.Marshal(s) // a string always encodes
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

// outboxMembers are one entry's index members and its prune score.
type outboxMembers struct {
	app, notice string
	score       float64
}

func outboxIndex(e OutboxEntry) outboxMembers {
	a := idxPart(canonical(e.App))
	seq := idxSeq(e.Seq)
	m := outboxMembers{app: a + seq, notice: a + idxPart(canonical(e.NoticeID)) + seq, score: math.Inf(1)}
	if e.Status != DeliveryPending {
		m.score = float64(e.CreatedAt.UnixMilli())
	}
	return m
}

// scoreArg is the prune score as a script argument.
func (m outboxMembers) scoreArg() string {
	if math.IsInf(m.score, 1) {
		return "+inf"
	}
	return strconv.FormatFloat(m.score, 'f', -1, 64)
}

// parseNoticeMember splits a member of the notice (and prune) index into the
// entry's hash field and its app index member; ok is false for a member
// that is not one of ours.
func parseNoticeMember(m string) (field, app string, ok bool) {
	if len(m) < idxSeqLen+4 {
		return "", "", false
	}
	seq, err := strconv.ParseUint(m[len(m)-idxSeqLen:], 10, 64)
	if err != nil {
		return "", "", false
	}
	i := strings.IndexByte(m, ':')
	if i <= 0 {
		return "", "", false
	}
	n, err := strconv.Atoi(m[:i])
	if err != nil || n < 0 || i+1+n > len(m)-idxSeqLen {
		return "", "", false
	}
	return strconv.FormatUint(seq, 10), m[:i+1+n] + m[len(m)-idxSeqLen:], true
}

func (r *Redis) outboxKeys(names ...string) []string {
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = r.key(n)
	}
	return keys
}

// outboxRangeScript reads the members of KEYS[1] in the lexical range
// ARGV[2]..ARGV[3] with ARGV[1] (ZRANGEBYLEX or ZREVRANGEBYLEX), at most
// ARGV[4] (-1: all), and answers the entries of KEYS[2] they name (false
// for an entry that is gone), in one atomic step.
var outboxRangeScript = redis.NewScript(`
local ms = redis.call(ARGV[1], KEYS[1], ARGV[2], ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for i, m in ipairs(ms) do
  local seq = (string.gsub(string.sub(m, -20), '^0+', ''))
  out[i] = redis.call('HGET', KEYS[2], seq)
end
return out`)

// outboxRange returns the entries whose members of index start with
// prefix, newest first when rev, at most limit (all when limit <= 0).
func (r *Redis) outboxRange(ctx context.Context, index, prefix string, rev bool, limit int) ([]OutboxEntry, error) {
	// Members are prefix + 20 digits: all lie strictly between prefix and
	// prefix + "\xff".
	cmd, from, to := "ZRANGEBYLEX", "("+prefix, "("+prefix+"\xff"
	if rev {
		cmd, from, to = "ZREVRANGEBYLEX", to, from
	}
	if limit <= 0 {
		limit = -1
	}
	vals, err := outboxRangeScript.Run(ctx, r.rdb, r.outboxKeys(index, redisOutbox), cmd, from, to, limit).Slice()
	if err != nil {
		return nil, fmt.Errorf("store: redis: %w", err)
	}
	out := make([]OutboxEntry, 0, len(vals))
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // pruned: the index entry goes with it, in the same script
		}
		var e OutboxEntry
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return nil, fmt.Errorf("store: decode outbox entry: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// pruneChunk bounds the entries PruneOutbox deletes in one script.
const pruneChunk = 500

// pruneOutbox deletes finished entries and all their index members:
// KEYS = outbox, pending, app index, notice index, prune index; ARGV[1] the
// highest prune score deleted; ARGV[2] 'range' to take the members of the
// prune index scored up to ARGV[1], at most ARGV[3], or 'members' to take
// the members ARGV[3...]. The hash field and app member of an entry come
// from its prune member (see parseNoticeMember); no entry is read. An entry
// is deleted only if its prune score is still at most ARGV[1] and it is not
// in the pending set; one in the pending set whose prune score says
// finished (written by an older version) gets the score +inf instead. It
// answers the entries deleted, the members dealt with (deleted or
// rescored) and the members taken.
var pruneOutbox = redis.NewScript(`
local function parse(m)
  local l = string.len(m)
  if l < 24 then return nil end
  local seq = string.sub(m, -20)
  if not string.match(seq, '^%d+$') then return nil end
  local c = string.find(m, ':', 1, true)
  if not c then return nil end
  local n = tonumber(string.sub(m, 1, c - 1))
  if not n or c + n > l - 20 then return nil end
  return (string.gsub(seq, '^0+', '')), string.sub(m, 1, c + n) .. seq
end
local max = tonumber(ARGV[1])
local ms
if ARGV[2] == 'range' then
  ms = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
else
  ms = {}
  for i = 3, #ARGV do ms[#ms + 1] = ARGV[i] end
end
local n, done = 0, 0
for _, m in ipairs(ms) do
  local s = tonumber(redis.call('ZSCORE', KEYS[5], m))
  if s and s <= max then
    done = done + 1
    local f, a = parse(m)
    if f and redis.call('ZSCORE', KEYS[2], f) then
      redis.call('ZADD', KEYS[5], '+inf', m)
    else
      if f then
        n = n + redis.call('HDEL', KEYS[1], f)
        redis.call('ZREM', KEYS[3], a)
      end
      redis.call('ZREM', KEYS[4], m)
      redis.call('ZREM', KEYS[5], m)
    end
  end
end
return {n, done, #ms}`)

// PruneOutbox implements WebhookStore. A script deletes the finished
// entries created before before's millisecond, pruneChunk at a time, taking
// them from the prune index: no entry is read, and pending entries (score
// +inf) are never looked at. Only the entries created in before's own
// millisecond are read, to compare their exact times.
func (r *Redis) PruneOutbox(ctx context.Context, before time.Time) (int, error) {
	if err := r.indexOutbox(ctx); err != nil {
		return 0, err
	}
	ms := before.UnixMilli() // floor: every entry scored below it was created before before
	total := 0
	for {
		n, done, taken, err := r.pruneRun(ctx, strconv.FormatInt(ms-1, 10), "range", pruneChunk)
		total += n
		if err != nil {
			return total, err
		}
		if taken < pruneChunk || done == 0 { // done == 0: every member changed meanwhile, the next prune sees them
			break
		}
	}
	// The entries of before's millisecond: prunable only if created before
	// before to the nanosecond.
	msArg := strconv.FormatInt(ms, 10)
	for offset := int64(0); ; {
		members, err := r.rdb.ZRangeByScore(ctx, r.key(redisOutboxPrune), &redis.ZRangeBy{
			Min: msArg, Max: msArg, Offset: offset, Count: pruneChunk,
		}).Result()
		if err != nil {
			return total, fmt.Errorf("store: redis: %w", err)
		}
		if len(members) == 0 {
			return total, nil
		}
		fields := make([]string, len(members))
		for i, m := range members {
			fields[i], _, _ = parseNoticeMember(m)
		}
		vals, err := r.rdb.HMGet(ctx, r.key(redisOutbox), fields...).Result()
		if err != nil {
			return total, fmt.Errorf("store: redis: %w", err)
		}
		args := []any{}
		for i, v := range vals {
			s, ok := v.(string)
			var e OutboxEntry
			if ok && json.Unmarshal([]byte(s), &e) == nil && prunable(e, before) {
				args = append(args, members[i])
			}
		}
		n := 0
		if len(args) > 0 {
			if n, _, _, err = r.pruneRun(ctx, msArg, "members", args...); err != nil {
				return total + n, err
			}
		}
		total += n
		offset += int64(len(members) - len(args))
		if len(members) < pruneChunk {
			return total, nil
		}
	}
}

// pruneRun runs pruneOutbox.
func (r *Redis) pruneRun(ctx context.Context, upTo, mode string, rest ...any) (deleted, done, taken int, err error) {
	args := append([]any{upTo, mode}, rest...)
	res, err := pruneOutbox.Run(ctx, r.rdb, r.outboxKeys(redisOutbox, redisPending, redisOutboxApp, redisOutboxNotice, redisOutboxPrune), args...).Int64Slice()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("store: redis: prune outbox: %w", err)
	}
	if len(res) != 3 {
		return 0, 0, 0, fmt.Errorf("store: redis: prune outbox answered %v", res)
	}
	return int(res[0]), int(res[1]), int(res[2]), nil
}

// indexBuildChunk bounds the entries indexOutbox indexes in one script.
const indexBuildChunk = 500

// indexOutboxScript adds the index members of entries that still hold the
// bytes they were read with: KEYS = outbox, app index, notice index, prune
// index; ARGV = for each entry its field, the SHA-1 of its bytes, app
// member, notice member and prune score. An entry changed since (by a
// writer that keeps the indexes itself) or gone is skipped.
var indexOutboxScript = redis.NewScript(`
for i = 1, #ARGV, 5 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur and redis.sha1hex(cur) == ARGV[i+1] then
    redis.call('ZADD', KEYS[2], 0, ARGV[i+2])
    redis.call('ZADD', KEYS[3], 0, ARGV[i+3])
    redis.call('ZADD', KEYS[4], ARGV[i+4], ARGV[i+3])
  end
end
return 0`)

// dropStaleScript deletes the index members of entries that are gone:
// KEYS = outbox, app index, notice index, prune index; ARGV = for each its
// field, app member and notice member.
var dropStaleScript = redis.NewScript(`
for i = 1, #ARGV, 3 do
  if ARGV[i] == '' or redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    redis.call('ZREM', KEYS[2], ARGV[i+1])
    redis.call('ZREM', KEYS[3], ARGV[i+2])
    redis.call('ZREM', KEYS[4], ARGV[i+2])
  end
end
return 0`)

// indexOutbox builds the outbox indexes when they do not match the outbox:
// an outbox written by a version without them (or, during a rolling
// upgrade, entries written, finished, queued again or pruned by a node of
// that version). The check is four counts, read atomically: every entry has
// exactly one prune index member, and every pending entry (the pending set,
// which that version keeps too) one scored +inf. Only when they differ is
// the whole outbox read, once, the missing members added, the prune scores
// set from the entries and the stale members dropped. Nodes that do it at
// once write the same members: the result is the same. (An old node's
// writes whose counts cancel out, as many entries appended as pruned and as
// many finished as queued again between two checks, go unseen until the
// counts next differ.)
func (r *Redis) indexOutbox(ctx context.Context) error {
	var entries, indexed, pending, pendingIndexed *redis.IntCmd
	if _, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		entries = p.HLen(ctx, r.key(redisOutbox))
		indexed = p.ZCard(ctx, r.key(redisOutboxPrune))
		pending = p.ZCard(ctx, r.key(redisPending))
		pendingIndexed = p.ZCount(ctx, r.key(redisOutboxPrune), "+inf", "+inf")
		return nil
	}); err != nil {
		return fmt.Errorf("store: redis: %w", err)
	}
	if entries.Val() == indexed.Val() && pending.Val() == pendingIndexed.Val() {
		return nil
	}
	all, err := r.rdb.HGetAll(ctx, r.key(redisOutbox)).Result()
	if err != nil {
		return fmt.Errorf("store: redis: %w", err)
	}
	keys := r.outboxKeys(redisOutbox, redisOutboxApp, redisOutboxNotice, redisOutboxPrune)
	args := make([]any, 0, 5*indexBuildChunk)
	flush := func(script *redis.Script) error {
		if len(args) == 0 {
			return nil
		}
		err := script.Run(ctx, r.rdb, keys, args...).Err()
		args = args[:0]
		if err != nil {
			return fmt.Errorf("store: redis: index outbox: %w", err)
		}
		return nil
	}
	for field, raw := range all {
		var e OutboxEntry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			continue // unreadable: no listing could show it anyway
		}
		sum := sha1.Sum([]byte(raw)) //nolint:gosec // G401: see the import
		ix := outboxIndex(e)
		args = append(args, field, hex.EncodeToString(sum[:]), ix.app, ix.notice, ix.scoreArg())
		if len(args) == 5*indexBuildChunk {
			if err := flush(indexOutboxScript); err != nil {
				return err
			}
		}
	}
	if err := flush(indexOutboxScript); err != nil {
		return err
	}
	// Members of entries deleted by a version without the indexes.
	members, err := r.rdb.ZRange(ctx, r.key(redisOutboxPrune), 0, -1).Result()
	if err != nil {
		return fmt.Errorf("store: redis: %w", err)
	}
	for _, m := range members {
		field, app, _ := parseNoticeMember(m)
		if _, ok := all[field]; ok {
			continue
		}
		args = append(args, field, app, m)
		if len(args) == 3*indexBuildChunk {
			if err := flush(dropStaleScript); err != nil {
				return err
			}
		}
	}
	return flush(dropStaleScript)
}
