package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/minirtc/minirtc/internal/config/defaults"
)

// ErrLeaseLost is returned when the lease expired or another node holds it now.
var ErrLeaseLost = errors.New("cluster: channel lease lost")

// ErrDraining is returned when the node is draining: it takes no new channels.
var ErrDraining = errors.New("cluster: node draining, it takes no new channels")

// ErrNoNode is returned when no live node may take a new channel.
var ErrNoNode = errors.New("cluster: no live node takes new channels")

// Load is what a node reports of its own load; placement compares it.
type Load struct {
	CPU         float64 `json:"cpu"`         // share of the machine's cores in use, 0..1
	Connections int     `json:"connections"` // open client connections
	EgressBps   int64   `json:"egressBps"`   // media bytes per second sent
	Channels    int     `json:"channels"`    // channels it owns
}

// score orders nodes for placement: lower is less loaded. CPU dominates;
// connections and egress break ties between idle nodes.
func (l Load) score() float64 {
	return l.CPU*1000 + float64(l.Connections)/100 + float64(l.EgressBps)/(125<<20)
}

// Score is the load placement compares (lower is less loaded): a node at
// full CPU scores 1000, each 100 connections or 1 Gbit/s of egress 1 more.
func (l Load) Score() float64 { return l.score() }

// NodeInfo is one node as the registry holds it.
type NodeInfo struct {
	ID string `json:"id"`
	// Gateway is the base URL clients reach the node's HTTP listener at
	// (allocation answers, WHIP/WHEP redirects), e.g. https://n1.example.com.
	Gateway string `json:"gateway"`
	// RTMP is the host:port of its RTMP listener as clients reach it.
	RTMP string `json:"rtmp"`
	// Internal is the base URL other nodes reach its HTTP listener at
	// (relays, forwarded signaling).
	Internal string `json:"internal"`
	// API is the base URL other nodes reach its REST API at (forwarded and
	// merged API calls); empty when the API is off.
	API      string    `json:"api,omitempty"`
	Load     Load      `json:"load"`
	Draining bool      `json:"draining"` // takes no new channels
	Started  time.Time `json:"started"`
	Seen     time.Time `json:"seen"` // the heartbeat that wrote it
}

// Config names the cluster's keys and times.
type Config struct {
	// Prefix starts every key (default "minirtc"); several clusters may share
	// one Redis with different prefixes.
	Prefix string
	// NodeTTL is how long a node stays listed after its last heartbeat.
	NodeTTL time.Duration
	// LeaseTTL is how long a channel lease lasts without renewal: the time a
	// dead owner's channels wait before another node may take them.
	LeaseTTL time.Duration
}

// Cluster is one node's handle on the shared state.
type Cluster struct {
	rdb    redis.UniversalClient
	cfg    Config
	prefix string
	now    func() time.Time
}

// New returns a handle over rdb. The caller owns rdb.
func New(rdb redis.UniversalClient, cfg Config) (*Cluster, error) {
	if rdb == nil {
		return nil, errors.New("cluster: New needs a Redis client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = defaults.ClusterPrefix
	}
	if cfg.NodeTTL <= 0 || cfg.LeaseTTL <= 0 {
		return nil, fmt.Errorf("cluster: NodeTTL (%s) and LeaseTTL (%s) must be positive", cfg.NodeTTL, cfg.LeaseTTL)
	}
	return &Cluster{rdb: rdb, cfg: cfg, prefix: "{" + cfg.Prefix + "}:", now: time.Now}, nil
}

func (c *Cluster) nodeKey(id string) string { return c.prefix + "node:" + id }
func (c *Cluster) nodesKey() string         { return c.prefix + "nodes" }
func (c *Cluster) fenceKey() string         { return c.prefix + "lease:fence" }

// leaseKey names a channel's lease; the channel name is length-prefixed so
// no (app, channel) pair can spell another's key.
func (c *Cluster) leaseKey(app, channel string) string {
	return c.prefix + "lease:" + app + ":" + strconv.Itoa(len(channel)) + ":" + channel
}

// LeaseKey is the full Redis key of the channel's lease (for writes fenced
// by it, store.Fence).
func (c *Cluster) LeaseKey(app, channel string) string { return c.leaseKey(app, channel) }

// Heartbeat writes n (Seen set to now) with the node time to live. Call it
// more often than NodeTTL (a third of it is a good period).
func (c *Cluster) Heartbeat(ctx context.Context, n NodeInfo) error {
	if n.ID == "" || strings.ContainsAny(n.ID, ": \t\n") {
		return fmt.Errorf("cluster: bad node id %q", n.ID)
	}
	n.Seen = c.now()
	b, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("cluster: encode node: %w", err)
	}
	_, err = c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, c.nodeKey(n.ID), b, c.cfg.NodeTTL)
		p.SAdd(ctx, c.nodesKey(), n.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: heartbeat: %w", err)
	}
	return nil
}

// Leave removes node id from the registry at once (a clean shutdown).
func (c *Cluster) Leave(ctx context.Context, id string) error {
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, c.nodeKey(id))
		p.SRem(ctx, c.nodesKey(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: leave: %w", err)
	}
	return nil
}

// Nodes lists the live nodes ordered by id. Nodes whose key expired are
// dropped from the member set on the way.
func (c *Cluster) Nodes(ctx context.Context) ([]NodeInfo, error) {
	ids, err := c.rdb.SMembers(ctx, c.nodesKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster: nodes: %w", err)
	}
	out := []NodeInfo{}
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = c.nodeKey(id)
	}
	vals, err := c.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster: nodes: %w", err)
	}
	var dead []any
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			dead = append(dead, ids[i])
			continue
		}
		var n NodeInfo
		if err := json.Unmarshal([]byte(s), &n); err != nil {
			return nil, fmt.Errorf("cluster: decode node %s: %w", ids[i], err)
		}
		out = append(out, n)
	}
	if len(dead) > 0 {
		// Best effort: a failure only leaves stale ids for the next call.
		_ = c.rdb.SRem(ctx, c.nodesKey(), dead...).Err()
	}
	slices.SortFunc(out, func(a, b NodeInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Node returns the live node id, or ok false.
func (c *Cluster) Node(ctx context.Context, id string) (NodeInfo, bool, error) {
	b, err := c.rdb.Get(ctx, c.nodeKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return NodeInfo{}, false, nil
	}
	if err != nil {
		return NodeInfo{}, false, fmt.Errorf("cluster: node %s: %w", id, err)
	}
	var n NodeInfo
	if err := json.Unmarshal(b, &n); err != nil {
		return NodeInfo{}, false, fmt.Errorf("cluster: decode node %s: %w", id, err)
	}
	return n, true, nil
}

// Lease is one grant of a channel to a node.
type Lease struct {
	App, Channel string
	Owner        string // node id
	// Token is the grant's fencing token: every grant has a larger one than
	// all grants before it, in the whole cluster.
	Token uint64
}

// Value is the lease as Redis stores it ("owner token").
func (l Lease) Value() string { return l.Owner + " " + strconv.FormatUint(l.Token, 10) }

func parseLease(app, channel, v string) (Lease, error) {
	owner, tok, ok := strings.Cut(v, " ")
	t, err := strconv.ParseUint(tok, 10, 64)
	if !ok || err != nil || owner == "" {
		return Lease{}, fmt.Errorf("cluster: malformed lease %q", v)
	}
	return Lease{App: app, Channel: channel, Owner: owner, Token: t}, nil
}

// acquire: KEYS = lease, fence counter; ARGV = owner, ttl ms. Answers the
// lease value in force (the existing one, or the new grant) and 1 when it is
// a new grant.
var acquire = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then return {cur, 0} end
local tok = redis.call('INCR', KEYS[2])
local v = ARGV[1] .. ' ' .. tok
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
return {v, 1}`)

// Acquire grants the channel to owner unless a node (owner included) holds
// it; it returns the lease in force and whether this call granted it.
func (c *Cluster) Acquire(ctx context.Context, app, channel, owner string) (Lease, bool, error) {
	res, err := acquire.Run(ctx, c.rdb, []string{c.leaseKey(app, channel), c.fenceKey()}, owner, c.cfg.LeaseTTL.Milliseconds()).Slice()
	if err != nil {
		return Lease{}, false, fmt.Errorf("cluster: acquire %s/%s: %w", app, channel, err)
	}
	v, _ := res[0].(string)
	created, _ := res[1].(int64)
	l, err := parseLease(app, channel, v)
	if err != nil {
		return Lease{}, false, err
	}
	return l, created == 1, nil
}

// renew: KEYS = lease; ARGV = expected value, ttl ms. 1 when renewed.
var renew = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`)

// Renew extends l by the lease time, or returns ErrLeaseLost when l is no
// longer the lease in force.
func (c *Cluster) Renew(ctx context.Context, l Lease) error {
	ok, err := renew.Run(ctx, c.rdb, []string{c.leaseKey(l.App, l.Channel)}, l.Value(), c.cfg.LeaseTTL.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("cluster: renew %s/%s: %w", l.App, l.Channel, err)
	}
	if ok == 0 {
		return fmt.Errorf("%s/%s (token %d): %w", l.App, l.Channel, l.Token, ErrLeaseLost)
	}
	return nil
}

// Check returns nil when l is still the lease in force (the fencing check a
// node makes before acting as the channel's owner), else ErrLeaseLost.
func (c *Cluster) Check(ctx context.Context, l Lease) error {
	cur, err := c.Owner(ctx, l.App, l.Channel)
	if err != nil {
		return err
	}
	if cur == nil || *cur != l {
		return fmt.Errorf("%s/%s (token %d): %w", l.App, l.Channel, l.Token, ErrLeaseLost)
	}
	return nil
}

// release: KEYS = lease; ARGV = expected value. Deletes only its own grant.
var release = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// Release gives l up (the channel ended, or the node drains). Releasing a
// lease that was already lost is not an error.
func (c *Cluster) Release(ctx context.Context, l Lease) error {
	if err := release.Run(ctx, c.rdb, []string{c.leaseKey(l.App, l.Channel)}, l.Value()).Err(); err != nil {
		return fmt.Errorf("cluster: release %s/%s: %w", l.App, l.Channel, err)
	}
	return nil
}

// Owner returns the lease in force for the channel, or nil when no node
// owns it.
func (c *Cluster) Owner(ctx context.Context, app, channel string) (*Lease, error) {
	v, err := c.rdb.Get(ctx, c.leaseKey(app, channel)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: owner of %s/%s: %w", app, channel, err)
	}
	l, err := parseLease(app, channel, v)
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// Unowned returns those of the channels (app, channel pairs) that no node
// owns, in one round trip.
func (c *Cluster) Unowned(ctx context.Context, chans [][2]string) ([][2]string, error) {
	if len(chans) == 0 {
		return nil, nil
	}
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(chans))
	for i, ch := range chans {
		cmds[i] = pipe.Exists(ctx, c.leaseKey(ch[0], ch[1]))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("cluster: channel owners: %w", err)
	}
	var out [][2]string
	for i, cmd := range cmds {
		if cmd.Val() == 0 {
			out = append(out, chans[i])
		}
	}
	return out, nil
}

// Claim reports whether this call won the named cluster-wide chore for
// period (a key set only if absent, with that expiry): of the nodes that
// try within one period, one wins.
func (c *Cluster) Claim(ctx context.Context, chore, node string, period time.Duration) (bool, error) {
	ok, err := c.rdb.SetNX(ctx, c.prefix+"chore:"+chore, node, period).Result()
	if err != nil {
		return false, fmt.Errorf("cluster: claim %s: %w", chore, err)
	}
	return ok, nil
}

// Place answers the node that owns the channel, placing it first when no
// node does: the least-loaded live node that is not draining gets a lease
// (it renews it once its first client arrives; an unused lease expires).
func (c *Cluster) Place(ctx context.Context, app, channel string) (Lease, NodeInfo, error) {
	if l, err := c.Owner(ctx, app, channel); err != nil {
		return Lease{}, NodeInfo{}, err
	} else if l != nil {
		n, ok, err := c.Node(ctx, l.Owner)
		if err != nil {
			return Lease{}, NodeInfo{}, err
		}
		if ok {
			return *l, n, nil
		}
		// The owner is gone but its lease has not expired yet: its members
		// must wait for the lease (a node that is only slow to heartbeat
		// must not be displaced).
		return *l, NodeInfo{ID: l.Owner}, nil
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return Lease{}, NodeInfo{}, err
	}
	best := -1
	for i, n := range nodes {
		if n.Draining {
			continue
		}
		if best < 0 || n.Load.score() < nodes[best].Load.score() {
			best = i
		}
	}
	if best < 0 {
		return Lease{}, NodeInfo{}, ErrNoNode
	}
	l, _, err := c.Acquire(ctx, app, channel, nodes[best].ID)
	if err != nil {
		return Lease{}, NodeInfo{}, err
	}
	if l.Owner != nodes[best].ID { // another node placed it meanwhile
		n, _, err := c.Node(ctx, l.Owner)
		return l, n, err
	}
	return l, nodes[best], nil
}
