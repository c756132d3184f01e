package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/bench"
)

const benchUsage = `minirtc bench [flags]

Simulates users against a server and reports join times, first-frame times,
frame and byte counts, drops and the server's CPU and memory.

Examples:

Signalling mode (simulated mini program users against a minirtc server):
  minirtc bench --server http://127.0.0.1:8080 --app-id ID [--app-cert CERT] --readers 500 --rate 50 --hold 60s [--proto rtmp|flv|whep] [--pid PID]

Join-rate mode (signalling only, no media; steps through the rates until join p99 exceeds --join-p99):
  minirtc bench --server http://127.0.0.1:8080 --app-id ID --app-cert CERT --join-rates 50,100,200,400,800 [--join-step 5s] [--channels 10] [--pid PID]
  minirtc bench --server ... --joins-only --rate 200      (one step at 200 joins/s)

Media-only mode (any server; one RTMP publisher, readers over RTMP, HTTP-FLV or WHEP):
  minirtc bench --rtmp-url rtmp://host/app/stream [--play-url rtmp://...] [--flv-url http://.../x.flv] [--whep-url http://... --whep-token T] --readers 50

It stops by itself after the ramp and the hold; Ctrl-C stops early and still reports.
Exit status 1 when any reader failed (an error, or no picture before the end) or a publisher never streamed.`

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stderr, benchUsage)
	var cfg bench.Config
	fs.StringVar(&cfg.Server, "server", "", "minirtc HTTP base URL (signalling mode), e.g. http://127.0.0.1:8080")
	fs.StringVar(&cfg.AppID, "app-id", "", "app id (signalling mode)")
	fs.StringVar(&cfg.AppCert, "app-cert", "", "app certificate, to build tokens (empty: join with the app id as key)")
	fs.StringVar(&cfg.Channel, "channel", "bench", "channel name (signalling mode)")
	fs.IntVar(&cfg.Publishers, "publishers", 1, "publishers (signalling mode); readers are spread over them")
	fs.IntVar(&cfg.Channels, "channels", 1, "spread the publishers over this many channels (NAME-0, NAME-1, ...)")
	uidBase := fs.Uint("uid-base", 10_000_000, "publishers get uids base+1.., readers base+100001..")
	fs.StringVar(&cfg.RTMPURL, "rtmp-url", "", "media-only mode: RTMP URL to publish to (also played unless --play-url/--flv-url)")
	fs.StringVar(&cfg.PlayURL, "play-url", "", "media-only mode: RTMP URL the readers play (default --rtmp-url)")
	fs.StringVar(&cfg.FLVURL, "flv-url", "", "media-only mode: HTTP-FLV URL the readers play")
	fs.StringVar(&cfg.WHEPURL, "whep-url", "", "media-only mode: WHEP endpoint the readers play")
	fs.StringVar(&cfg.WHEPToken, "whep-token", "", "media-only mode: bearer token for --whep-url")
	fs.IntVar(&cfg.Readers, "readers", 10, "readers to start")
	fs.IntVar(&cfg.WHEPReaders, "whep", 0, "WHEP readers to start in addition to --readers, spread over the ramp (media-only mode: needs --whep-url); the summary breaks figures down by protocol")
	fs.StringVar(&cfg.Proto, "proto", "rtmp", "reader protocol in signalling mode: rtmp, flv, or whep (browser-like readers: WHEP with a token, no gateway session)")
	fs.Float64Var(&cfg.Rate, "rate", 20, "readers started per second")
	fs.DurationVar(&cfg.Hold, "hold", 30*time.Second, "how long to run after the last reader started")
	size := fs.String("size", "320x240", "picture size WxH (multiples of 16)")
	fs.IntVar(&cfg.Video.FPS, "fps", 30, "frames per second")
	fs.IntVar(&cfg.Video.GOP, "gop", 0, "keyframe interval in frames (default 2 s worth)")
	bitrate := fs.String("bitrate", "500k", "video bitrate (bit/s; k and M suffixes)")
	fs.BoolVar(&cfg.NoAudio, "no-audio", false, "publish video only")
	fs.IntVar(&cfg.ServerPID, "pid", 0, "server process id to sample CPU and RSS from /proc")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "timeout of each connection step and of a silent reader")
	fs.DurationVar(&cfg.Interval, "interval", time.Second, "sampling and progress interval")
	joinsOnly := fs.Bool("joins-only", false, "join-rate mode: users only join (no media), at --rate per second for --join-step")
	joinRates := fs.String("join-rates", "", "join-rate mode: comma-separated rates to step through, e.g. 50,100,200,400 (stops at the first step over the limit)")
	fs.DurationVar(&cfg.JoinStep, "join-step", 5*time.Second, "join-rate mode: duration of each rate step")
	fs.DurationVar(&cfg.JoinP99Limit, "join-p99", 100*time.Millisecond, "join-rate mode: p99 join time a step must stay within")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout (the summary goes to stderr)")
	quiet := fs.Bool("quiet", false, "no progress line")
	if pos, err := parseCommandFlags(fs, args, stdout); err != nil {
		return err
	} else if len(pos) > 0 {
		fs.Usage()
		return errUsage
	}
	if *uidBase > math.MaxUint32 {
		return fmt.Errorf("--uid-base %d: want at most %d", *uidBase, uint64(math.MaxUint32))
	}
	cfg.UIDBase = uint32(*uidBase)
	w, h, ok := strings.Cut(*size, "x")
	var err error
	if cfg.Video.Width, err = strconv.Atoi(w); err != nil || !ok {
		return fmt.Errorf("--size %q: want WxH", *size)
	}
	if cfg.Video.Height, err = strconv.Atoi(h); err != nil {
		return fmt.Errorf("--size %q: want WxH", *size)
	}
	if cfg.Video.Bitrate, err = parseBitrate(*bitrate); err != nil {
		return fmt.Errorf("--bitrate: %w", err)
	}
	switch {
	case *joinRates != "":
		for _, f := range strings.Split(*joinRates, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return fmt.Errorf("--join-rates %q: want numbers like 50,100,200", *joinRates)
			}
			cfg.JoinRates = append(cfg.JoinRates, v)
		}
	case *joinsOnly:
		cfg.JoinRates = []float64{cfg.Rate}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	progress := stderr
	if *quiet {
		progress = nil
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, runErr := bench.Run(ctx, cfg, log, progress)
	if rep != nil {
		if *asJSON {
			rep.WriteText(stderr)
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			rep.WriteText(stdout)
		}
		if runErr == nil {
			runErr = rep.Failure()
		}
	}
	return runErr
}

// parseBitrate reads "500000", "500k" or "1.5M".
func parseBitrate(s string) (int, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1e6, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q: want a bitrate like 500k or 2M", s)
	}
	return int(v * mult), nil
}
