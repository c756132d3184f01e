package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/admission"
	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/gateway"
	"github.com/minirtc/minirtc/internal/listen"
	"github.com/minirtc/minirtc/internal/metrics"
	"github.com/minirtc/minirtc/internal/netlimit"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/minirtc/minirtc/internal/webhook"
	"github.com/minirtc/minirtc/internal/webrtc"
	"github.com/redis/go-redis/v9"
)

// Version is the minirtc version reported by /healthz and `minirtc version`.
// Release builds set it with -ldflags "-X github.com/minirtc/minirtc/internal/node.Version=...".
var Version = "0.1.0-dev"

// DefaultAppName names the app created on first start.
const DefaultAppName = "default"

// Node is one running minirtc server.
type Node struct {
	cfg    config.Config
	log    *slog.Logger
	store  store.Store
	signer *token.URLSigner
	auth   *admission.MediaAuthorizer
	// admission admits every media connection (over auth and the channel
	// model) and ends it when its principal's access ends.
	admission *admission.Gate
	// channels is the channel model shared by the gateway and the media plane.
	channels *channel.Manager
	gateway  *gateway.Gateway
	media    *mediaPlane
	webrtc   *webrtc.Server
	api      *nodeAPI // the REST API (api.go); nil when off
	mux      *http.ServeMux

	httpLn net.Listener
	// controlLn is the local control socket (nil when there is none); Run
	// serves it, a failed New closes it.
	controlLn net.Listener
	httpSrv   *http.Server
	started   time.Time
	services  []service
	// defaultApp is set when New created the default app (first start).
	defaultApp *store.App
	// connLimit counts the connections of the RTMP and HTTP listeners.
	connLimit *netlimit.Limiter
	// metrics is the Prometheus registry (nil: metrics.enabled is off).
	metrics *metrics.Metrics
	// webhooks delivers channel events to the apps' webhook endpoints.
	webhooks *webhook.Service
	// cluster is the node's membership of a cluster (nil: a single node).
	cluster *clusterPart
	// succ, in a cluster, keeps the member lists of the node's channels
	// and continues the members of channels taken from a dead owner.
	succ *succession

	// listeners are the listeners /healthz reports.
	listeners []listenerStats

	readyMu sync.Mutex
	ready   bool
}

// listenerStats names one listener's counters for /healthz.
type listenerStats struct {
	name  string
	addr  string
	stats *listen.Stats
}

// service is a component with a lifetime: run blocks until ctx is cancelled
// and the component has stopped.
type service struct {
	name string
	run  func(ctx context.Context) error
}

// New opens the store, makes sure an app exists, opens the listeners and
// builds every component. Nothing runs until Run.
func New(cfg config.Config, log *slog.Logger) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Cluster.Enabled() {
		// No embedded store, but the control socket and diagnostics live here.
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("%w: give this server a writable data directory of its own with --data-dir (config dataDir)", err)
		}
		st, rdb, err := openClusterStore(cfg)
		if err != nil {
			return nil, err
		}
		n, err = newNode(cfg, log, st, rdb)
		if err != nil {
			_ = rdb.Close()
			return nil, err
		}
		n.wireControl(cfg)
		return n, nil
	}
	st, err := store.OpenBolt(filepath.Join(cfg.DataDir, "minirtc.db"))
	if err != nil {
		return nil, fmt.Errorf("%w: give this server a writable data directory of its own with --data-dir (config dataDir)", err)
	}
	n, err = NewWithStore(cfg, log, st)
	if err != nil {
		return nil, err
	}
	n.wireControl(cfg)
	return n, nil
}

// NewWithStore is New with a store the caller opened; the node closes it.
// It makes a single node: cluster mode needs New.
func NewWithStore(cfg config.Config, log *slog.Logger, st store.Store) (n *Node, err error) {
	cfg.Cluster = config.Default().Cluster
	return newNode(cfg, log, st, nil)
}

// newNode builds a node over st; rdb is the cluster's Redis (nil: a single
// node). The node closes both when it stops.
func newNode(cfg config.Config, log *slog.Logger, st store.Store, rdb redis.UniversalClient) (n *Node, err error) {
	n = &Node{cfg: cfg, log: log, store: st, mux: http.NewServeMux(), started: time.Now()}
	var cleanups []func()
	defer func() {
		if err != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
			_ = st.Close() // New is already failing with err; the store was only opened
		}
	}()
	ctx := context.Background()
	secret, err := st.Secret(ctx, "media-url")
	if err != nil {
		return nil, fmt.Errorf("node: media URL secret: %w", err)
	}
	n.signer = token.NewURLSigner(secret)
	var mediaApps interface {
		App(ctx context.Context, id string) (store.App, error)
	} = st
	if cfg.Cluster.Enabled() {
		mediaApps = clusterApps{st}
	}
	n.auth = &admission.MediaAuthorizer{Signer: n.signer, Apps: mediaApps}

	limits := netlimit.Config{MaxConns: cfg.Limits.MaxConnections, MaxConnsPerIP: cfg.Limits.MaxConnectionsPerIP}
	for _, s := range cfg.Limits.PerIPExempt {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("node: limits.perIPExempt: %w", err)
		}
		limits.PerIPExempt = append(limits.PerIPExempt, p)
	}
	n.connLimit = netlimit.New(limits, log)
	// Cleanups must not use n: the error return sets it to nil.
	httpLn, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return nil, &ListenError{Listener: "HTTP", Addr: cfg.HTTP.Addr, Key: "http.addr", Flag: "--http-addr", Err: err}
	}
	cleanups = append(cleanups, func() { _ = httpLn.Close() }) // New is failing
	httpStats := &listen.Stats{}
	// Accept retries temporary failures on the socket itself; the
	// connection limits apply to what it accepts.
	n.httpLn = n.connLimit.Wrap(listen.Wrap(httpLn, httpStats, log.With("component", "http", "listener", "http")), "http")
	n.listeners = append(n.listeners, listenerStats{"http", httpLn.Addr().String(), httpStats})
	if cfg.HTTP.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.HTTP.TLSCert, cfg.HTTP.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate: %w: give a readable PEM certificate and its key with --tls-cert and --tls-key (config http.tlsCert, http.tlsKey)", err)
		}
		n.httpLn = tls.NewListener(n.httpLn, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}

	n.mux.HandleFunc("GET /healthz", n.healthz)

	// Components are wired below in dependency order (channel model, gateway,
	// media hub, adapters). Each adds its HTTP routes to n.mux and its
	// lifetime to n.services.
	if err := n.wireGateway(cfg); err != nil {
		return nil, err
	}
	if err := n.loadKickingRules(ctx); err != nil {
		return nil, err
	}
	if err := n.wireDiag(cfg); err != nil {
		return nil, err
	}
	if err := n.wireMedia(cfg); err != nil {
		return nil, err
	}
	rtmpLn := n.media.rtmpLn
	cleanups = append(cleanups, func() { _ = rtmpLn.Close() }) // New is failing
	if err := n.wireWebRTC(cfg); err != nil {
		return nil, err
	}
	if w := n.webrtc; w != nil {
		cleanups = append(cleanups, func() {
			// Run with an ended context closes the UDP socket.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = w.Run(ctx)
		})
	}
	if err := n.wireDemo(); err != nil {
		return nil, err
	}
	if err := n.wireTokenServer(cfg); err != nil {
		return nil, err
	}
	if rdb != nil {
		if err := n.wireCluster(cfg, rdb); err != nil {
			return nil, err
		}
		if err := n.wireEdge(); err != nil {
			return nil, err
		}
	}
	if err := n.wireAPI(cfg); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, n.closeAPIListener)
	n.startClusterAgent()
	n.wireWebhooks(cfg)
	n.wireMetrics(cfg)
	// Last, once nothing else can fail: a start that fails must not create
	// the default app, whose credentials serve prints only on success.
	if err := n.ensureApp(ctx); err != nil {
		return nil, err
	}

	// No ReadTimeout or WriteTimeout: HTTP-FLV responses and WebSockets
	// last as long as their viewer. IdleTimeout only covers the wait for a
	// keep-alive connection's next request.
	n.httpSrv = &http.Server{
		Handler:           n.mux,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    cfg.HTTP.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
		// The media doors' admission matches ban rules by the client's address.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return token.WithRemoteAddr(ctx, c.RemoteAddr().String())
		},
	}
	return n, nil
}

func (n *Node) ensureApp(ctx context.Context) error {
	apps, err := n.store.Apps(ctx)
	if err != nil {
		return fmt.Errorf("node: list apps: %w", err)
	}
	if len(apps) > 0 {
		return nil
	}
	if p := n.cluster; p != nil {
		// Nodes of a new cluster may start together on an empty Redis:
		// one of them (the first to claim it) creates the default app.
		if won, err := p.claimBootstrap(ctx); err != nil {
			return err
		} else if !won {
			return nil
		}
	}
	a, err := store.NewApp(DefaultAppName, time.Now())
	if err != nil {
		return err
	}
	if err := n.store.PutApp(ctx, a); err != nil {
		return fmt.Errorf("node: create default app: %w", err)
	}
	n.defaultApp = &a
	return nil
}

// CreatedDefaultApp returns the app New created because the store had none.
func (n *Node) CreatedDefaultApp() (store.App, bool) {
	if n.defaultApp == nil {
		return store.App{}, false
	}
	return *n.defaultApp, true
}

// HTTPAddr is the address the HTTP listener is bound to.
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

// Store is the node's store.
func (n *Node) Store() store.Store { return n.store }

// wireGateway builds the channel model and the mini program gateway
// (POST /api/v1, GET /api).
func (n *Node) wireGateway(cfg config.Config) error {
	n.channels = channel.NewManager(channel.Config{MediaStartTimeout: cfg.Gateway.MediaStartTimeout},
		n.log.With("component", "channel"))
	grace := cfg.Gateway.URLRejoinGrace
	if grace == 0 {
		grace = -1 // the config's "no grace"
	}
	// The member limit of the channels media doors join publishers to: the
	// app's setting, else the node's (as for a gateway join).
	maxUsers := func(app string) int {
		if a, err := n.store.App(context.Background(), app); err == nil && a.Settings.MaxUsersPerChannel > 0 {
			return a.Settings.MaxUsersPerChannel
		}
		return cfg.Gateway.MaxUsersPerChannel
	}
	acfg := admission.Config{RejoinGrace: grace, MaxUsers: maxUsers}
	if cfg.Cluster.Enabled() {
		// A publish makes this node its channel's owner, or is sent to the
		// owner. The cluster part is wired after the gateway.
		acfg.Place = func(ctx context.Context, app, ch string) error {
			if p := n.cluster; p != nil && p.agent != nil {
				return placement{p}.own(ctx, app, ch)
			}
			return nil
		}
		// An edge admits a signed play URL the owner issued to one of its
		// members (edgeplay.go).
		acfg.Elsewhere = n.memberElsewhere
		acfg.ElsewhereRecheck = cfg.Cluster.EdgeMemberCheck
	}
	adm, err := admission.New(acfg, n.auth, n.channels, n.log)
	if err != nil {
		return fmt.Errorf("node: admission: %w", err)
	}
	n.admission = adm
	var router gateway.Router
	var drain time.Duration // the gateway's default
	var apps interface {
		App(ctx context.Context, id string) (store.App, error)
	} = n.store
	if cfg.Cluster.Enabled() {
		router = gatewayRouter{n}
		apps = clusterApps{n.store}
		// Members told to rejoin elsewhere get cluster.drainTimeout to go.
		drain = cfg.Cluster.DrainTimeout
	}
	rtmpPort := 0
	if _, p, err := net.SplitHostPort(cfg.RTMP.Addr); err == nil {
		rtmpPort, _ = strconv.Atoi(p)
	}
	publicIP := ""
	if ip := net.ParseIP(cfg.PublicHost); ip != nil && ip.To4() != nil {
		publicIP = ip.To4().String()
	}
	gw, err := gateway.New(gateway.Config{
		Grace:              cfg.Gateway.GraceTimeout,
		IdleTimeout:        cfg.Gateway.IdleTimeout,
		KeyWillExpireLead:  cfg.Gateway.KeyWillExpireLead,
		MaxMessageBytes:    int64(cfg.Gateway.MaxMessageBytes),
		PreJoinMaxBytes:    int64(cfg.Gateway.PreJoinMaxBytes),
		JoinTimeout:        cfg.Gateway.JoinTimeout,
		RateLimit:          float64(cfg.Gateway.RequestsPerSecond),
		RateBurst:          2 * cfg.Gateway.RequestsPerSecond,
		MaxUsersPerChannel: cfg.Gateway.MaxUsersPerChannel,
		RTMPHost:           cfg.PublicHost,
		RTMPPort:           rtmpPort,
		PublicAddress:      publicIP,
		FLV:                cfg.Gateway.PlayFLV,
		URLTTL:             cfg.Gateway.URLLifetime,
		LogTicketTTL:       cfg.Diagnostics.LogTicketTTL,
		Access:             adm,
		Router:             router,
		DrainTimeout:       drain,
	}, apps, n.channels, n.signer, n.log)
	if err != nil {
		return fmt.Errorf("node: gateway: %w", err)
	}
	n.gateway = gw
	gw.Register(n.mux)
	n.services = append(n.services,
		service{name: "channel", run: n.channels.Run},
		service{name: "admission", run: func(ctx context.Context) error {
			<-ctx.Done()
			adm.Close()
			return nil
		}},
		service{name: "gateway", run: gw.Run})
	return nil
}

// Channels is the node's channel model (the media plane's seam, see internal/channel).
func (n *Node) Channels() *channel.Manager { return n.channels }

// Signer signs media URLs for this node.
func (n *Node) Signer() *token.URLSigner { return n.signer }

// Handler is the node's HTTP handler (for tests that want httptest).
func (n *Node) Handler() http.Handler { return n.mux }

// ListenerHealth is one listener in /healthz.
type ListenerHealth struct {
	Address string `json:"address"`
	listen.Snapshot
}

// Listeners returns each listener's address, state and failed accepts:
// "http", "rtmp", "webrtcUDP" with a shared UDP port (its failures are
// failed reads) and "control" with a control socket. /healthz reports
// them; a metrics exporter can too.
func (n *Node) Listeners() map[string]ListenerHealth {
	m := make(map[string]ListenerHealth, len(n.listeners))
	for _, l := range n.listeners {
		m[l.name] = ListenerHealth{Address: l.addr, Snapshot: l.stats.Snapshot()}
	}
	return m
}

// healthz answers 200 "ok" while every listener serves, 503 "unhealthy"
// once one has stopped (restart the node), and 503 "starting" before Run.
func (n *Node) healthz(w http.ResponseWriter, _ *http.Request) {
	n.readyMu.Lock()
	ready := n.ready
	n.readyMu.Unlock()
	if !ready {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "starting"})
		return
	}
	status := "ok"
	for _, l := range n.listeners {
		if l.stats.State() == listen.StateStopped {
			status = "unhealthy"
		}
	}
	code := http.StatusOK
	if status != "ok" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{
		"status":    status,
		"version":   Version,
		"uptime":    time.Since(n.started).Round(time.Second).String(),
		"listeners": n.Listeners(),
	})
}

// writeJSON marshals v before writing the status, so a value that cannot be
// encoded is a 500, not a 200 with half a body. A failed write means the
// client went away: there is nobody left to tell.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "node: encode reply: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (n *Node) setReady(v bool) {
	n.readyMu.Lock()
	n.ready = v
	n.readyMu.Unlock()
}

// Run serves until ctx is cancelled, then shuts down: stop accepting, let
// components tell their clients and stop, close the store. It returns the
// first component error, if any.
func (n *Node) Run(ctx context.Context) error {
	svcCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(n.services)+1)
	for _, s := range n.services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.run(svcCtx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", s.name, err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := n.httpSrv.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	n.setReady(true)
	n.log.Info("serving", "http", n.HTTPAddr(), "version", Version)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		n.log.Error("component failed, shutting down", "err", runErr)
	}
	n.setReady(false)
	n.handOverChannels()
	timeout := n.cfg.HTTP.ShutdownTimeout
	if n.cluster != nil {
		// A cluster node's gateway waits up to cluster.drainTimeout for its
		// members to rejoin elsewhere.
		timeout = max(timeout, n.cfg.Cluster.DrainTimeout+time.Second)
	}
	n.log.Info("shutting down", "timeout", timeout)
	shutCtx, shutCancel := context.WithTimeout(context.Background(), timeout)
	defer shutCancel()
	cancel() // components stop accepting and tell their clients
	if err := n.httpSrv.Shutdown(shutCtx); err != nil {
		_ = n.httpSrv.Close() // grace ran out: drop what is left
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-shutCtx.Done():
		n.log.Warn("components did not stop in time")
	}
	if err := n.store.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("store: %w", err)
	}
	if n.cluster != nil {
		_ = n.cluster.rdb.Close()
	}
	n.log.Info("stopped")
	return runErr
}
