package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions says how a node reaches the cluster's Redis: one server (URL),
// a Sentinel-managed primary (SentinelAddrs and MasterName) or a Redis
// Cluster (ClusterAddrs). Exactly one of the three.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port[/db] (rediss:// for TLS).
	URL string
	// SentinelAddrs and MasterName name a Sentinel-managed primary.
	SentinelAddrs []string
	MasterName    string
	// ClusterAddrs are seed nodes of a Redis Cluster.
	ClusterAddrs []string
	// Username and Password authenticate (they override the URL's).
	Username, Password string
	// TLS turns TLS on for Sentinel and Cluster (a rediss:// URL does it
	// for a single server); CAFile adds a CA to the system's.
	TLS    bool
	CAFile string
	// Timeout bounds dialing and each command (default 2 s): a Redis that
	// does not answer must not stall a node.
	Timeout time.Duration
}

// Dial returns a client for opts. It does not contact Redis.
func Dial(opts RedisOptions) (redis.UniversalClient, error) {
	n := 0
	for _, set := range []bool{opts.URL != "", len(opts.SentinelAddrs) > 0, len(opts.ClusterAddrs) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("cluster: set exactly one of the Redis URL, the Sentinel addresses or the Cluster addresses")
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	var tlsConf *tls.Config
	if opts.TLS || opts.CAFile != "" {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
		if opts.CAFile != "" {
			pem, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("cluster: Redis CA file: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("cluster: Redis CA file %s holds no PEM certificate", opts.CAFile)
			}
			tlsConf.RootCAs = pool
		}
	}
	switch {
	case opts.URL != "":
		o, err := redis.ParseURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("cluster: Redis URL: %w", err)
		}
		if opts.Username != "" {
			o.Username = opts.Username
		}
		if opts.Password != "" {
			o.Password = opts.Password
		}
		if tlsConf != nil {
			if o.TLSConfig != nil {
				tlsConf.ServerName = o.TLSConfig.ServerName
			}
			o.TLSConfig = tlsConf
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = timeout, timeout, timeout
		return redis.NewClient(o), nil
	case len(opts.SentinelAddrs) > 0:
		if opts.MasterName == "" {
			return nil, errors.New("cluster: Sentinel needs the primary's name (masterName)")
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: opts.MasterName, SentinelAddrs: opts.SentinelAddrs,
			Username: opts.Username, Password: opts.Password, TLSConfig: tlsConf,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		}), nil
	default:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: opts.ClusterAddrs, Username: opts.Username, Password: opts.Password, TLSConfig: tlsConf,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		}), nil
	}
}
