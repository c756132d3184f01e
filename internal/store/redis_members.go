package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ChannelMember is one member of a cluster channel as its owner records it
// in Redis, so that the node taking the channel over after the owner died
// knows who was in it (docs/cluster.md, "Failover"). Field names are short:
// one record is kept per member of every live channel.
type ChannelMember struct {
	UID      uint32 `json:"-"`
	Account  string `json:"a,omitempty"`
	Role     int    `json:"r,omitempty"` // channel.Role
	Profile  int    `json:"p,omitempty"` // channel.Profile
	JoinedMs int64  `json:"j"`           // Unix ms of the member's first join
	Kind     string `json:"k,omitempty"` // client kind (webhook platform)
	OS       string `json:"o,omitempty"` // client OS (webhook platform)
}

// JoinedAt is the member's first join.
func (m ChannelMember) JoinedAt() time.Time { return time.UnixMilli(m.JoinedMs) }

// Fence is the channel lease a member list write is made under: Key is the
// lease's full Redis key, Value the lease's value (owner and fencing token,
// cluster.Lease.Value). A write is made only while Key holds Value, so a
// node that lost the channel (paused past its lease, or handing it over)
// cannot change the list its successor reads.
type Fence struct{ Key, Value string }

// A member list's fields are decimal uids, plus "o", the lease value it was
// last written or taken over under, and "h" while its owner hands it over
// in a drain (the scripts below read and write them).

// membersKey names a channel's member list: members:{app}:{len}:{channel}.
func (r *Redis) membersKey(app, channel string) string {
	return r.key("members", app, strconv.Itoa(len(channel)), channel)
}

// redisMembersIndex is the set of channels that have a member list, as
// {app}:{len}:{channel} (what follows "members:" in the list's key).
const redisMembersIndex = "members:index"

func membersIndexMember(app, channel string) string {
	return app + ":" + strconv.Itoa(len(channel)) + ":" + channel
}

// parseMembersIndexMember splits an index member; ok false for one that is
// not {app}:{len}:{channel}.
func parseMembersIndexMember(m string) (app, channel string, ok bool) {
	i := strings.IndexByte(m, ':')
	if i <= 0 {
		return "", "", false
	}
	rest := m[i+1:]
	j := strings.IndexByte(rest, ':')
	if j <= 0 {
		return "", "", false
	}
	n, err := strconv.Atoi(rest[:j])
	if err != nil || n != len(rest)-j-1 {
		return "", "", false
	}
	return m[:i], rest[j+1:], true
}

func (r *Redis) membersKeys(f Fence, app, channel string) []string {
	return []string{f.Key, r.membersKey(app, channel), r.key(redisMembersIndex)}
}

// putMemberScript: KEYS[1] lease, KEYS[2] member list, KEYS[3] index;
// ARGV[1] lease value, ARGV[2] field, ARGV[3] record (empty: delete the
// field), ARGV[4] index member.
var putMemberScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[2], ARGV[2])
  if redis.call('HLEN', KEYS[2]) <= 1 then
    redis.call('DEL', KEYS[2])
    redis.call('SREM', KEYS[3], ARGV[4])
  end
  return 1
end
redis.call('HSET', KEYS[2], 'o', ARGV[1], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
return 1`)

// dropMembersScript: KEYS[1] lease, KEYS[2] member list, KEYS[3] index;
// ARGV[1] lease value, ARGV[2] index member.
var dropMembersScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
return 1`)

// takeMembersScript: KEYS[1] lease, KEYS[2] member list; ARGV[1] lease value.
// It answers false when the lease is not ARGV[1] or the list was already
// taken (or written) under it, else the previous owner's lease value, '1'
// if that owner handed the channel over ('0' if it died), then the list's
// member fields and values; it stamps the list with ARGV[1]: exactly one
// taking per lease grant gets the list.
var takeMembersScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local prev = redis.call('HGET', KEYS[2], 'o')
if not prev or prev == ARGV[1] then return false end
local handed = redis.call('HGET', KEYS[2], 'h') or '0'
redis.call('HSET', KEYS[2], 'o', ARGV[1])
redis.call('HDEL', KEYS[2], 'h')
local out = {prev, handed}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if all[i] ~= 'o' and all[i] ~= 'h' then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out`)

// handOverScript: KEYS[1] lease, KEYS[2] member list; ARGV[1] lease value.
var handOverScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'h', '1')
return 1`)

// TakenMembers is what a node taking a channel over finds of its previous
// owner.
type TakenMembers struct {
	Members  []ChannelMember
	Previous string // the previous owner's lease value
	// HandedOver: the previous owner gave the channel up in a drain
	// (HandOverChannelMembers) instead of dying with it.
	HandedOver bool
}

// PutChannelMember records (or replaces) m in the channel's member list
// while f holds. It reports false, changing nothing, when it does not.
func (r *Redis) PutChannelMember(ctx context.Context, f Fence, app, channel string, m ChannelMember) (bool, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("store: channel member: %w", err)
	}
	return r.memberWrite(ctx, f, app, channel, strconv.FormatUint(uint64(m.UID), 10), string(b))
}

// DeleteChannelMember removes uid from the channel's member list while f
// holds (the list goes when its last member does); false when f does not.
func (r *Redis) DeleteChannelMember(ctx context.Context, f Fence, app, channel string, uid uint32) (bool, error) {
	return r.memberWrite(ctx, f, app, channel, strconv.FormatUint(uint64(uid), 10), "")
}

func (r *Redis) memberWrite(ctx context.Context, f Fence, app, channel, field, rec string) (bool, error) {
	n, err := putMemberScript.Run(ctx, r.rdb, r.membersKeys(f, app, channel), f.Value, field, rec, membersIndexMember(app, channel)).Int()
	if err != nil {
		return false, fmt.Errorf("store: channel member list: %w", err)
	}
	return n == 1, nil
}

// DropChannelMembers deletes the channel's member list while f holds (the
// channel ended, or its owner hands it over cleanly); false when f does not.
func (r *Redis) DropChannelMembers(ctx context.Context, f Fence, app, channel string) (bool, error) {
	n, err := dropMembersScript.Run(ctx, r.rdb, r.membersKeys(f, app, channel), f.Value, membersIndexMember(app, channel)).Int()
	if err != nil {
		return false, fmt.Errorf("store: channel member list: %w", err)
	}
	return n == 1, nil
}

// HandOverChannelMembers marks the channel's member list, while f holds, as
// handed over: its owner gives the channel up in a drain and its members,
// told to rejoin, continue on the next owner. False when f does not hold
// or there is no list.
func (r *Redis) HandOverChannelMembers(ctx context.Context, f Fence, app, channel string) (bool, error) {
	n, err := handOverScript.Run(ctx, r.rdb, []string{f.Key, r.membersKey(app, channel)}, f.Value).Int()
	if err != nil {
		return false, fmt.Errorf("store: hand channel members over: %w", err)
	}
	return n == 1, nil
}

// TakeChannelMembers is called by a node that was just granted the
// channel's lease f: when the channel's member list was written under
// another lease (a previous owner that died, or drained, without ending
// the channel), it returns that list and marks it as taken under f. Of any
// number of calls, only the first under a given lease gets the members;
// the others, calls whose f no longer holds, and a channel without a list
// get none.
func (r *Redis) TakeChannelMembers(ctx context.Context, f Fence, app, channel string) (TakenMembers, error) {
	vals, err := takeMembersScript.Run(ctx, r.rdb, []string{f.Key, r.membersKey(app, channel)}, f.Value).StringSlice()
	if err == redis.Nil {
		return TakenMembers{}, nil
	}
	if err != nil {
		return TakenMembers{}, fmt.Errorf("store: take channel members: %w", err)
	}
	if len(vals) < 2 {
		return TakenMembers{}, nil
	}
	t := TakenMembers{Previous: vals[0], HandedOver: vals[1] == "1", Members: make([]ChannelMember, 0, (len(vals)-2)/2)}
	for i := 2; i+1 < len(vals); i += 2 {
		uid, err := strconv.ParseUint(vals[i], 10, 32)
		if err != nil {
			continue // not a member field
		}
		var m ChannelMember
		if err := json.Unmarshal([]byte(vals[i+1]), &m); err != nil {
			continue // a damaged record: that member cannot be reported
		}
		m.UID = uint32(uid)
		t.Members = append(t.Members, m)
	}
	return t, nil
}

// ChannelsWithMembers lists the channels that have a member list, as (app,
// channel) pairs, in no order. A list whose channel no node owns was left
// by a dead owner whose members nobody brought back.
func (r *Redis) ChannelsWithMembers(ctx context.Context) ([][2]string, error) {
	ms, err := r.rdb.SMembers(ctx, r.key(redisMembersIndex)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: channels with members: %w", err)
	}
	out := make([][2]string, 0, len(ms))
	for _, m := range ms {
		if app, ch, ok := parseMembersIndexMember(m); ok {
			out = append(out, [2]string{app, ch})
		}
	}
	return out, nil
}
