package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/minirtc/minirtc/internal/tokenserver"
)

const tokenUsage = `minirtc token build --app-id ID --app-cert CERT --channel NAME (--uid N | --account S) [--role publisher|subscriber] [--expire SECONDS] [--format 007|006]
       minirtc token inspect TOKEN [--app-cert CERT] [--channel NAME --uid N|--account S]
       minirtc token serve [--addr ADDR] [--path /token] (--app-id ID --app-cert CERT | --data-dir DIR) (--secret S | --allow-origin O,...) [--lifetime 1h]`

var tokenSubcommands = []subcommand{
	{"build", "build an Agora-format access token (007 AccessToken2 or 006)"},
	{"inspect", "decode a token, and verify it with --app-cert"},
	{"serve", "run a token service for the example mini program and pages (TOKEN_URL)"},
}

var tokenHelp = groupHelp("token", `Access tokens are Agora's format (AccessToken2 "007" and AccessToken "006"),
signed with an app's certificate: tokens from Agora's own builders work as they are.`,
	tokenSubcommands, `  minirtc token build --app-id ID --app-cert CERT --channel test --uid 1234
  minirtc token build --app-id ID --app-cert CERT --channel test --account alice --role subscriber --expire 600
  minirtc token inspect 007eJx... --app-cert CERT
  minirtc token serve --app-id ID --app-cert CERT --addr 127.0.0.1:8081 --allow-origin servicewechat.com/wx0123456789abcdef
`)

func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenHelp)
		return errUsage
	}
	switch args[0] {
	case "build":
		return tokenBuild(args[1:], stdout, stderr)
	case "inspect":
		return tokenInspect(args[1:], stdout, stderr)
	case "serve":
		return tokenServe(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, tokenHelp)
		return nil
	default:
		fmt.Fprintf(stderr, "minirtc token: unknown subcommand %q\n\n%s", args[0], tokenHelp)
		return errUsage
	}
}

func tokenBuild(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token build", stderr, tokenBuildHelp)
	appID := fs.String("app-id", "", "app id (32 hex chars)")
	cert := fs.String("app-cert", "", "app certificate (32 hex chars)")
	channel := fs.String("channel", "", "channel name")
	uid := fs.String("uid", "", "numeric uid (0 = any uid)")
	account := fs.String("account", "", "string account (instead of --uid)")
	role := fs.String("role", "publisher", "publisher or subscriber")
	expire := fs.Uint("expire", 86400, "lifetime in seconds")
	format := fs.String("format", "007", "007 (AccessToken2) or 006 (legacy AccessToken)")
	if pos, err := parseCommandFlags(fs, args, stdout); err != nil {
		return err
	} else if len(pos) > 0 {
		fs.Usage()
		return errUsage
	}
	if *appID == "" || *cert == "" || *channel == "" || (*uid == "") == (*account == "") {
		fs.Usage()
		return fmt.Errorf("--app-id, --app-cert, --channel and exactly one of --uid/--account are required")
	}
	u := *account
	if *uid != "" {
		n, err := strconv.ParseUint(*uid, 10, 32)
		if err != nil {
			return fmt.Errorf("--uid %q: must be an unsigned 32-bit integer (use --account for strings)", *uid)
		}
		u = strconv.FormatUint(n, 10)
	}
	r, err := token.ParseRole(*role)
	if err != nil {
		return err
	}
	if *expire == 0 || *expire > 1<<31 {
		return fmt.Errorf("--expire must be 1..2147483648 seconds")
	}
	o := token.RTCOptions{AppID: *appID, AppCert: *cert, Channel: *channel, UID: u, Role: r,
		IssuedAt: time.Now(), Lifetime: uint32(*expire)}
	var s string
	switch *format {
	case "007":
		s, err = token.BuildRTC007(o)
	case "006":
		s, err = token.BuildRTC006(o)
	default:
		return fmt.Errorf("--format %q: want 007 or 006", *format)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, s)
	return nil
}

type inspection struct {
	*token.Token
	Signature string `json:"signature"`
	IssuedAt  string `json:"issuedAt,omitempty"`
	ExpiresAt string `json:"expiresAt,omitempty"`
	// Verified is set when a certificate was given.
	Verified *bool  `json:"verified,omitempty"`
	Error    string `json:"error,omitempty"`
}

func tokenInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token inspect", stderr, tokenInspectHelp)
	cert := fs.String("app-cert", "", "app certificate: also verify the signature")
	channel := fs.String("channel", "", "channel to verify against (default: the token's own; required for 006)")
	uid := fs.String("uid", "", "uid to verify against (default: the token's own)")
	account := fs.String("account", "", "account to verify against")
	pos, err := parseCommandFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	t, err := token.Parse(pos[0])
	if err != nil {
		return fmt.Errorf("malformed token: %w", err)
	}
	out := inspection{Token: t, Signature: hex.EncodeToString(t.Signature)}
	switch t.Version {
	case token.Version007:
		out.IssuedAt = time.Unix(int64(t.IssueTs), 0).UTC().Format(time.RFC3339)
		if t.Expire != 0 {
			out.ExpiresAt = time.Unix(int64(t.IssueTs)+int64(t.Expire), 0).UTC().Format(time.RFC3339)
		}
	case token.Version006:
		out.ExpiresAt = time.Unix(int64(t.Expire), 0).UTC().Format(time.RFC3339)
	}
	if *cert != "" {
		c := token.Claims{AppID: t.AppID, AppCert: *cert, Channel: *channel, UID: *uid}
		if *account != "" {
			c.UID = *account
		}
		if rtc, ok := t.RTC(); ok && t.Version == token.Version007 {
			if c.Channel == "" {
				c.Channel = rtc.Channel
			}
			if c.UID == "" {
				c.UID = rtc.UID
			}
		}
		// Check the signature and claims as of the token's issue time, then
		// report expiry separately.
		at := time.Unix(int64(t.IssueTs), 0)
		if t.Version == token.Version006 {
			at = time.Unix(0, 0)
		}
		_, verr := t.Verify(c, at)
		ok := verr == nil
		out.Verified = &ok
		if verr != nil {
			out.Error = verr.Error()
		} else if _, err := t.Verify(c, time.Now()); err != nil {
			out.Error = err.Error()
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

const tokenBuildHelp = `minirtc token build --app-id ID --app-cert CERT --channel NAME (--uid N | --account S) [--role publisher|subscriber] [--expire SECONDS] [--format 007|006]

Builds an access token for one uid (or string account) in one channel. A
publisher token may join and publish; a subscriber token may join and play.

Examples:
  minirtc token build --app-id ID --app-cert CERT --channel test --uid 1234
  minirtc token build --app-id ID --app-cert CERT --channel test --account alice --role subscriber --expire 600
  minirtc token build --app-id ID --app-cert CERT --channel test --uid 1234 --format 006`

const tokenInspectHelp = `minirtc token inspect TOKEN [--app-cert CERT] [--channel NAME --uid N|--account S]

Decodes a token and prints it as JSON (app, issue and expiry times, channel,
uid, privileges). With --app-cert it also checks the signature; a 006 token
needs --channel and --uid, since it carries neither.

Examples:
  minirtc token inspect 007eJx...
  minirtc token inspect 007eJx... --app-cert CERT`

const tokenServeHelp = `minirtc token serve [--addr ADDR] [--path /token] (--app-id ID --app-cert CERT | --data-dir DIR [--app-id ID])
                    (--secret S | --allow-origin ORIGIN[,ORIGIN]) [--lifetime 1h] [--subscriber-only]

Runs a token service: GET {path}?channel=NAME&uid=N[&role=publisher|subscriber]
answers {"token": "...", "appId": ..., "expiresAt": ...}. This is the contract
of the example mini program's TOKEN_URL and of the demo page. The same service
runs inside the server with the tokenServer section of its configuration.

Who may have tokens: callers sending --secret (header X-Token-Secret or
Authorization: Bearer), and callers from --allow-origin: https://host[:port],
servicewechat.com/{wxAppID} (a mini program; WeChat sends it as Referer),
self, or * (anyone: development only). An origin check stops other web sites,
not scripts; in production, authenticate your users before handing out tokens.

Examples:
  minirtc token serve --app-id ID --app-cert CERT --addr 127.0.0.1:8081 --allow-origin servicewechat.com/wx0123456789abcdef
  minirtc token serve --data-dir ./minirtc-data --secret "$(openssl rand -hex 16)"`

func tokenServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token serve", stderr, tokenServeHelp)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	def := config.Default().TokenServer
	path := fs.String("path", def.Path, "URL path of the service")
	appID := fs.String("app-id", "", "app to sign for")
	appCert := fs.String("app-cert", "", "its certificate (else read from --data-dir's store or running server)")
	dataDir := fs.String("data-dir", "", "data directory to read the app from (default "+defaultDataDir()+")")
	secret := fs.String("secret", "", "shared secret callers send in X-Token-Secret or Authorization: Bearer")
	origins := fs.String("allow-origin", "", "comma-separated origins whose callers get tokens (https://host, servicewechat.com/WXAPPID, self, *)")
	lifetime := fs.Duration("lifetime", def.Lifetime, "token lifetime (1m..24h)")
	subOnly := fs.Bool("subscriber-only", false, "hand out subscriber tokens only")
	pos, err := parseCommandFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fs.Usage()
		return errUsage
	}
	creds := tokenserver.Credentials{AppID: *appID, AppCert: *appCert}
	if creds.AppCert == "" {
		dir := *dataDir
		if dir == "" {
			dir = defaultDataDir()
		}
		a, err := pickApp(ctx, dir, *appID)
		if err != nil {
			return err
		}
		creds = tokenserver.Credentials{AppID: a.ID, AppCert: a.Certificate}
	} else if creds.AppID == "" {
		return errors.New("--app-cert needs --app-id")
	}
	var allowed []string
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			allowed = append(allowed, o)
		}
	}
	log := newLogger(stderr, config.Log{Level: "info", Format: "text"})
	h, err := tokenserver.New(tokenserver.Config{
		Credentials:    func(context.Context) (tokenserver.Credentials, error) { return creds, nil },
		Secret:         *secret,
		AllowedOrigins: allowed,
		Lifetime:       *lifetime,
		NoPublish:      *subOnly,
	}, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w (choose another --addr)", *addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(*path, h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
	fmt.Fprintf(stdout, "token server for app %s: http://%s%s?channel=NAME&uid=N\n", creds.AppID, ln.Addr(), *path)
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
