package node

import (
	"fmt"
	"net"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/webrtc"
)

// wireWebRTC adds WHIP/WHEP (internal/webrtc) on the HTTP mux, with WHIP
// publishers joining (or attaching to) their channel member through the
// admission seam.
func (n *Node) wireWebRTC(cfg config.Config) error {
	wc := webrtcConfig(cfg)
	srv, err := webrtc.New(wc, n.media.hub, n.admission, n.admission.Members(), n.log)
	if err != nil {
		if isListenFailure(err) {
			return &ListenError{Listener: "WebRTC UDP", Addr: wc.UDPAddr, Key: "webrtc.udpAddr", Flag: "--webrtc-addr", Err: err}
		}
		return fmt.Errorf("node: webrtc: %w", err)
	}
	if st := srv.UDPStats(); st != nil {
		n.listeners = append(n.listeners, listenerStats{"webrtcUDP", srv.UDPAddr().String(), st})
	}
	srv.Register(n.mux)
	n.webrtc = srv
	n.services = append(n.services, service{name: "webrtc", run: srv.Run})
	return nil
}

// webrtcConfig maps the webrtc section onto the adapter's Config. A node
// whose HTTP listener is on loopback and whose udpAddr is left at the
// default runs WebRTC loopback-only on an ephemeral port (tests, several
// nodes on one machine); loopbackOnly with a udpAddr without a host binds
// 127.0.0.1.
func webrtcConfig(cfg config.Config) webrtc.Config {
	w := cfg.WebRTC
	wc := webrtc.Config{
		UDPAddr:      w.UDPAddr,
		PortMin:      uint16(w.PortMin), //nolint:gosec // G115: config.Validate bounds the ports to 1..65535
		PortMax:      uint16(w.PortMax), //nolint:gosec // G115: same
		PublicIPs:    w.PublicIPs,
		Interfaces:   w.Interfaces,
		LoopbackOnly: w.LoopbackOnly,
	}
	if wc.UDPAddr == "" || wc.UDPAddr == config.Default().WebRTC.UDPAddr {
		if host, _, err := net.SplitHostPort(cfg.HTTP.Addr); err == nil {
			if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || host == "localhost" {
				wc.LoopbackOnly = true
				wc.UDPAddr = "127.0.0.1:0"
			}
		}
	}
	if wc.LoopbackOnly {
		if host, port, err := net.SplitHostPort(wc.UDPAddr); err == nil && host == "" {
			wc.UDPAddr = net.JoinHostPort("127.0.0.1", port)
		}
	}
	return wc
}

// WebRTCAddr is the shared UDP address of WHIP/WHEP media, or "" when a
// port range is configured (one port per peer).
func (n *Node) WebRTCAddr() string {
	if n.webrtc == nil {
		return ""
	}
	if a := n.webrtc.UDPAddr(); a != nil {
		return a.String()
	}
	return ""
}
