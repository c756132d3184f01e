package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestShippedFileEqualsDefault(t *testing.T) {
	c := Config{}
	if err := c.LoadYAML(DefaultYAML); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("minirtc.yml differs from Default():\n file %+v\n code %+v", c, Default())
	}
	// Every key appears in the shipped file.
	for _, f := range c.Fields() {
		leaf := f.Path[strings.LastIndex(f.Path, ".")+1:]
		if !strings.Contains(string(DefaultYAML), leaf+":") {
			t.Errorf("minirtc.yml lacks %s", f.Path)
		}
	}
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEnvName(t *testing.T) {
	cases := map[string]string{
		"gateway.graceTimeout":  "MINIRTC_GATEWAY_GRACE_TIMEOUT",
		"http.addr":             "MINIRTC_HTTP_ADDR",
		"dataDir":               "MINIRTC_DATA_DIR",
		"gateway.playFLV":       "MINIRTC_GATEWAY_PLAY_FLV",
		"media.gopCacheBytes":   "MINIRTC_MEDIA_GOP_CACHE_BYTES",
		"http.shutdownTimeout":  "MINIRTC_HTTP_SHUTDOWN_TIMEOUT",
		"api.key":               "MINIRTC_API_KEY",
		"api.requestsPerSecond": "MINIRTC_API_REQUESTS_PER_SECOND",
	}
	for in, want := range cases {
		if got := EnvName(in); got != want {
			t.Errorf("%s -> %s, want %s", in, got, want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yml")
	os.WriteFile(file, []byte("http:\n  addr: :1111\nrtmp:\n  addr: :2222\ngateway:\n  graceTimeout: 3s\n"), 0o600)
	env := map[string]string{"MINIRTC_RTMP_ADDR": ":3333", "MINIRTC_GATEWAY_GRACE_TIMEOUT": "4s", "MINIRTC_DATA_DIR": "/env"}
	c := Default()
	if err := c.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	// flags last
	for _, f := range c.Fields() {
		if f.Path == "dataDir" {
			f.Set("/flag")
		}
	}
	if c.HTTP.Addr != ":1111" || c.RTMP.Addr != ":3333" || c.Gateway.GraceTimeout != 4*time.Second || c.DataDir != "/flag" {
		t.Fatalf("precedence wrong: %+v", c)
	}
	if c.Gateway.IdleTimeout != 10*time.Second {
		t.Fatal("defaults lost")
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown-key", "http:\n  adr: :1\n", "field adr not found"},
		{"bad-duration", "gateway:\n  graceTimeout: soon\n", "cannot unmarshal !!str `soon` into time.Duration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			err := cfg.LoadYAML([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	cfg := Default()
	err := cfg.LoadEnv(func(k string) (string, bool) { return "x", k == "MINIRTC_GATEWAY_MAX_USERS_PER_CHANNEL" })
	if err == nil || !strings.Contains(err.Error(), "MINIRTC_GATEWAY_MAX_USERS_PER_CHANNEL") {
		t.Fatalf("env error: %v", err)
	}
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"data-dir", func(c *Config) { c.DataDir = "" }, "dataDir must not be empty"},
		{"level", func(c *Config) { c.Log.Level = "loud" }, "log.level must be debug, info, warn or error"},
		{"format", func(c *Config) { c.Log.Format = "xml" }, "log.format must be text or json"},
		{"http-addr", func(c *Config) { c.HTTP.Addr = "8080" }, "http.addr must be host:port"},
		{"rtmp-port", func(c *Config) { c.RTMP.Addr = ":99999" }, "rtmp.addr port must be 0..65535"},
		{"tls-pair", func(c *Config) { c.HTTP.TLSCert = "a.pem" }, "http.tlsCert/http.tlsKey must be set together"},
		{"grace", func(c *Config) { c.Gateway.GraceTimeout = 0 }, "gateway.graceTimeout must be a positive duration"},
		{"read-header", func(c *Config) { c.HTTP.ReadHeaderTimeout = 0 }, "http.readHeaderTimeout must be a positive duration"},
		{"http-idle", func(c *Config) { c.HTTP.IdleTimeout = -time.Second }, "http.idleTimeout must be a positive duration"},
		{"header-bytes", func(c *Config) { c.HTTP.MaxHeaderBytes = 100 }, "http.maxHeaderBytes must be between 4096 and 1048576"},
		{"url-lifetime", func(c *Config) { c.Gateway.URLLifetime = time.Hour }, "gateway.urlLifetime must be at least 24h"},
		{"url-rejoin-grace", func(c *Config) { c.Gateway.URLRejoinGrace = -time.Second }, "gateway.urlRejoinGrace must not be negative"},
		{"msg-size", func(c *Config) { c.Gateway.MaxMessageBytes = 10 }, "gateway.maxMessageBytes must be at least 1024"},
		{"rate", func(c *Config) { c.Gateway.RequestsPerSecond = 0 }, "gateway.requestsPerSecond must be at least 1"},
		{"users", func(c *Config) { c.Gateway.MaxUsersPerChannel = 0 }, "gateway.maxUsersPerChannel must be at least 1"},
		{"queue", func(c *Config) { c.Media.ReaderQueue = 100 }, "media.readerQueue must be a power of two"},
		{"gop", func(c *Config) { c.Media.GOPCacheFrames = 0 }, "media.gopCacheFrames/gopCacheBytes"},
		{"limits", func(c *Config) { c.Media.MaxPublishers = -1 }, "media.maxPublishers/maxReadersPerStream must not be negative"},
		{"handshake", func(c *Config) { c.RTMP.HandshakeTimeout = 0 }, "rtmp.handshakeTimeout must be a positive duration"},
		{"read", func(c *Config) { c.RTMP.ReadTimeout = -time.Second }, "rtmp.readTimeout must be a positive duration"},
		{"batch", func(c *Config) { c.Media.BatchInterval = 2 * time.Second }, "media.batchInterval must be between 0 and 1s"},
		{"udp-addr", func(c *Config) { c.WebRTC.UDPAddr = "8443" }, "webrtc.udpAddr must be host:port"},
		{"port-range", func(c *Config) { c.WebRTC.PortMin, c.WebRTC.PortMax = 50000, 40000 }, "webrtc.portMin/portMax must both be set"},
		{"port-half", func(c *Config) { c.WebRTC.PortMin = 50000 }, "webrtc.portMin/portMax must both be set"},
		{"public-ip", func(c *Config) { c.WebRTC.PublicIPs = []string{"example.com"} }, `webrtc.publicIPs "example.com" is not an IP address`},
		{"diag-members", func(c *Config) { c.Diagnostics.MaxMembers = 0 }, "diagnostics.maxMembers/logRetentionDays/logDayMiB must be at least 1"},
		{"diag-days", func(c *Config) { c.Diagnostics.LogRetentionDays = -1 }, "diagnostics.maxMembers/logRetentionDays/logDayMiB must be at least 1"},
		{"diag-age", func(c *Config) { c.Diagnostics.MemberMaxAge = 0 }, "diagnostics.memberMaxAge must be a positive duration"},
		{"api-addr", func(c *Config) { c.API.Addr = "8081" }, "api.addr must be empty (the HTTP port) or host:port"},
		{"api-key-colon", func(c *Config) { c.API.Key = "no-colon-secret-at-all" }, "api.key must be id:secret"},
		{"api-key-short", func(c *Config) { c.API.Key = "ci:short" }, "api.key must be id:secret"},
		{"api-key-id", func(c *Config) { c.API.Key = "a b:0123456789abcdef" }, "api.key must be id:secret"},
		{"api-rate", func(c *Config) { c.API.RequestsPerSecond = 0 }, "api.requestsPerSecond must be at least 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			c.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	b, err := Default().YAML()
	if err != nil {
		t.Fatal(err)
	}
	c := Config{}
	if err := c.LoadYAML(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("print-config output does not load back:\n%s", b)
	}
}

func TestEnvLists(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"203.0.113.7", []string{"203.0.113.7"}},
		{"203.0.113.7, 2001:db8::1", []string{"203.0.113.7", "2001:db8::1"}},
		{"", []string{}},
		{" , ", []string{}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			cfg := Default()
			env := map[string]string{"MINIRTC_WEBRTC_PUBLIC_IPS": c.in}
			if err := cfg.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.WebRTC.PublicIPs, c.want) {
				t.Fatalf("publicIPs = %#v, want %#v", cfg.WebRTC.PublicIPs, c.want)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAPIKeyFromEnv: MINIRTC_API_KEY=id:secret (documented in docs/rest-api.md)
// reaches api.key.
func TestAPIKeyFromEnv(t *testing.T) {
	c := Default()
	env := map[string]string{"MINIRTC_API_KEY": "ci-bot:0123456789abcdef0123"}
	if err := c.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.API.Key != "ci-bot:0123456789abcdef0123" {
		t.Fatalf("api.key = %q", c.API.Key)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestClusterValidation(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Cluster)
		want string // "" = valid
	}{
		{"single node", func(*Cluster) {}, ""},
		{"one redis", func(c *Cluster) { c.Redis = "redis://127.0.0.1:6379/0" }, ""},
		{"tls redis", func(c *Cluster) { c.Redis = "rediss://user:pw@redis.example.com:6380" }, ""},
		{"sentinel", func(c *Cluster) { c.RedisSentinels = []string{"10.0.0.1:26379"}; c.RedisMaster = "mymaster" }, ""},
		{"sentinel without master", func(c *Cluster) { c.RedisSentinels = []string{"10.0.0.1:26379"} }, "cluster.redisMaster"},
		{"two sources", func(c *Cluster) { c.Redis = "redis://a:1"; c.RedisCluster = []string{"b:2"} }, "exactly one"},
		{"not a redis url", func(c *Cluster) { c.Redis = "http://a:1" }, "cluster.redis"},
		{"short lease", func(c *Cluster) { c.Redis = "redis://a:1"; c.LeaseTTL = 100 * time.Millisecond }, "leaseTTL"},
		{"bad node id", func(c *Cluster) { c.Redis = "redis://a:1"; c.NodeID = "a:b" }, "cluster.nodeId"},
		{"bad advertise", func(c *Cluster) { c.Redis = "redis://a:1"; c.Advertise = "n1.example.com" }, "cluster.advertise"},
		{"negative threshold", func(c *Cluster) { c.Redis = "redis://a:1"; c.EdgeThreshold = -1 }, "edgeThreshold"},
		{"short linger", func(c *Cluster) { c.Redis = "redis://a:1"; c.PullLinger = time.Millisecond }, ""},
		{"no linger", func(c *Cluster) { c.Redis = "redis://a:1"; c.PullLinger = 0 }, "cluster.pullLinger"},
		{"no pull backoff", func(c *Cluster) { c.Redis = "redis://a:1"; c.PullMinBackoff = 0 }, "cluster.pullMinBackoff"},
		{"pull backoff upside down", func(c *Cluster) { c.Redis = "redis://a:1"; c.PullMaxBackoff = c.PullMinBackoff / 2 }, "cluster.pullMaxBackoff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c.Cluster)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want an error naming %q", err, tc.want)
			}
		})
	}
	if got := EnvName("cluster.redisPassword"); got != "MINIRTC_CLUSTER_REDIS_PASSWORD" {
		t.Fatalf("env name %s", got)
	}
}
