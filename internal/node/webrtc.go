package node

import (
	"context"
	"fmt"
	"net"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/webrtc"
)

// wireWebRTC adds WHIP/WHEP (internal/webrtc) on the HTTP mux, with WHIP
// publishers joining their channel through the channel model. Until the
// config has a webrtc section, a node whose HTTP listener is on loopback
// runs WebRTC loopback-only on an ephemeral UDP port (tests); otherwise it
// uses the shared UDP port 8443 on all interfaces.
func (n *Node) wireWebRTC(cfg config.Config) error {
	var wc webrtc.Config
	if host, _, err := net.SplitHostPort(cfg.HTTP.Addr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || host == "localhost" {
			wc.LoopbackOnly = true
			wc.UDPAddr = "127.0.0.1:0"
		}
	}
	chans := webrtc.ChannelBridge{Manager: n.channels, MaxUsers: func(app string) int {
		a, err := n.store.App(context.Background(), app)
		if err != nil {
			return 0
		}
		return a.Settings.MaxUsersPerChannel
	}}
	srv, err := webrtc.New(wc, n.media.hub, n.auth, chans, n.log)
	if err != nil {
		return fmt.Errorf("node: webrtc: %w", err)
	}
	srv.Register(n.mux)
	n.services = append(n.services, service{name: "webrtc", run: srv.Run})
	return nil
}
