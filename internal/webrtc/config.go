package webrtc

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	pion "github.com/pion/webrtc/v4"

	"github.com/minirtc/minirtc/internal/config/defaults"
)

// Defaults for Config's zero values.
const (
	DefaultMTU         = 1200 // RTP payload bytes: fits any path with SRTP and a TURN/VPN header
	DefaultPLIInterval = 2 * time.Second
	DefaultReorderWait = 80 * time.Millisecond
	DefaultMaxSessions = 10000
)

// Config holds the WebRTC knobs; zero values mean the defaults above (and
// for UDPAddr the default of config webrtc.udpAddr, internal/config/defaults).
type Config struct {
	// UDPAddr is the one UDP address all peers share (ICE UDP mux), e.g.
	// ":8443" or "127.0.0.1:0". Ignored when PortMin/PortMax are set.
	UDPAddr string
	// PortMin/PortMax select a UDP port range (one port per peer) instead of
	// the shared port.
	PortMin, PortMax uint16
	// PublicIPs are announced instead of the local addresses (NAT 1:1), e.g.
	// the public address of a cloud VM.
	PublicIPs []string
	// Interfaces restricts ICE host candidates to these interface names.
	Interfaces []string
	// LoopbackOnly gathers only IPv4 loopback candidates, disables mDNS and
	// binds to 127.0.0.1 (tests, single-machine setups).
	LoopbackOnly bool
	// MTU is the largest RTP payload sent.
	MTU int
	// PLIInterval is the longest time a WHIP publisher's stream may go
	// without a keyframe: minirtc asks for one (PLI) this often when none
	// arrived, so that RTMP/FLV readers joining late start fast and the GOP
	// cache stays small. Browsers otherwise send keyframes only on request.
	PLIInterval time.Duration
	// ReorderWait is how long an RTP gap is waited for (NACK retransmission)
	// before it is skipped.
	ReorderWait time.Duration
	// MaxSessions caps WHIP+WHEP sessions on this node.
	MaxSessions int
}

func (c Config) withDefaults() Config {
	if c.UDPAddr == "" {
		c.UDPAddr = defaults.WebRTCUDPAddr
		if c.LoopbackOnly {
			c.UDPAddr = "127.0.0.1:0"
		}
	}
	if c.MTU <= 0 {
		c.MTU = DefaultMTU
	}
	if c.PLIInterval <= 0 {
		c.PLIInterval = DefaultPLIInterval
	}
	if c.ReorderWait <= 0 {
		c.ReorderWait = DefaultReorderWait
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	return c
}

// apis are the pion APIs of a server, with the same network settings:
// ingest for WHIP sessions, play for WHEP sessions (other interceptors).
type apis struct{ ingest, play *pion.API }

// newAPI builds the pion APIs: codecs, interceptors and the network
// settings. It returns the UDP socket it opened and the same socket as the
// ICE mux reads it (retrying failed reads, logged to log), both nil with a
// port range.
func newAPI(c Config, log *slog.Logger) (apis, net.PacketConn, *retryConn, ice.UDPMux, error) {
	var none apis
	m, reg, err := newMediaEngine()
	if err != nil {
		return none, nil, nil, nil, err
	}
	pm, preg, err := newPlayMediaEngine()
	if err != nil {
		return none, nil, nil, nil, err
	}
	var se pion.SettingEngine
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	se.LoggerFactory = lf
	se.SetICETimeouts(5*time.Second, 15*time.Second, 2*time.Second)
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4, pion.NetworkTypeUDP6})
	if c.LoopbackOnly {
		se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetIncludeLoopbackCandidate(true)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	if !c.LoopbackOnly && len(c.PublicIPs) == 0 && onlyLoopback(interfaceIPs(c.Interfaces)) {
		// No address but loopback (a container without a network): the
		// loopback candidate is the one clients on this machine can use.
		se.SetIncludeLoopbackCandidate(true)
	}
	if len(c.Interfaces) > 0 {
		names := slices.Clone(c.Interfaces)
		se.SetInterfaceFilter(func(name string) bool { return slices.Contains(names, name) })
	}
	if len(c.PublicIPs) > 0 {
		for _, ip := range c.PublicIPs {
			if net.ParseIP(ip) == nil {
				return none, nil, nil, nil, fmt.Errorf("webrtc: public IP %q is not an IP address", ip)
			}
		}
		// NAT 1:1: the host candidates carry the public addresses instead
		// of the local ones (what SetNAT1To1IPs with host candidates did).
		if err := se.SetICEAddressRewriteRules(pion.ICEAddressRewriteRule{
			External:        slices.Clone(c.PublicIPs),
			AsCandidateType: pion.ICECandidateTypeHost,
			Mode:            pion.ICEAddressRewriteReplace,
		}); err != nil {
			return none, nil, nil, nil, fmt.Errorf("webrtc: public IPs %v: %w", c.PublicIPs, err)
		}
	}
	var conn net.PacketConn
	var rc *retryConn
	var mux ice.UDPMux
	if c.PortMin != 0 || c.PortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(c.PortMin, c.PortMax); err != nil {
			return none, nil, nil, nil, fmt.Errorf("webrtc: UDP port range %d-%d: %w", c.PortMin, c.PortMax, err)
		}
	} else {
		network := "udp"
		if c.LoopbackOnly {
			network = "udp4"
		}
		addr, err := net.ResolveUDPAddr(network, c.UDPAddr)
		if err != nil {
			return none, nil, nil, nil, fmt.Errorf("webrtc: UDP address %s: %w", c.UDPAddr, err)
		}
		udp, err := net.ListenUDP(network, addr)
		if err != nil {
			return none, nil, nil, nil, fmt.Errorf("webrtc: listen UDP %s: %w", c.UDPAddr, err)
		}
		conn = udp
		if ip := udp.LocalAddr().(*net.UDPAddr).IP; ip.IsLoopback() {
			// An address explicitly on loopback is the only one peers can
			// use: pion leaves loopback candidates out unless told, which
			// would leave answers without any candidate.
			se.SetIncludeLoopbackCandidate(true)
		}
		if runtime.GOOS == "linux" {
			// Batched sends rely on Linux sending to IPv4 addresses from a
			// dual-stack socket; elsewhere every packet is its own sendto.
			conn = newBatchConn(udp)
		}
		rc = newRetryConn(conn, log)
		mux = pion.NewICEUDPMux(lf.NewLogger("ice"), rc)
		se.SetICEUDPMux(mux)
	}
	return apis{
		ingest: pion.NewAPI(pion.WithMediaEngine(m), pion.WithInterceptorRegistry(reg), pion.WithSettingEngine(se)),
		play:   pion.NewAPI(pion.WithMediaEngine(pm), pion.WithInterceptorRegistry(preg), pion.WithSettingEngine(se)),
	}, conn, rc, mux, nil
}

// interfaceIPs lists the addresses of the interfaces that are up (only the
// named ones when names is not empty); nil when they cannot be listed.
func interfaceIPs(names []string) []net.IP {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var ips []net.IP
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || (len(names) > 0 && !slices.Contains(names, ifc.Name)) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ips = append(ips, n.IP)
			}
		}
	}
	return ips
}

// onlyLoopback reports whether ips has a loopback address and nothing a
// remote peer could reach (link-local addresses do not count: pion leaves
// them out).
func onlyLoopback(ips []net.IP) bool {
	sawLoopback := false
	for _, ip := range ips {
		switch {
		case ip.IsLoopback():
			sawLoopback = true
		case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		default:
			return false
		}
	}
	return sawLoopback
}
