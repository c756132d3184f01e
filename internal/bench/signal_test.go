package bench

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/gateway"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// gatewayEnv runs minirtc's real gateway and channel model on loopback,
// with media URLs pointing at a relay (which ignores the signatures). Only
// the tests import the server packages: the bench itself talks to them over
// the wire.
func gatewayEnv(t *testing.T, r *relay, withCert bool) (server string, app store.App) {
	t.Helper()
	app, err := store.NewApp("bench-test", timeNow())
	if err != nil {
		t.Fatal(err)
	}
	if !withCert {
		app.Settings.AllowNoToken = true // joins may use the app id as key
	}
	st := store.NewMemory()
	if err := st.PutApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	mgr := channel.NewManager(channel.Config{}, log)
	_, port, _ := net.SplitHostPort(r.ln.Addr().String())
	p, _ := strconv.Atoi(port)
	gw, err := gateway.New(gateway.Config{RTMPHost: "127.0.0.1", RTMPPort: p, HTTPBase: r.flvURL("")},
		st, mgr, token.NewURLSigner([]byte("0123456789abcdef0123456789abcdef")), log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	gw.Register(mux)
	srv := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = mgr.Run(ctx) }()
	go func() { defer wg.Done(); _ = gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		srv.Close()
	})
	return srv.URL, app
}

func TestSignallingRTMP(t *testing.T) {
	r := newRelay(t)
	server, app := gatewayEnv(t, r, true)
	cfg := smallRun(Config{Server: server, AppID: app.ID, AppCert: app.Certificate, Channel: "room 1"})
	rep, err := Run(context.Background(), cfg, testLogger(t), nil)
	if err != nil {
		t.Fatalf("%v: %v", err, rep.Errors)
	}
	checkReport(t, rep, 3)
	if rep.Mode != ModeSignalling || rep.SignallingUsersOK != 4 {
		t.Fatalf("mode %s, %d users joined", rep.Mode, rep.SignallingUsersOK)
	}
	for name, s := range map[string]int{"allocation": rep.Allocation.Count, "ws": rep.WSConnect.Count, "join": rep.Join.Count,
		"publish": rep.Publish.Count, "subscribe": rep.Subscribe.Count} {
		want := 4
		switch name {
		case "publish":
			want = 1
		case "subscribe":
			want = 3
		}
		if s != want {
			t.Errorf("%s count %d, want %d", name, s, want)
		}
	}
	if rep.Join.P50 <= 0 {
		t.Fatalf("join %+v", rep.Join)
	}
}

func TestSignallingFLVNoToken(t *testing.T) {
	r := newRelay(t)
	server, app := gatewayEnv(t, r, false)
	cfg := smallRun(Config{Server: server, AppID: app.ID, Proto: ProtoFLV}) // no certificate: key = app id
	rep, err := Run(context.Background(), cfg, testLogger(t), nil)
	if err != nil {
		t.Fatalf("%v: %v", err, rep.Errors)
	}
	checkReport(t, rep, 3)
}

// TestSignallingBadToken: a wrong certificate makes every join fail with
// the gateway's reason, and the run reports it.
func TestSignallingBadToken(t *testing.T) {
	r := newRelay(t)
	server, app := gatewayEnv(t, r, true)
	cfg := smallRun(Config{Server: server, AppID: app.ID, AppCert: "0123456789abcdef0123456789abcdef"})
	rep, err := Run(context.Background(), cfg, testLogger(t), nil)
	if err == nil || rep.PublishersOK != 0 {
		t.Fatalf("err %v, publishers %d", err, rep.PublishersOK)
	}
	if len(rep.Errors) != 1 || rep.Errors["publisher join: join: refused: 401 invalid key: signature mismatch"] != 1 {
		t.Fatalf("errors %v", rep.Errors)
	}
}

// TestSignallingChannels: publishers spread over channels, readers join
// their publisher's channel and play its stream only (no foreign stamps).
func TestSignallingChannels(t *testing.T) {
	r := newRelay(t)
	server, app := gatewayEnv(t, r, true)
	cfg := smallRun(Config{Server: server, AppID: app.ID, AppCert: app.Certificate, Publishers: 2, Channels: 2})
	cfg.Readers = 4
	rep, err := Run(context.Background(), cfg, testLogger(t), nil)
	if err != nil {
		t.Fatalf("%v: %v", err, rep.Errors)
	}
	checkReport(t, rep, 4)
	if rep.SignallingUsersOK != 6 || rep.Publish.Count != 2 || rep.Drops.Reordered != 0 || rep.Drops.Total != 0 {
		t.Fatalf("users %d, publish %d, drops %+v", rep.SignallingUsersOK, rep.Publish.Count, rep.Drops)
	}
}
