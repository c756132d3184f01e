package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"reflect"
	"testing"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/minirtc/minirtc/internal/webrtc"
)

func TestWebRTCConfigMapping(t *testing.T) {
	cases := []struct {
		name     string
		httpAddr string
		yaml     string
		want     webrtc.Config
	}{
		{"defaults", ":8080", "", webrtc.Config{UDPAddr: ":8443", PublicIPs: []string{}, Interfaces: []string{}}},
		{"loopback HTTP, default udpAddr: loopback-only ephemeral", "127.0.0.1:0", "",
			webrtc.Config{UDPAddr: "127.0.0.1:0", LoopbackOnly: true, PublicIPs: []string{}, Interfaces: []string{}}},
		{"loopback HTTP, udpAddr set: kept", "127.0.0.1:0", "webrtc:\n  udpAddr: 127.0.0.1:9443\n",
			webrtc.Config{UDPAddr: "127.0.0.1:9443", PublicIPs: []string{}, Interfaces: []string{}}},
		{"loopbackOnly binds 127.0.0.1", ":8080", "webrtc:\n  loopbackOnly: true\n",
			webrtc.Config{UDPAddr: "127.0.0.1:8443", LoopbackOnly: true, PublicIPs: []string{}, Interfaces: []string{}}},
		{"port range, NAT 1:1 and interfaces", ":8080",
			"webrtc:\n  portMin: 41000\n  portMax: 41999\n  publicIPs: [203.0.113.9]\n  interfaces: [eth0]\n",
			webrtc.Config{UDPAddr: ":8443", PortMin: 41000, PortMax: 41999, PublicIPs: []string{"203.0.113.9"}, Interfaces: []string{"eth0"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.HTTP.Addr = c.httpAddr
			if err := cfg.LoadYAML([]byte(c.yaml)); err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := webrtcConfig(cfg); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// The mapped settings reach the server: a port range opens no shared socket,
// the loopback default shares one ephemeral loopback port.
func TestWebRTCConfigTakesEffect(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	auth := denyAll{}
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	srv, err := webrtc.New(webrtcConfig(cfg), hub, auth, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := srv.UDPAddr().(*net.UDPAddr)
	if !ok || !a.IP.IsLoopback() || a.Port == 0 {
		t.Fatalf("shared UDP address %v, want an ephemeral loopback port", srv.UDPAddr())
	}
	stopServer(srv)

	if err := cfg.LoadYAML([]byte("webrtc:\n  portMin: 41000\n  portMax: 41010\n  publicIPs: [203.0.113.9]\n")); err != nil {
		t.Fatal(err)
	}
	srv, err = webrtc.New(webrtcConfig(cfg), hub, auth, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if srv.UDPAddr() != nil {
		t.Fatalf("a port range server shares %v", srv.UDPAddr())
	}
	stopServer(srv)
}

type denyAll struct{}

func (denyAll) Authorize(context.Context, token.Action, string, url.Values) (token.MediaGrant, error) {
	return token.MediaGrant{}, errors.New("denied")
}

// stopServer runs srv with an ended context: it closes its socket and returns.
func stopServer(srv *webrtc.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = srv.Run(ctx)
}
