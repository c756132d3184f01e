package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/control"
	"github.com/minirtc/minirtc/internal/doctor"
	"github.com/minirtc/minirtc/internal/store"
)

const doctorHelp = `minirtc doctor [--url https://HOST] [--app-id ID [--app-cert CERT]] [--rtmp-port N]
                      [--dev | --data-dir DIR] [--timeout D] [--json]

Checks a deployment from the outside, the way mini programs, browsers and the
proxy in between meet it, and prints one line per finding (OK, INFO, WARN,
FAIL) with the fix:

  domain-name, domain-port, wechat-domains   a domain name (no IP) WeChat accepts,
                                             and the admin console entries to make
  https, tls-self-signed, tls-chain,         https, and a certificate from a public
  tls-hostname, tls-expiry                   CA for the host, valid for 14 days more
  healthz                                    /healthz answers ok (and the version)
  clock-skew                                 the server's clock within 30 s (tokens)
  allocation                                 POST /api/v1 reaches minirtc
  websocket                                  GET /api upgrades and frames pass
  rtmp                                       the RTMP port completes a handshake
  ice-candidates, ice-connect                a WHIP offer's answer announces usable
                                             addresses, and ICE connects to them
  app-token                                  no app accepts the appId as a token

The ICE and app checks need an app: --app-id and --app-cert, --app-id alone
(the probe joins with the appId as key, which only a development app allows),
or the data of a server on this machine (its control socket, as minirtc url
uses; --dev: the development server's), which also gives the URL and RTMP port
when not given. The WebRTC probe publishes nothing in channel "minirtc-doctor"
and ends its session at once. Exit status 1 when any check FAILs.

Examples:
  minirtc doctor --dev
  minirtc doctor --url https://rtc.example.com --app-id ID --app-cert CERT
  minirtc doctor --url https://rtc.example.com --rtmp-port 1935 --json
`

func doctorCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("doctor", stderr, doctorHelp)
	rawURL := fs.String("url", "", "base URL clients use (default: the local server's, else http://127.0.0.1:8080)")
	appID := fs.String("app-id", "", "app to probe WebRTC with (default: the local server's development app, else its first enabled app)")
	appCert := fs.String("app-cert", "", "certificate of --app-id, to sign the probe's token")
	rtmpPort := fs.Int("rtmp-port", 0, "RTMP port on the URL's host (default: the local server's, else 1935)")
	dev := fs.Bool("dev", false, "check the development server started with minirtc serve --dev")
	dataDir := fs.String("data-dir", "", "data directory of a server on this machine (default "+defaultDataDir()+")")
	timeout := fs.Duration("timeout", 5*time.Second, "time limit of each network step")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseCommandFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fs.Usage()
		return errUsage
	}
	if *rtmpPort < 0 || *rtmpPort > 65535 {
		return fmt.Errorf("--rtmp-port %d: want 1..65535", *rtmpPort)
	}
	if *timeout < 100*time.Millisecond || *timeout > time.Minute {
		return fmt.Errorf("--timeout %s: want 100ms..1m", *timeout)
	}
	if *appCert != "" && *appID == "" {
		return errors.New("--app-cert needs --app-id")
	}
	dir := *dataDir
	if dir == "" {
		dir = defaultDataDir()
		if *dev {
			dir = devDataDir()
		}
	}
	o := doctor.Options{URL: *rawURL, RTMPPort: *rtmpPort, Timeout: *timeout}
	if *appID != "" {
		o.App = &doctor.App{ID: *appID, Certificate: *appCert}
	}
	// A server on this machine tells its URL, RTMP port and apps, when the
	// URL is its own (not given, or on loopback) or its data was named.
	if local := *rawURL == "" || *dataDir != "" || *dev || isLoopbackURL(*rawURL); local {
		if err := localServer(ctx, dir, &o); err != nil && *rawURL == "" {
			fmt.Fprintf(stderr, "minirtc doctor: no server on this machine's data directory %s (%v); checking http://127.0.0.1:8080\n", dir, err)
		}
	}
	if o.URL == "" {
		o.URL = "http://127.0.0.1:8080"
	}
	rep, err := doctor.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(stdout, rep)
	}
	if n := rep.Count(doctor.Fail); n > 0 {
		return fmt.Errorf("%d check(s) failed", n)
	}
	return nil
}

// localServer fills o from the server whose data directory is dir, over
// its control socket: the URL and RTMP port unless given, its enabled apps
// (settings known) and the app to probe with.
func localServer(ctx context.Context, dir string, o *doctor.Options) error {
	c, err := control.Dial(ctx, dir)
	if err != nil {
		return err
	}
	defer c.Close()
	info, err := c.Node(ctx)
	if err != nil {
		return err
	}
	if o.URL == "" {
		o.URL, _ = baseURLs(&info, "", "")
	}
	if o.RTMPPort == 0 {
		if _, p, err := net.SplitHostPort(info.RTMPAddr); err == nil {
			o.RTMPPort, _ = strconv.Atoi(p)
		}
	}
	apps, err := c.Apps(ctx)
	if err != nil {
		return err
	}
	var enabled []store.App
	for _, a := range apps {
		if a.Enabled {
			enabled = append(enabled, a)
			o.Apps = append(o.Apps, doctorApp(a))
		}
	}
	switch {
	case o.App != nil:
		for _, a := range apps {
			if a.ID == o.App.ID && o.App.Certificate == "" {
				da := doctorApp(a)
				o.App = &da
			}
		}
	case len(enabled) > 0:
		pick := enabled[0]
		for _, a := range enabled {
			if a.Name == devAppName {
				pick = a
			}
		}
		da := doctorApp(pick)
		o.App = &da
	}
	return nil
}

func doctorApp(a store.App) doctor.App {
	return doctor.App{ID: a.ID, Name: a.Name, Certificate: a.Certificate, AllowNoToken: a.Settings.AllowNoToken}
}

// isLoopbackURL reports whether raw names localhost or a loopback IP.
func isLoopbackURL(raw string) bool {
	u, err := doctor.ParseURL(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback()
	}
	return h == "localhost"
}

// printReport writes one line per finding and its fix under it.
func printReport(w io.Writer, rep doctor.Report) {
	fmt.Fprintf(w, "minirtc doctor %s\n", rep.URL)
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "%-4s  %-16s %s\n", strings.ToUpper(string(f.Severity)), f.ID, f.What)
		if f.Fix != "" {
			fmt.Fprintf(w, "      %-16s fix: %s\n", "", f.Fix)
		}
	}
	fmt.Fprintf(w, "%d ok, %d info, %d warnings, %d failures\n",
		rep.Count(doctor.OK), rep.Count(doctor.Info), rep.Count(doctor.Warn), rep.Count(doctor.Fail))
}
