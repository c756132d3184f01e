package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/api"
	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/config"
)

// APIPrefix is where the REST API is mounted on the HTTP port when api.addr
// is empty: http://HOST:8080/rest/dev/v1/... and /rest/v1/...
const APIPrefix = "/rest"

// nodeAPI is the node's REST API and, with api.addr set, its own listener.
type nodeAPI struct {
	srv *api.Server
	ln  net.Listener // nil when served on the HTTP port
}

// wireAPI builds the operator REST API (internal/api) over the store, the
// channel model, the media hub and the client diagnostics, and serves it on
// the HTTP port under APIPrefix, or at the root of its own listener
// (api.addr, with the HTTP port's TLS certificate when it has one). It runs
// after the media plane and the diagnostics are wired.
func (n *Node) wireAPI(cfg config.Config) error {
	ac := cfg.API
	if !ac.Enabled {
		return nil
	}
	deps := api.Deps{Store: n.store, Channels: n.channels, Media: n.media.hub, Bans: n.channels}
	if d := n.gateway.Diagnostics(); d != nil {
		deps.Diagnostics = d
	}
	if p := n.cluster; p != nil {
		// Any node answers for the whole cluster: channel calls go to the
		// channel's owner, listings merge every node's.
		deps.Cluster = api.ClusterPeers(p.c, p.auth, p.self.ID, func(ni cluster.NodeInfo) string { return ni.API })
	}
	srv, err := api.New(api.Config{RequestsPerSecond: float64(ac.RequestsPerSecond), Burst: 2 * ac.RequestsPerSecond,
		Key: ac.Key, Now: n.channels.Clock().Now}, deps, n.log)
	if err != nil {
		return fmt.Errorf("node: api: %w", err)
	}
	n.api = &nodeAPI{srv: srv}
	handler, err := n.wireConsole(srv, ac.Addr == "")
	if err != nil {
		return fmt.Errorf("node: console: %w", err)
	}
	if ac.Addr == "" {
		n.mux.Handle(APIPrefix+"/", http.StripPrefix(APIPrefix, srv))
		if p := n.cluster; p != nil {
			p.self.API = strings.TrimSuffix(p.self.Internal, "/") + APIPrefix
		}
		return nil
	}
	ln, err := net.Listen("tcp", ac.Addr)
	if err != nil {
		return fmt.Errorf("node: api listen %s: %w", ac.Addr, err)
	}
	ln = n.connLimit.Wrap(ln, "api") // counts in limits.* with the HTTP and RTMP listeners
	if cfg.HTTP.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.HTTP.TLSCert, cfg.HTTP.TLSKey)
		if err != nil {
			_ = ln.Close() // already failing with the certificate error
			return fmt.Errorf("node: TLS certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	n.api.ln = ln
	if p := n.cluster; p != nil {
		p.self.API = n.advertiseHostURL(cfg, ln.Addr().String())
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(n.log.With("component", "api").Handler(), slog.LevelWarn)}
	n.services = append(n.services, service{name: "api", run: func(ctx context.Context) error {
		stop := context.AfterFunc(ctx, func() {
			sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
			defer cancel()
			if hs.Shutdown(sctx) != nil {
				_ = hs.Close() // grace ran out: drop what is left; nothing more to do on failure
			}
		})
		defer stop()
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}})
	return nil
}

// API is the node's REST API (nil when api.enabled is off), for endpoints
// that plug in with api.Server.Handle.
func (n *Node) API() *api.Server {
	if n.api == nil {
		return nil
	}
	return n.api.srv
}

// APIAddr is the REST API's own listener address, or "" when the API is
// served on the HTTP port under APIPrefix (or is off).
func (n *Node) APIAddr() string {
	if n.api == nil || n.api.ln == nil {
		return ""
	}
	return n.api.ln.Addr().String()
}

// closeAPIListener closes the API's own listener if New fails after opening it.
func (n *Node) closeAPIListener() {
	if n.api != nil && n.api.ln != nil {
		_ = n.api.ln.Close() // New is already failing
	}
}
