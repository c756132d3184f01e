package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/minirtc/minirtc/internal/config/defaults"
)

// DefaultYAML is the shipped, commented configuration file; it equals Default().
//
//go:embed minirtc.yml
var DefaultYAML []byte

// Config is the whole configuration of a node.
type Config struct {
	// DataDir holds the embedded store.
	DataDir string `yaml:"dataDir"`
	// PublicHost is the host name or IP put into URLs handed to clients
	// (push/play URLs, allocation answers). Empty: the Host the client used.
	PublicHost  string      `yaml:"publicHost"`
	Log         Log         `yaml:"log"`
	HTTP        HTTP        `yaml:"http"`
	RTMP        RTMP        `yaml:"rtmp"`
	Gateway     Gateway     `yaml:"gateway"`
	Media       Media       `yaml:"media"`
	WebRTC      WebRTC      `yaml:"webrtc"`
	Diagnostics Diagnostics `yaml:"diagnostics"`
	TokenServer TokenServer `yaml:"tokenServer"`
	Limits      Limits      `yaml:"limits"`
	API         API         `yaml:"api"`
	Metrics     Metrics     `yaml:"metrics"`
	Webhooks    Webhooks    `yaml:"webhooks"`
	Cluster     Cluster     `yaml:"cluster"`
}

// Cluster joins nodes that share one Redis into a cluster (docs/cluster.md):
// channels are placed on nodes by load, media is relayed between nodes and
// a dead node's channels move. Without a Redis the node runs alone on its
// embedded store.
type Cluster struct {
	// Redis is the URL of the shared Redis: redis://[user:password@]host:port[/db],
	// or rediss:// for TLS. Set it, or RedisSentinels with RedisMaster, or
	// RedisCluster.
	Redis string `yaml:"redis"`
	// RedisSentinels (host:port) and RedisMaster name a Sentinel-managed primary.
	RedisSentinels []string `yaml:"redisSentinels"`
	RedisMaster    string   `yaml:"redisMaster"`
	// RedisCluster lists seed nodes of a Redis Cluster (host:port).
	RedisCluster []string `yaml:"redisCluster"`
	// RedisPassword authenticates (prefer MINIRTC_CLUSTER_REDIS_PASSWORD).
	RedisPassword string `yaml:"redisPassword"`
	// RedisTLS turns TLS on for Sentinel and Cluster; RedisCA adds a CA (PEM).
	RedisTLS bool   `yaml:"redisTLS"`
	RedisCA  string `yaml:"redisCA"`
	// Prefix starts every key, so clusters may share a Redis.
	Prefix string `yaml:"prefix"`
	// NodeID names this node (default: the host name and HTTP port).
	NodeID string `yaml:"nodeId"`
	// Advertise is the base URL clients and the other nodes reach this
	// node's HTTP listener at (e.g. https://n1.example.com); empty: built
	// from publicHost and http.addr.
	Advertise string `yaml:"advertise"`
	// NodeTTL: a node that sent no heartbeat for this long is dead.
	NodeTTL time.Duration `yaml:"nodeTTL"`
	// LeaseTTL: a dead owner's channels move after this long; also the
	// grace its members have to rejoin before their leave is reported.
	LeaseTTL time.Duration `yaml:"leaseTTL"`
	// EdgeThreshold: once a stream has this many readers on its owner,
	// further readers are sent to other nodes that pull it once (0: never):
	// WHEP by a 307, mini program members by their subscribe answer.
	EdgeThreshold int `yaml:"edgeThreshold"`
	// DrainTimeout bounds a graceful shutdown's hand-over of channels.
	DrainTimeout time.Duration `yaml:"drainTimeout"`
	// PullLinger keeps a stream pulled from another node after its last
	// local reader left, so that a reader coming back finds its GOP cache.
	PullLinger time.Duration `yaml:"pullLinger"`
	// PullMinBackoff and PullMaxBackoff bound the wait between two tries of
	// a pull that failed while local readers want the stream (doubling,
	// jittered).
	PullMinBackoff time.Duration `yaml:"pullMinBackoff"`
	PullMaxBackoff time.Duration `yaml:"pullMaxBackoff"`
	// EdgeMemberCheck: an edge playing a signed URL the owner issued to one
	// of its members asks the owner this often whether the member is still
	// in the channel, and ends the session once it is not.
	EdgeMemberCheck time.Duration `yaml:"edgeMemberCheck"`
}

// Enabled reports whether a Redis is configured (cluster mode).
func (c Cluster) Enabled() bool {
	return c.Redis != "" || len(c.RedisSentinels) > 0 || len(c.RedisCluster) > 0
}

// API configures the operator REST API: Agora-compatible endpoints under
// /dev/v1 and minirtc's own under /v1 (docs/rest-api.md).
type API struct {
	// Enabled serves the API. Every call needs an API key (HTTP Basic auth);
	// until one exists (minirtc apikey create, or Key) every call is refused.
	Enabled bool `yaml:"enabled"`
	// Addr, when set, serves the API on its own listener (e.g. 127.0.0.1:8081)
	// at the root; empty serves it on the HTTP port under /rest.
	Addr string `yaml:"addr"`
	// Key is one more accepted credential, "id:secret", for automation;
	// prefer the environment (MINIRTC_API_KEY) to a file.
	Key string `yaml:"key"`
	// RequestsPerSecond caps calls per API key (burst: twice as many).
	RequestsPerSecond int `yaml:"requestsPerSecond"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// HTTP configures the HTTP(S) listener.
type HTTP struct {
	Addr string `yaml:"addr"`
	// TLSCert and TLSKey enable HTTPS/WSS when both are set (PEM files).
	TLSCert string `yaml:"tlsCert"`
	TLSKey  string `yaml:"tlsKey"`
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// ReadHeaderTimeout bounds the TLS handshake and reading a request's
	// headers (a connection that sends nothing is closed after it).
	ReadHeaderTimeout time.Duration `yaml:"readHeaderTimeout"`
	// IdleTimeout closes a keep-alive connection that sends no new request
	// for this long. Responses in progress (HTTP-FLV) and WebSockets are not
	// idle.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// MaxHeaderBytes caps a request's line and headers.
	MaxHeaderBytes int `yaml:"maxHeaderBytes"`
}

// RTMP configures the RTMP listener.
type RTMP struct {
	Addr string `yaml:"addr"`
	// HandshakeTimeout bounds the handshake and the connect/publish/play commands.
	HandshakeTimeout time.Duration `yaml:"handshakeTimeout"`
	// ReadTimeout: a publisher that sends nothing for this long is gone.
	ReadTimeout time.Duration `yaml:"readTimeout"`
	// PreAuthMaxMessageSize caps the message length a client may announce
	// before its publish or play is authorized.
	PreAuthMaxMessageSize int `yaml:"preAuthMaxMessageSize"`
	// MaxMessageSize caps it once it is (the largest keyframe accepted),
	// and the chunk size at any time.
	MaxMessageSize int `yaml:"maxMessageSize"`
}

// Gateway configures the mini program signalling gateway.
type Gateway struct {
	// GraceTimeout keeps a member whose socket dropped without leave.
	GraceTimeout time.Duration `yaml:"graceTimeout"`
	// IdleTimeout closes a socket that sent nothing (not even a ping).
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// KeyWillExpireLead is how long before token expiry key-will-expire is pushed.
	KeyWillExpireLead time.Duration `yaml:"keyWillExpireLead"`
	// MediaStartTimeout removes a published stream whose media never arrives.
	MediaStartTimeout time.Duration `yaml:"mediaStartTimeout"`
	// MaxMessageBytes caps one WebSocket message.
	MaxMessageBytes int `yaml:"maxMessageBytes"`
	// PreJoinMaxBytes caps one WebSocket message until the socket has
	// joined with a valid key.
	PreJoinMaxBytes int `yaml:"preJoinMaxBytes"`
	// JoinTimeout closes a socket that has not joined this long after it opened.
	JoinTimeout time.Duration `yaml:"joinTimeout"`
	// RequestsPerSecond caps frames per connection, pings and binary frames
	// included (burst: twice as many).
	RequestsPerSecond int `yaml:"requestsPerSecond"`
	// MaxUsersPerChannel is the node-wide cap when an app sets none.
	MaxUsersPerChannel int `yaml:"maxUsersPerChannel"`
	// PlayFLV makes subscribe answer HTTP-FLV URLs instead of RTMP ones.
	PlayFLV bool `yaml:"playFLV"`
	// URLLifetime is how long signed push/play URLs stay valid.
	URLLifetime time.Duration `yaml:"urlLifetime"`
	// URLRejoinGrace is how long a signed play URL issued to a member keeps
	// letting new connections in after the member left with leave, so that a
	// leave followed by a rejoin keeps its players (0: none). After a kick, a
	// ban or a token expiry the URL stops at once.
	URLRejoinGrace time.Duration `yaml:"urlRejoinGrace"`
}

// Media configures the media hub and its adapters.
type Media struct {
	// PublisherGrace keeps readers connected while a publisher is away.
	PublisherGrace time.Duration `yaml:"publisherGrace"`
	// PublisherStall: a publisher that has sent no media for this long may be
	// replaced by a reconnect of the same uid; a live one never is.
	PublisherStall time.Duration `yaml:"publisherStall"`
	// HoldTimeout is how long a player that connected before its publisher waits.
	HoldTimeout time.Duration `yaml:"holdTimeout"`
	// ReaderQueue is the per-reader queue length in packets.
	ReaderQueue int `yaml:"readerQueue"`
	// GOPCacheFrames and GOPCacheBytes cap the cached group of pictures.
	GOPCacheFrames int `yaml:"gopCacheFrames"`
	GOPCacheBytes  int `yaml:"gopCacheBytes"`
	// MaxPublishers caps publishers per node; MaxReadersPerStream readers per stream (0 = no limit).
	MaxPublishers       int `yaml:"maxPublishers"`
	MaxReadersPerStream int `yaml:"maxReadersPerStream"`
	// WriteTimeout bounds one network write to a reader.
	WriteTimeout time.Duration `yaml:"writeTimeout"`
	// BatchInterval is the least time between two passes of the egress loop
	// that writes RTMP/FLV readers. 0 (the default) writes a reader as soon as
	// it has data and coalesces only what queued meanwhile (adaptive); a
	// positive value holds readers up to that long so that more packets share
	// one system call (less CPU, more latency).
	BatchInterval time.Duration `yaml:"batchInterval"`
	// AudioWait is the longest an RTMP/FLV reader's audio waits for the
	// stream's next video frame, so that both leave in one write (fewer
	// system calls; the picture is never held). 0 sends audio at once.
	AudioWait time.Duration `yaml:"audioWait"`
}

// WebRTC configures WHIP/WHEP networking.
type WebRTC struct {
	// UDPAddr is the one UDP address shared by all peers (ICE UDP mux).
	UDPAddr string `yaml:"udpAddr"`
	// PortMin and PortMax, when both set, use one UDP port per peer from this
	// range instead of the shared port.
	PortMin int `yaml:"portMin"`
	PortMax int `yaml:"portMax"`
	// PublicIPs are announced to peers instead of local addresses (NAT 1:1),
	// e.g. a cloud VM's public address.
	PublicIPs []string `yaml:"publicIPs"`
	// Interfaces restricts ICE candidates to these network interfaces (empty: all).
	Interfaces []string `yaml:"interfaces"`
	// LoopbackOnly gathers loopback candidates only (single-machine setups, tests).
	LoopbackOnly bool `yaml:"loopbackOnly"`
}

// Diagnostics bounds what the node keeps of clients' reports (pusher and
// player state and net status) and uploaded SDK logs.
type Diagnostics struct {
	// MaxMembers is how many members' report rings are kept in memory; the
	// least recently updated is forgotten first.
	MaxMembers int `yaml:"maxMembers"`
	// MemberMaxAge forgets a member this long after its last report.
	MemberMaxAge time.Duration `yaml:"memberMaxAge"`
	// LogRetentionDays is how many days of uploaded logs are kept (today included).
	LogRetentionDays int `yaml:"logRetentionDays"`
	// LogDayMiB is the disk budget of one app's uploaded logs per day; the
	// day's oldest files are removed to make room.
	LogDayMiB int `yaml:"logDayMiB"`
	// LogTicketTTL is how long the log upload ticket a member gets at join
	// stays valid (uploads need it, or the member's token).
	LogTicketTTL time.Duration `yaml:"logTicketTTL"`
}

// TokenServer is the built-in token service (GET {path}?channel=&uid=) that
// the example mini program's TOKEN_URL and the demo page call.
type TokenServer struct {
	// Enabled serves it on the HTTP port.
	Enabled bool `yaml:"enabled"`
	// Path is where it is served.
	Path string `yaml:"path"`
	// AppID names the app tokens are signed for; empty: the first app.
	AppID string `yaml:"appId"`
	// Secret, when set, lets callers that send it (X-Token-Secret or
	// Authorization: Bearer) have tokens.
	Secret string `yaml:"secret"`
	// AllowedOrigins lets callers with these origins have tokens:
	// https://host[:port], servicewechat.com/{wxAppID} (a mini program),
	// self (pages served by this node) or * (anyone: development only).
	AllowedOrigins []string `yaml:"allowedOrigins"`
	// Lifetime of the tokens handed out.
	Lifetime time.Duration `yaml:"lifetime"`
	// SubscriberOnly hands out subscriber tokens only.
	SubscriberOnly bool `yaml:"subscriberOnly"`
}

// Limits caps the connections the node holds; refused connections are
// closed as soon as they are accepted.
type Limits struct {
	// MaxConnections caps open TCP connections over the RTMP and HTTP
	// listeners together (0 = no limit).
	MaxConnections int `yaml:"maxConnections"`
	// MaxConnectionsPerIP caps them per source address, IPv6 per /64 (0 = no limit).
	MaxConnectionsPerIP int `yaml:"maxConnectionsPerIP"`
	// PerIPExempt lists the address prefixes (CIDR) maxConnectionsPerIP does
	// not apply to, e.g. a reverse proxy's.
	PerIPExempt []string `yaml:"perIPExempt"`
}

// Metrics configures the Prometheus metrics (docs/metrics.md): GET /metrics
// on the HTTP port, and behind the REST API's keys at the API's root.
type Metrics struct {
	// Enabled counts and serves the metrics.
	Enabled bool `yaml:"enabled"`
	// OnHTTPPort serves GET /metrics on the HTTP port without
	// authentication; false leaves them behind the API keys only (at
	// /metrics on api.addr, or /rest/metrics on the HTTP port).
	OnHTTPPort bool `yaml:"onHTTPPort"`
	// PerAppLabels labels the per-app metrics (joins, leaves, channels,
	// members) with the app id; false sums them over the apps.
	PerAppLabels bool `yaml:"perAppLabels"`
}

// Webhooks configures the delivery of channel events to the webhook
// endpoints of each app (docs/webhooks.md).
type Webhooks struct {
	// RetryFor is how long a delivery is retried before it is given up.
	RetryFor time.Duration `yaml:"retryFor"`
	// Timeout bounds one delivery attempt (connect, send, answer).
	Timeout time.Duration `yaml:"timeout"`
	// Concurrency is the most deliveries in flight at once (all endpoints);
	// one endpoint gets at most half of it (at least 1).
	Concurrency int `yaml:"concurrency"`
	// MinBackoff and MaxBackoff bound the wait before a retry: it doubles
	// from MinBackoff after each failure up to MaxBackoff, with jitter.
	MinBackoff time.Duration `yaml:"minBackoff"`
	MaxBackoff time.Duration `yaml:"maxBackoff"`
	// Retention is how long finished deliveries (sent or given up) stay in
	// the store for the deliveries listing.
	Retention time.Duration `yaml:"retention"`
}

// Default returns the configuration used when nothing is set. The values
// components also fall back to come from internal/config/defaults, so the
// two cannot differ.
func Default() Config {
	return Config{
		DataDir: "./minirtc-data",
		Log:     Log{Level: "info", Format: "text"},
		HTTP:    HTTP{Addr: ":8080", ShutdownTimeout: 5 * time.Second, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 32 << 10},
		RTMP: RTMP{Addr: ":1935", HandshakeTimeout: defaults.RTMPHandshakeTimeout, ReadTimeout: defaults.RTMPReadTimeout,
			PreAuthMaxMessageSize: defaults.RTMPPreAuthMaxMessageSize, MaxMessageSize: defaults.RTMPMaxMessageSize},
		Gateway: Gateway{
			GraceTimeout:       defaults.GatewayGraceTimeout,
			IdleTimeout:        defaults.GatewayIdleTimeout,
			KeyWillExpireLead:  defaults.GatewayKeyWillExpireLead,
			MediaStartTimeout:  defaults.GatewayMediaStartTimeout,
			MaxMessageBytes:    defaults.GatewayMaxMessageBytes,
			PreJoinMaxBytes:    defaults.GatewayPreJoinMaxBytes,
			JoinTimeout:        defaults.GatewayJoinTimeout,
			RequestsPerSecond:  defaults.GatewayRequestsPerSecond,
			MaxUsersPerChannel: defaults.GatewayMaxUsersPerChannel,
			URLLifetime:        defaults.GatewayURLLifetime,
			URLRejoinGrace:     defaults.GatewayURLRejoinGrace,
		},
		Media: Media{
			PublisherGrace: defaults.MediaPublisherGrace,
			PublisherStall: defaults.MediaPublisherStall,
			HoldTimeout:    defaults.MediaHoldTimeout,
			ReaderQueue:    defaults.MediaReaderQueue,
			GOPCacheFrames: defaults.MediaGOPCacheFrames,
			GOPCacheBytes:  defaults.MediaGOPCacheBytes,
			WriteTimeout:   defaults.MediaWriteTimeout,
			BatchInterval:  defaults.MediaBatchInterval,
			AudioWait:      defaults.MediaAudioWait,
		},
		WebRTC: WebRTC{UDPAddr: defaults.WebRTCUDPAddr, PublicIPs: []string{}, Interfaces: []string{}},
		Diagnostics: Diagnostics{MaxMembers: defaults.DiagnosticsMaxMembers, MemberMaxAge: defaults.DiagnosticsMemberMaxAge,
			LogRetentionDays: defaults.DiagnosticsLogRetentionDays, LogDayMiB: defaults.DiagnosticsLogDayMiB, LogTicketTTL: defaults.DiagnosticsLogTicketTTL},
		TokenServer: TokenServer{Path: "/token", AllowedOrigins: []string{}, Lifetime: time.Hour},
		Limits:      Limits{MaxConnections: 10000, MaxConnectionsPerIP: 200, PerIPExempt: []string{"127.0.0.0/8", "::1/128"}},
		API:         API{Enabled: true, RequestsPerSecond: defaults.APIRequestsPerSecond},
		Metrics:     Metrics{Enabled: true, OnHTTPPort: true, PerAppLabels: true},
		Webhooks: Webhooks{RetryFor: defaults.WebhooksRetryFor, Timeout: defaults.WebhooksTimeout, Concurrency: defaults.WebhooksConcurrency,
			MinBackoff: defaults.WebhooksMinBackoff, MaxBackoff: defaults.WebhooksMaxBackoff, Retention: defaults.WebhooksRetention},
		Cluster: Cluster{RedisSentinels: []string{}, RedisCluster: []string{}, Prefix: defaults.ClusterPrefix,
			NodeTTL: defaults.ClusterNodeTTL, LeaseTTL: 10 * time.Second, EdgeThreshold: 200, DrainTimeout: 30 * time.Second,
			PullLinger: defaults.ClusterPullLinger, PullMinBackoff: defaults.ClusterPullMinBackoff, PullMaxBackoff: defaults.ClusterPullMaxBackoff,
			EdgeMemberCheck: defaults.ClusterEdgeMemberCheck},
	}
}

// LoadFile decodes YAML from path over c. Unknown keys are an error.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path) //nolint:gosec // G304: the operator's --config file
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return c.LoadYAML(b)
}

// LoadYAML decodes YAML over c. Unknown keys are an error.
func (c *Config) LoadYAML(b []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// EnvPrefix starts every environment variable minirtc reads.
const EnvPrefix = "MINIRTC_"

// EnvName is the environment variable for a YAML path such as "gateway.graceTimeout".
func EnvName(path string) string {
	var b strings.Builder
	b.WriteString(EnvPrefix)
	for i, part := range strings.Split(path, ".") {
		if i > 0 {
			b.WriteByte('_')
		}
		for j, r := range part {
			if unicode.IsUpper(r) && j > 0 && !unicode.IsUpper(rune(part[j-1])) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// Field is one setting: its YAML path and a pointer to its value.
type Field struct {
	Path  string
	value reflect.Value
}

// Fields lists every setting of c in declaration order.
func (c *Config) Fields() []Field {
	var out []Field
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			path := tag
			if prefix != "" {
				path = prefix + "." + tag
			}
			f := v.Field(i)
			if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(time.Duration(0)) {
				walk(f, path)
				continue
			}
			out = append(out, Field{Path: path, value: f})
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}

// Set parses s into the field.
func (f Field) Set(s string) error {
	switch f.value.Interface().(type) {
	case string:
		f.value.SetString(s)
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%s: %q is not a boolean", f.Path, s)
		}
		f.value.SetBool(b)
	case int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%s: %q is not an integer", f.Path, s)
		}
		f.value.SetInt(int64(n))
	case []string:
		var list []string
		for _, item := range strings.Split(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		f.value.Set(reflect.ValueOf(append([]string{}, list...)))
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%s: %q is not a duration (e.g. 15s, 2m)", f.Path, s)
		}
		f.value.SetInt(int64(d))
	default:
		return fmt.Errorf("%s: unsupported type %s", f.Path, f.value.Type())
	}
	return nil
}

// LoadEnv applies MINIRTC_* variables found by lookup (os.LookupEnv in production).
func (c *Config) LoadEnv(lookup func(string) (string, bool)) error {
	for _, f := range c.Fields() {
		if v, ok := lookup(EnvName(f.Path)); ok {
			if err := f.Set(v); err != nil {
				return fmt.Errorf("config: env %s: %w", EnvName(f.Path), err)
			}
		}
	}
	return nil
}

// validate checks the cluster section (when it is enabled); bad is
// Config.Validate's collector.
func (c Cluster) validate(bad func(key, rule string)) {
	n := 0
	for _, set := range []bool{c.Redis != "", len(c.RedisSentinels) > 0, len(c.RedisCluster) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		bad("cluster", "needs exactly one of redis, redisSentinels (with redisMaster) or redisCluster")
	}
	if len(c.RedisSentinels) > 0 && c.RedisMaster == "" {
		bad("cluster.redisMaster", "must name the primary when redisSentinels is set")
	}
	if c.Redis != "" && !strings.HasPrefix(c.Redis, "redis://") && !strings.HasPrefix(c.Redis, "rediss://") {
		bad("cluster.redis", "must be a redis:// or rediss:// URL")
	}
	if c.Prefix == "" || strings.ContainsAny(c.Prefix, " {}") {
		bad("cluster.prefix", "must be non-empty, without spaces or braces")
	}
	if strings.ContainsAny(c.NodeID, ": \t\n") {
		bad("cluster.nodeId", "must not contain spaces or colons")
	}
	if c.Advertise != "" && !strings.HasPrefix(c.Advertise, "http://") && !strings.HasPrefix(c.Advertise, "https://") {
		bad("cluster.advertise", "must be an http:// or https:// base URL")
	}
	if c.NodeTTL < time.Second || c.LeaseTTL < time.Second {
		bad("cluster.nodeTTL/cluster.leaseTTL", "must be at least 1s")
	}
	if c.EdgeThreshold < 0 {
		bad("cluster.edgeThreshold", "must be 0 (never) or more")
	}
	if c.DrainTimeout <= 0 {
		bad("cluster.drainTimeout", "must be positive")
	}
	if c.PullLinger <= 0 {
		bad("cluster.pullLinger", "must be positive")
	}
	if c.PullMinBackoff < 10*time.Millisecond || c.PullMaxBackoff < c.PullMinBackoff {
		bad("cluster.pullMinBackoff/cluster.pullMaxBackoff", "need 10ms <= pullMinBackoff <= pullMaxBackoff")
	}
	if c.EdgeMemberCheck < 100*time.Millisecond {
		bad("cluster.edgeMemberCheck", "must be at least 100ms")
	}
}

// Validate checks every setting and names the key and rule that failed.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, rule string) { errs = append(errs, fmt.Errorf("config: %s %s", key, rule)) }
	if c.DataDir == "" {
		bad("dataDir", "must not be empty")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "must be text or json")
	}
	for key, addr := range map[string]string{"http.addr": c.HTTP.Addr, "rtmp.addr": c.RTMP.Addr, "webrtc.udpAddr": c.WebRTC.UDPAddr} {
		if _, port, err := net.SplitHostPort(addr); err != nil {
			bad(key, "must be host:port (e.g. :8080)")
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad(key, "port must be 0..65535")
		}
	}
	if ts := c.TokenServer; ts.Enabled {
		if !strings.HasPrefix(ts.Path, "/") {
			bad("tokenServer.path", "must start with /")
		}
		if ts.Lifetime < time.Minute || ts.Lifetime > 24*time.Hour {
			bad("tokenServer.lifetime", "must be 1m..24h")
		}
		if ts.Secret == "" && len(ts.AllowedOrigins) == 0 {
			bad("tokenServer", "needs a secret or allowedOrigins when enabled (\"*\" allows anyone: development only)")
		}
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		bad("http.tlsCert/http.tlsKey", "must be set together")
	}
	positive := map[string]time.Duration{
		"http.shutdownTimeout":      c.HTTP.ShutdownTimeout,
		"http.readHeaderTimeout":    c.HTTP.ReadHeaderTimeout,
		"http.idleTimeout":          c.HTTP.IdleTimeout,
		"gateway.graceTimeout":      c.Gateway.GraceTimeout,
		"gateway.idleTimeout":       c.Gateway.IdleTimeout,
		"gateway.joinTimeout":       c.Gateway.JoinTimeout,
		"gateway.keyWillExpireLead": c.Gateway.KeyWillExpireLead,
		"gateway.mediaStartTimeout": c.Gateway.MediaStartTimeout,
		"gateway.urlLifetime":       c.Gateway.URLLifetime,
		"media.publisherGrace":      c.Media.PublisherGrace,
		"media.publisherStall":      c.Media.PublisherStall,
		"media.holdTimeout":         c.Media.HoldTimeout,
		"media.writeTimeout":        c.Media.WriteTimeout,
		"rtmp.handshakeTimeout":     c.RTMP.HandshakeTimeout,
		"rtmp.readTimeout":          c.RTMP.ReadTimeout,
		"diagnostics.memberMaxAge":  c.Diagnostics.MemberMaxAge,
		"diagnostics.logTicketTTL":  c.Diagnostics.LogTicketTTL,
		"webhooks.retryFor":         c.Webhooks.RetryFor,
		"webhooks.timeout":          c.Webhooks.Timeout,
		"webhooks.minBackoff":       c.Webhooks.MinBackoff,
		"webhooks.maxBackoff":       c.Webhooks.MaxBackoff,
		"webhooks.retention":        c.Webhooks.Retention,
	}
	if c.Cluster.Enabled() {
		c.Cluster.validate(bad)
	}
	if c.Webhooks.Concurrency < 1 || c.Webhooks.Concurrency > 1024 {
		bad("webhooks.concurrency", "must be 1..1024")
	}
	if c.Webhooks.MaxBackoff < c.Webhooks.MinBackoff {
		bad("webhooks.maxBackoff", "must not be less than webhooks.minBackoff")
	}
	for key, d := range positive {
		if d <= 0 {
			bad(key, "must be a positive duration")
		}
	}
	if c.HTTP.MaxHeaderBytes < 4<<10 || c.HTTP.MaxHeaderBytes > 1<<20 {
		bad("http.maxHeaderBytes", "must be between 4096 and 1048576")
	}
	if c.Gateway.URLRejoinGrace < 0 {
		bad("gateway.urlRejoinGrace", "must not be negative (0: no grace)")
	}
	if c.Gateway.URLLifetime < 24*time.Hour {
		bad("gateway.urlLifetime", "must be at least 24h (push URLs must outlive a token and a rejoin)")
	}
	if c.Gateway.MaxMessageBytes < 1024 {
		bad("gateway.maxMessageBytes", "must be at least 1024")
	}
	if p := c.Gateway.PreJoinMaxBytes; p < 1024 || p > c.Gateway.MaxMessageBytes {
		bad("gateway.preJoinMaxBytes", "must be at least 1024 and at most gateway.maxMessageBytes")
	}
	if r := c.RTMP; r.PreAuthMaxMessageSize < 4096 || r.MaxMessageSize < r.PreAuthMaxMessageSize || r.MaxMessageSize > 1<<24-1 {
		bad("rtmp.preAuthMaxMessageSize/maxMessageSize", "must be at least 4096, preAuthMaxMessageSize <= maxMessageSize <= 16777215")
	}
	if l := c.Limits; l.MaxConnections < 0 || l.MaxConnectionsPerIP < 0 {
		bad("limits.maxConnections/maxConnectionsPerIP", "must not be negative (0 = no limit)")
	}
	for _, p := range c.Limits.PerIPExempt {
		if _, err := netip.ParsePrefix(p); err != nil {
			bad("limits.perIPExempt", fmt.Sprintf("%q is not an address prefix (e.g. 127.0.0.0/8, ::1/128)", p))
		}
	}
	if c.Gateway.RequestsPerSecond < 1 {
		bad("gateway.requestsPerSecond", "must be at least 1")
	}
	if c.Gateway.MaxUsersPerChannel < 1 {
		bad("gateway.maxUsersPerChannel", "must be at least 1")
	}
	if q := c.Media.ReaderQueue; q < 16 || q&(q-1) != 0 {
		bad("media.readerQueue", "must be a power of two, at least 16")
	}
	if c.Media.GOPCacheFrames < 1 || c.Media.GOPCacheBytes < 64<<10 {
		bad("media.gopCacheFrames/gopCacheBytes", "must be at least 1 frame and 64 KiB")
	}
	if c.Media.MaxPublishers < 0 || c.Media.MaxReadersPerStream < 0 {
		bad("media.maxPublishers/maxReadersPerStream", "must not be negative (0 = no limit)")
	}
	if c.Media.BatchInterval < 0 || c.Media.BatchInterval > time.Second {
		bad("media.batchInterval", "must be between 0 and 1s")
	}
	if c.Media.AudioWait < 0 || c.Media.AudioWait > time.Second {
		bad("media.audioWait", "must be between 0 and 1s")
	}
	if w := c.WebRTC; w.PortMin != 0 || w.PortMax != 0 {
		if w.PortMin < 1 || w.PortMax > 65535 || w.PortMin > w.PortMax {
			bad("webrtc.portMin/portMax", "must both be set, 1..65535, portMin <= portMax (or both 0 for the shared udpAddr)")
		}
	}
	for _, ip := range c.WebRTC.PublicIPs {
		if net.ParseIP(ip) == nil {
			bad("webrtc.publicIPs", fmt.Sprintf("%q is not an IP address", ip))
		}
	}
	if a := c.API; a.Addr != "" {
		if _, port, err := net.SplitHostPort(a.Addr); err != nil {
			bad("api.addr", "must be empty (the HTTP port) or host:port (e.g. 127.0.0.1:8081)")
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad("api.addr", "port must be 0..65535")
		}
	}
	if k := c.API.Key; k != "" {
		id, secret, ok := strings.Cut(k, ":")
		if !ok || !validAPIKeyID(id) || len(secret) < 16 {
			bad("api.key", "must be id:secret, the id 1..64 characters of A-Z a-z 0-9 _ - and the secret at least 16 characters")
		}
	}
	if c.API.RequestsPerSecond < 1 {
		bad("api.requestsPerSecond", "must be at least 1")
	}
	if d := c.Diagnostics; d.MaxMembers < 1 || d.LogRetentionDays < 1 || d.LogDayMiB < 1 {
		bad("diagnostics.maxMembers/logRetentionDays/logDayMiB", "must be at least 1")
	}
	return errors.Join(errs...)
}

// YAML renders c as YAML (for --print-config).
func (c Config) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("config: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// validAPIKeyID: the API key ids internal/store accepts.
func validAPIKeyID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return true
}
