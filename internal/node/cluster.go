package node

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/edge"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/redis/go-redis/v9"
)

// clusterPart is the node's membership of a cluster (cluster mode only):
// the shared Redis, the registry entry it keeps alive and the leases of the
// channels it owns.
type clusterPart struct {
	rdb    redis.UniversalClient
	c      *cluster.Cluster
	agent  *cluster.Agent
	auth   *cluster.Auth
	self   cluster.NodeInfo
	prefix string // the Redis key prefix (cluster.prefix)
	// origin serves this node's streams to the other nodes; puller pulls
	// the streams local readers want from the nodes that have them.
	origin *edge.Origin
	puller *edge.Puller
}

// openClusterStore dials the cluster's Redis and opens the shared store on
// it. The returned client is the node's; it closes it when it stops.
func openClusterStore(cfg config.Config) (store.Store, redis.UniversalClient, error) {
	cl := cfg.Cluster
	rdb, err := cluster.Dial(cluster.RedisOptions{
		URL: cl.Redis, SentinelAddrs: cl.RedisSentinels, MasterName: cl.RedisMaster, ClusterAddrs: cl.RedisCluster,
		Password: cl.RedisPassword, TLS: cl.RedisTLS, CAFile: cl.RedisCA,
	})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := store.OpenRedis(ctx, rdb, cl.Prefix)
	if err != nil {
		_ = rdb.Close()
		return nil, nil, fmt.Errorf("%w: check cluster.redis (and its password) and that Redis is reachable from this node", err)
	}
	return st, rdb, nil
}

// wireCluster joins the node to its cluster once its listeners are bound.
func (n *Node) wireCluster(cfg config.Config, rdb redis.UniversalClient) error {
	cl := cfg.Cluster
	c, err := cluster.New(rdb, cluster.Config{Prefix: cl.Prefix, NodeTTL: cl.NodeTTL, LeaseTTL: cl.LeaseTTL})
	if err != nil {
		return err
	}
	secret, err := n.store.Secret(context.Background(), "cluster")
	if err != nil {
		return fmt.Errorf("node: cluster secret: %w", err)
	}
	_, httpPort, _ := net.SplitHostPort(n.HTTPAddr())
	id := cl.NodeID
	if id == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "node"
		}
		id = host + "-" + httpPort
	}
	auth, err := cluster.NewAuth(secret, id)
	if err != nil {
		return err
	}
	self := cluster.NodeInfo{
		ID:       id,
		Gateway:  n.advertiseURL(cfg),
		RTMP:     n.advertiseRTMP(cfg),
		Internal: n.advertiseURL(cfg),
		Started:  time.Now(),
	}
	p := &clusterPart{rdb: rdb, c: c, auth: auth, self: self, prefix: cl.Prefix}
	n.cluster = p
	return nil
}

// startClusterAgent makes the agent that keeps the node in the registry,
// once every address of the node is known (the API's is set by wireAPI).
func (n *Node) startClusterAgent() {
	p := n.cluster
	if p == nil {
		return
	}
	load := newLoadSampler(n)
	p.agent = p.c.NewAgent(cluster.AgentConfig{
		Info: p.self,
		Load: load.sample,
		Log:  n.log.With("component", "cluster"),
		OnTaken: func(ctx context.Context, l cluster.Lease) {
			if n.succ != nil {
				n.succ.taken(ctx, l)
			}
		},
		OnLost: func(l cluster.Lease) {
			// Another node serves the channel now (this one was paused or
			// cut off from Redis past its lease): its members here rejoin
			// and land there. Fencing: this node stops acting for it.
			if n.succ != nil {
				n.succ.lost(l.App, l.Channel)
			}
			moved := n.gateway.Move(l.App, l.Channel)
			n.log.Warn("channel moved to another node; its members here were told to rejoin", "app", l.App, "channel", l.Channel, "members", moved)
		},
	})
	n.services = append(n.services, service{name: "cluster", run: func(ctx context.Context) error {
		p.agent.Run(ctx)
		return nil
	}})
	cl := n.cfg.Cluster
	self := p.self
	n.log.Info("cluster mode", "node", self.ID, "advertise", self.Gateway, "redis", redisTarget(cl))
}

// redisTarget names the configured Redis for logs, without credentials.
func redisTarget(cl config.Cluster) string {
	switch {
	case cl.Redis != "":
		if o, err := redis.ParseURL(cl.Redis); err == nil {
			return o.Addr
		}
		return "(unparsable URL)"
	case len(cl.RedisSentinels) > 0:
		return "sentinel " + cl.RedisMaster
	default:
		return "cluster " + fmt.Sprint(cl.RedisCluster)
	}
}

// advertiseURL is the base URL of this node's HTTP listener for clients and
// the other nodes.
func (n *Node) advertiseURL(cfg config.Config) string {
	if cfg.Cluster.Advertise != "" {
		return cfg.Cluster.Advertise
	}
	scheme := "http"
	if cfg.HTTP.TLSCert != "" {
		scheme = "https"
	}
	host, port, _ := net.SplitHostPort(n.HTTPAddr())
	if cfg.PublicHost != "" {
		host = cfg.PublicHost
	} else if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// advertiseHostURL is the base URL of a listener bound to addr, for the
// other nodes: addr's own IP when it names one, else the advertised host.
func (n *Node) advertiseHostURL(cfg config.Config, addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if u, err := url.Parse(n.advertiseURL(cfg)); err == nil {
			host = u.Hostname()
		}
	}
	scheme := "http"
	if cfg.HTTP.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// advertiseRTMP is host:port of this node's RTMP listener for clients.
func (n *Node) advertiseRTMP(cfg config.Config) string {
	host, port, _ := net.SplitHostPort(n.RTMPAddr())
	if cfg.PublicHost != "" {
		host = cfg.PublicHost
	} else if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// loadSampler measures the node's load for its heartbeats: the process's
// CPU share of the machine since the last sample, and its open client
// connections.
type loadSampler struct {
	n *Node

	mu       sync.Mutex
	lastCPU  time.Duration
	lastWall time.Time
}

func newLoadSampler(n *Node) *loadSampler {
	return &loadSampler{n: n, lastCPU: processCPU(), lastWall: time.Now()}
}

func (s *loadSampler) sample() cluster.Load {
	s.mu.Lock()
	defer s.mu.Unlock()
	cpu, now := processCPU(), time.Now()
	var share float64
	if wall := now.Sub(s.lastWall); wall > 0 {
		share = float64(cpu-s.lastCPU) / float64(wall) / float64(runtime.NumCPU())
	}
	s.lastCPU, s.lastWall = cpu, now
	l := cluster.Load{CPU: share}
	if s.n.connLimit != nil {
		l.Connections = s.n.connLimit.Open()
	}
	return l
}

// processCPU is the user and system CPU time the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ClusterNode is this node's registry entry (cluster mode), or ok false.
func (n *Node) ClusterNode() (cluster.NodeInfo, bool) {
	if n.cluster == nil {
		return cluster.NodeInfo{}, false
	}
	return n.cluster.self, true
}

// claimBootstrap reports whether this node is the one that creates the
// cluster's first app: the first node to set the bootstrap key wins.
func (p *clusterPart) claimBootstrap(ctx context.Context) (bool, error) {
	won, err := p.rdb.SetNX(ctx, "{"+p.prefix+"}:bootstrap", p.self.ID, 0).Result()
	if err != nil {
		return false, fmt.Errorf("node: cluster bootstrap: %w", err)
	}
	return won, nil
}
