package deploy

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/redistest"
	"github.com/minirtc/minirtc/internal/store"
)

// documentedRedisKeys returns the key patterns (without the prefix) in the
// first column of the table under "## What Redis holds" in docs/cluster.md.
func documentedRedisKeys(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../docs/cluster.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## What Redis holds")
	if !ok {
		t.Fatal("docs/cluster.md has no section \"What Redis holds\"")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var keys []string
	for _, line := range strings.Split(sec, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || strings.TrimSpace(cells[1]) == "key" || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cells[1], -1) {
			keys = append(keys, m[1])
		}
	}
	return keys
}

// keyPattern is the documented form of a Redis key of the cluster: the
// prefix dropped, node ids and channel names replaced by placeholders.
func keyPattern(key, prefix string) string {
	k := strings.TrimPrefix(key, prefix)
	switch {
	case strings.HasPrefix(k, "node:"):
		return "node:{id}"
	case strings.HasPrefix(k, "lease:") && k != "lease:fence":
		return "lease:{app}:{len}:{channel}"
	case strings.HasPrefix(k, "members:") && k != "members:index":
		return "members:{app}:{len}:{channel}"
	}
	return k
}

func usedMemory(ctx context.Context, t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("INFO memory has no used_memory")
	return 0
}

// TestRedisFootprint fills a real Redis the way a cluster does (three nodes'
// registry entries, apps, an API key, banning rules, webhook endpoints, the
// secrets, webhook deliveries and channel leases, through internal/cluster
// and internal/store) and checks that the keys it finds are exactly the ones
// docs/cluster.md lists. It logs the memory each lease, node entry and outbox
// entry takes (the figures in docs/cluster.md):
//
//	go test -run TestRedisFootprint -v ./deploy/
func TestRedisFootprint(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	const prefix = "minirtc"
	c, err := cluster.New(rdb, cluster.Config{Prefix: prefix, NodeTTL: time.Minute, LeaseTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenRedis(ctx, rdb, prefix)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := 1; i <= 3; i++ {
		n := cluster.NodeInfo{
			ID: fmt.Sprintf("n%d", i), Gateway: fmt.Sprintf("https://n%d.rtc.example.com", i),
			RTMP: fmt.Sprintf("n%d.rtc.example.com:1935", i), Internal: fmt.Sprintf("https://n%d.rtc.example.com", i),
			API:  fmt.Sprintf("https://n%d.rtc.example.com/rest", i),
			Load: cluster.Load{CPU: 0.25, Connections: 1200, EgressBps: 90 << 20, Channels: 300}, Started: now,
		}
		if err := c.Heartbeat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	var apps []store.App
	for i := range 5 {
		a, err := store.NewApp(fmt.Sprintf("app-%d", i), now)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutApp(ctx, a); err != nil {
			t.Fatal(err)
		}
		apps = append(apps, a)
	}
	key, _, err := store.NewAPIKey("ops", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		r := store.KickingRule{App: apps[0].ID, Channel: fmt.Sprintf("room-%d", i), UID: uint32(1000 + i),
			Privileges: []string{"join_channel"}, Until: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now, KeyID: key.ID}
		if _, err := st.PutKickingRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var eps []store.WebhookEndpoint
	for _, a := range apps {
		e, err := store.NewWebhookEndpoint(a.ID, "https://backend.example.com/ncs", "0123456789abcdef0123", now)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutWebhookEndpoint(ctx, e); err != nil {
			t.Fatal(err)
		}
		eps = append(eps, e)
	}
	for _, name := range []string{"cluster", "media-url"} {
		if _, err := st.Secret(ctx, name); err != nil {
			t.Fatal(err)
		}
	}

	// Outbox: pending deliveries like a user-joined notice with two failed
	// attempts recorded.
	const deliveries = 2000
	before := usedMemory(ctx, t, rdb)
	batch := make([]store.OutboxEntry, 0, 100)
	jsonBytes := 0
	for i := range deliveries {
		ch := fmt.Sprintf("channel-%d", i%500)
		e := store.OutboxEntry{
			NoticeID: fmt.Sprintf("%032x", i), App: apps[0].ID, Endpoint: eps[0].ID, Channel: ch, EventType: 103,
			Payload:   []byte(fmt.Sprintf(`{"channelName":%q,"uid":%d,"platform":7,"clientSeq":%d,"ts":%d}`, ch, 100000+i, now.UnixMilli(), now.Unix())),
			CreatedAt: now, RetryUntil: now.Add(24 * time.Hour), Status: store.DeliveryPending, Attempts: 2,
			NextAttempt: now.Add(4 * time.Second), LastAttempt: now, LastStatus: 503, LastError: "HTTP 503 from the endpoint",
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			if _, err := st.AppendOutbox(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	sample, err := rdb.HRandField(ctx, "{"+prefix+"}:outbox", 1).Result()
	if err != nil || len(sample) != 1 {
		t.Fatalf("outbox sample: %v %v", sample, err)
	}
	if v, err := rdb.HGet(ctx, "{"+prefix+"}:outbox", sample[0]).Result(); err == nil {
		jsonBytes = len(v)
	}
	perEntry := float64(usedMemory(ctx, t, rdb)-before) / deliveries

	// Leases: one per live channel, named like real ones.
	const leases = 10000
	before = usedMemory(ctx, t, rdb)
	for i := range leases {
		if _, _, err := c.Acquire(ctx, apps[i%len(apps)].ID, fmt.Sprintf("channel-%d", i), fmt.Sprintf("n%d", i%3+1)); err != nil {
			t.Fatal(err)
		}
	}
	perLease := float64(usedMemory(ctx, t, rdb)-before) / leases

	// Member lists: the owner's record of each channel's members, written
	// under its lease (members of 3 of the channels above, whose first
	// member costs the list and its index entry).
	const listed, perList = 2000, 3
	before = usedMemory(ctx, t, rdb)
	member := func(i, m int) {
		app, ch := apps[i%len(apps)].ID, fmt.Sprintf("channel-%d", i)
		f := store.Fence{Key: c.LeaseKey(app, ch), Value: fmt.Sprintf("n%d %d", i%3+1, i+1)}
		rec := store.ChannelMember{UID: uint32(100000 + m), Account: "", Role: 1, JoinedMs: now.UnixMilli(), Kind: "wechat", OS: "Android 14"}
		if ok, err := st.PutChannelMember(ctx, f, app, ch, rec); err != nil || !ok {
			t.Fatalf("member list of %s: %v %v", ch, ok, err)
		}
	}
	for i := range listed {
		member(i, 0)
	}
	mid := usedMemory(ctx, t, rdb)
	for i := range listed {
		for m := 1; m < perList; m++ {
			member(i, m)
		}
	}
	perListBytes := float64(mid-before) / listed
	perMember := float64(usedMemory(ctx, t, rdb)-mid) / (listed * (perList - 1))
	t.Logf("member lists: %.0f bytes for a channel's first member (list, owner field, index entry), %.0f bytes per further member (used_memory over %d channels of %d members)",
		perListBytes, perMember, listed, perList)
	if _, err := c.Claim(ctx, "members", "n1", time.Minute); err != nil {
		t.Fatal(err)
	}

	nodeBytes, err := rdb.MemoryUsage(ctx, "{"+prefix+"}:node:n1", 0).Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("per channel lease: %.0f bytes (used_memory over %d leases)", perLease, leases)
	t.Logf("per node entry: %d bytes (MEMORY USAGE)", nodeBytes)
	t.Logf("per pending outbox entry: %.0f bytes (used_memory over %d entries of %d bytes of JSON)", perEntry, deliveries, jsonBytes)

	// Every key is documented, and every documented key exists.
	found := map[string]bool{}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if !strings.HasPrefix(k, "{"+prefix+"}:") {
			t.Errorf("key %q does not start with the prefix {%s}:", k, prefix)
		}
		found[keyPattern(k, "{"+prefix+"}:")] = true
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	doc := documentedRedisKeys(t)
	for k := range found {
		if !slices.Contains(doc, k) {
			t.Errorf("Redis holds %q, which docs/cluster.md does not list", k)
		}
	}
	for _, k := range doc {
		if !found[k] {
			t.Errorf("docs/cluster.md lists %q, which a cluster does not write", k)
		}
	}
}
