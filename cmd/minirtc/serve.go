package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/node"
)

func nodeVersion() string { return node.Version }

// loadConfig applies defaults, the YAML file, MINIRTC_* env and the flags
// that were set, in that order.
func loadConfig(fs *flag.FlagSet, file string, flagged map[string]string) (config.Config, error) {
	cfg := config.Default()
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

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr, "minirtc serve [--config FILE] [--data-dir DIR] [--http-addr ADDR] [--rtmp-addr ADDR] [--public-host HOST] [--print-config]")
	file := fs.String("config", "", "YAML configuration file (default: $MINIRTC_CONFIG, else none)")
	printCfg := fs.Bool("print-config", false, "print the effective configuration and exit")
	def := config.Default()
	fs.String("data-dir", def.DataDir, "directory of the embedded store")
	fs.String("http-addr", def.HTTP.Addr, "HTTP listen address (gateway, FLV, WHIP/WHEP, API)")
	fs.String("rtmp-addr", def.RTMP.Addr, "RTMP listen address")
	fs.String("webrtc-addr", def.WebRTC.UDPAddr, "UDP address shared by all WebRTC peers (WHIP/WHEP)")
	fs.String("public-ip", "", "IP address(es) announced to WebRTC peers behind NAT 1:1, comma-separated")
	fs.String("public-host", def.PublicHost, "host put into URLs handed to clients (default: the host the client used)")
	fs.String("log-level", def.Log.Level, "debug, info, warn or error")
	fs.String("log-format", def.Log.Format, "text or json")
	fs.String("tls-cert", "", "PEM certificate for HTTPS/WSS")
	fs.String("tls-key", "", "PEM key for HTTPS/WSS")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(fs, *file, serveFlags)
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
	return n.Run(ctx)
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
