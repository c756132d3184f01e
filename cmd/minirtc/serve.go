package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/control"
	"github.com/minirtc/minirtc/internal/node"
	"github.com/minirtc/minirtc/internal/store"
)

func nodeVersion() string { return node.Version }

// loadConfig applies the YAML file, MINIRTC_* env and the flags that were
// set over base (the defaults, or serve --dev's), in that order.
func loadConfig(base config.Config, fs *flag.FlagSet, file string, flagged map[string]string) (config.Config, error) {
	cfg := base
	if file == "" {
		file = os.Getenv(config.EnvPrefix + "CONFIG")
	}
	if file != "" {
		if err := cfg.LoadFile(file); err != nil {
			return cfg, err
		}
	}
	if err := cfg.LoadEnv(os.LookupEnv); err != nil {
		return cfg, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, f := range cfg.Fields() {
		for flagName, path := range flagged {
			if path == f.Path && set[flagName] {
				if err := f.Set(fs.Lookup(flagName).Value.String()); err != nil {
					return cfg, fmt.Errorf("flag --%s: %w", flagName, err)
				}
			}
		}
	}
	return cfg, cfg.Validate()
}

// serveFlags maps serve's flags to config paths.
var serveFlags = map[string]string{
	"data-dir":    "dataDir",
	"http-addr":   "http.addr",
	"rtmp-addr":   "rtmp.addr",
	"public-host": "publicHost",
	"log-level":   "log.level",
	"log-format":  "log.format",
	"tls-cert":    "http.tlsCert",
	"tls-key":     "http.tlsKey",
	"webrtc-addr": "webrtc.udpAddr",
	"public-ip":   "webrtc.publicIPs",
}

const serveHelp = `minirtc serve [--dev] [--config FILE] [--data-dir DIR] [--http-addr ADDR] [--rtmp-addr ADDR]
                     [--webrtc-addr UDPADDR] [--public-ip IP[,IP]] [--public-host HOST]
                     [--tls-cert PEM --tls-key PEM] [--log-level LEVEL] [--log-format text|json] [--print-config]

Runs the server: the mini program gateway (POST /api/v1, GET /api), RTMP and
HTTP-FLV, WHIP/WHEP, the demo page (/demo/) and /healthz. Settings come from
flags, then MINIRTC_* environment variables, then the YAML file, then the
defaults (minirtc serve --print-config shows the result).

Without --dev it listens on every interface (:8080 HTTP, :1935 RTMP, :8443/udp
WebRTC) and keeps its data in ./minirtc-data; on first start it creates an app
named "default" and prints its appId and appCertificate.

--dev is for trying minirtc on one machine: it listens on 127.0.0.1 only, keeps
its data in a temporary directory (` + "`minirtc url --dev`" + ` finds it), creates a
development app that accepts joins without a token, turns on the token server
(/token) for any caller, and prints ready push and play URLs and the demo page.

Examples:
  minirtc serve --dev
  minirtc serve --http-addr :443 --tls-cert cert.pem --tls-key key.pem --public-host rtc.example.com
  minirtc serve --config /etc/minirtc/minirtc.yml
  MINIRTC_GATEWAY_GRACE_TIMEOUT=30s minirtc serve --print-config
`

// devAppName names the app serve --dev creates.
const devAppName = "dev"

// devConfig is the base configuration of serve --dev: loopback only, data in
// a temporary directory, the token server open to every (local) caller.
func devConfig() config.Config {
	cfg := config.Default()
	cfg.DataDir = devDataDir()
	cfg.HTTP.Addr = "127.0.0.1:8080"
	cfg.RTMP.Addr = "127.0.0.1:1935"
	cfg.WebRTC.UDPAddr = "127.0.0.1:8443"
	cfg.WebRTC.LoopbackOnly = true
	cfg.TokenServer.Enabled = true
	cfg.TokenServer.AllowedOrigins = []string{"*"}
	return cfg
}

// ensureDevApp makes sure the store in dataDir has an enabled development
// app that accepts joins without a token, and returns it. The store is
// closed before the node opens it again; a failed close is an error.
func ensureDevApp(ctx context.Context, dataDir string) (_ store.App, err error) {
	st, err := store.OpenBolt(filepath.Join(dataDir, "minirtc.db"))
	if err != nil {
		return store.App{}, err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	apps, err := st.Apps(ctx)
	if err != nil {
		return store.App{}, err
	}
	for _, a := range apps {
		if a.Name == devAppName && a.Settings.AllowNoToken {
			if !a.Enabled {
				a.Enabled = true
				err = st.PutApp(ctx, a)
			}
			return a, err
		}
	}
	a, err := store.NewApp(devAppName, time.Now())
	if err != nil {
		return a, err
	}
	a.Settings.AllowNoToken = true
	return a, st.PutApp(ctx, a)
}

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr, serveHelp)
	file := fs.String("config", "", "YAML configuration file (default: $MINIRTC_CONFIG, else none)")
	printCfg := fs.Bool("print-config", false, "print the effective configuration and exit")
	dev := fs.Bool("dev", false, "development server on 127.0.0.1 with a no-token app, the token server and ready URLs")
	def := config.Default()
	fs.String("data-dir", def.DataDir, "directory of the embedded store (--dev: "+devDataDir()+")")
	fs.String("http-addr", def.HTTP.Addr, "HTTP listen address (gateway, FLV, WHIP/WHEP, API) (--dev: 127.0.0.1:8080)")
	fs.String("rtmp-addr", def.RTMP.Addr, "RTMP listen address (--dev: 127.0.0.1:1935)")
	fs.String("webrtc-addr", def.WebRTC.UDPAddr, "UDP address shared by all WebRTC peers (WHIP/WHEP) (--dev: 127.0.0.1:8443)")
	fs.String("public-ip", "", "IP address(es) announced to WebRTC peers behind NAT 1:1, comma-separated")
	fs.String("public-host", def.PublicHost, "host put into URLs handed to clients (default: the host the client used)")
	fs.String("log-level", def.Log.Level, "debug, info, warn or error")
	fs.String("log-format", def.Log.Format, "text or json")
	fs.String("tls-cert", "", "PEM certificate for HTTPS/WSS")
	fs.String("tls-key", "", "PEM key for HTTPS/WSS")
	pos, err := parseCommandFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fs.Usage()
		return errUsage
	}
	base := config.Default()
	if *dev {
		base = devConfig()
	}
	cfg, err := loadConfig(base, fs, *file, serveFlags)
	if err != nil {
		return err
	}
	if *printCfg {
		b, err := cfg.YAML()
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	}
	var devApp store.App
	if *dev {
		if devApp, err = ensureDevApp(ctx, cfg.DataDir); err != nil {
			return err
		}
		if cfg.TokenServer.AppID == "" {
			cfg.TokenServer.AppID = devApp.ID
		}
	}
	log := newLogger(stderr, cfg.Log)
	n, err := node.New(cfg, log)
	if err != nil {
		return err
	}
	if app, ok := n.CreatedDefaultApp(); ok {
		fmt.Fprintf(stdout, `Created app %q (first start).
  appId:          %s
  appCertificate: %s
Build a token for it:
  minirtc token build --app-id %s --app-cert %s --channel test --uid 1234
`, app.Name, app.ID, app.Certificate, app.ID, app.Certificate)
	}
	udp := n.WebRTCAddr()
	if udp == "" {
		udp = fmt.Sprintf("ports %d-%d", cfg.WebRTC.PortMin, cfg.WebRTC.PortMax)
	}
	fmt.Fprintf(stdout, "minirtc %s listening: http %s rtmp %s webrtc-udp %s\n", node.Version, n.HTTPAddr(), n.RTMPAddr(), udp)
	if *dev {
		if err := printDevBanner(stdout, cfg, devApp, n.HTTPAddr(), n.RTMPAddr()); err != nil {
			return err
		}
	}
	return n.Run(ctx)
}

// printDevBanner tells the user of serve --dev what to paste where.
func printDevBanner(w io.Writer, cfg config.Config, app store.App, httpAddr, rtmpAddr string) error {
	scheme := "http"
	if cfg.HTTP.TLSCert != "" {
		scheme = "https"
	}
	info := &control.Info{HTTPAddr: httpAddr, RTMPAddr: rtmpAddr, TLS: scheme == "https", PublicHost: cfg.PublicHost}
	httpBase, rtmpBase := baseURLs(info, "", "")
	const channel, uid = "test", "1234"
	u, err := buildURLs(urlOptions{HTTPBase: httpBase, RTMPBase: rtmpBase, AppID: app.ID, AppCert: app.Certificate,
		Channel: channel, UID: uid, Viewer: "0", Lifetime: time.Hour, Now: time.Now()})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, `
Development server (loopback only; data in %s).
  app %q  appId %s  appCertificate %s
  (joins with the appId as key are accepted; tokens signed with the certificate too)
  demo page     %s/demo/?appId=%s&channel=%s
  token server  %s%s?channel=%s&uid=%s
`, cfg.DataDir, app.Name, app.ID, app.Certificate, httpBase, app.ID, channel, httpBase, cfg.TokenServer.Path, channel, uid)
	if err := printURLs(w, u, "text"); err != nil {
		return err
	}
	fmt.Fprintf(w, `Try it:
  ffmpeg -re -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=frequency=440 -c:v libx264 -preset veryfast -tune zerolatency -g 50 -c:a aac -f flv '%s'
  ffplay '%s'
Other channels and uids: minirtc url --dev --channel NAME --uid N

`, u.RTMPPush, u.FLVPlay)
	return nil
}

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: readableDuration}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// readableDuration writes durations as Go duration strings ("1.5s",
// "250ms") in every log format: slog's JSON handler would print integer
// nanoseconds.
func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
