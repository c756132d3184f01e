package node

import (
	"context"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/control"
	"github.com/minirtc/minirtc/internal/listen"
)

// wireControl opens the local control socket in the data directory, through
// which `minirtc app ...` manages apps while the server runs. A node without
// a data directory (tests with an in-memory store) has none. A socket that
// cannot be opened (a path too long for a unix socket, a read-only
// directory) is a warning: the node serves without it.
func (n *Node) wireControl(cfg config.Config) {
	if cfg.DataDir == "" {
		return
	}
	path := control.SocketPath(cfg.DataDir)
	ln, err := control.Listen(path)
	if err != nil {
		n.log.Warn("no control socket: `minirtc app` commands will not work while the server runs", "err", err)
		return
	}
	info := func() control.Info {
		return control.Info{Version: Version, HTTPAddr: n.HTTPAddr(), RTMPAddr: n.RTMPAddr(),
			TLS: cfg.HTTP.TLSCert != "", PublicHost: cfg.PublicHost}
	}
	stats := &listen.Stats{}
	n.listeners = append(n.listeners, listenerStats{"control", path, stats})
	ln = listen.Wrap(ln, stats, n.log.With("component", "control", "listener", "control"))
	h := control.Handler(n.store, info, n.log.With("component", "control"))
	n.services = append(n.services, service{name: "control", run: func(ctx context.Context) error {
		return control.Serve(ctx, ln, h)
	}})
	n.controlLn = ln
}
