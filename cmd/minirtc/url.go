package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/control"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

const urlHelp = `minirtc url --channel NAME --uid N [--dev | --data-dir DIR | --app-id ID --app-cert CERT] [flags]

Prints ready push and play URLs for one uid in one channel, with access tokens
already in them (URL-encoded): RTMP push and play, HTTP-FLV play, and the
WHIP/WHEP endpoints with their bearer tokens. Tools such as ffmpeg and OBS
publish with them directly; the server makes the uid a member of the channel
for as long as the push lasts, so mini program and web members see its stream.

The app and the server's addresses come from the running server's control
socket in its data directory (--dev: the development server's), or from the
flags. Play URLs carry a subscriber token for --viewer (0: any uid).

Examples:
  minirtc url --dev --channel test --uid 1234
  eval "$(minirtc url --dev --channel test --uid 1234 --shell)"; echo "$RTMP_PUSH"
  minirtc url --app-id ID --app-cert CERT --server https://rtc.example.com --rtmp rtmp://rtc.example.com:1935 --channel c --uid 7 --json
`

// mediaURLs are the URLs minirtc url prints.
type mediaURLs struct {
	AppID       string `json:"appId"`
	Channel     string `json:"channel"`
	UID         string `json:"uid"`
	Stream      string `json:"stream"`
	Token       string `json:"token"`       // publisher token of uid
	ViewerToken string `json:"viewerToken"` // subscriber token of the viewer
	RTMPPush    string `json:"rtmpPush"`
	RTMPPlay    string `json:"rtmpPlay"`
	FLVPlay     string `json:"flvPlay"`
	WHIP        string `json:"whip"`
	WHEP        string `json:"whep"`
	ExpiresAt   string `json:"expiresAt"`
}

// urlOptions are the inputs of buildURLs.
type urlOptions struct {
	HTTPBase, RTMPBase string // http(s)://host:port, rtmp://host:port
	AppID, AppCert     string
	Channel, UID       string
	Viewer             string
	Lifetime           time.Duration
	Now                time.Time
}

func buildURLs(o urlOptions) (mediaURLs, error) {
	life := uint32(o.Lifetime / time.Second) //nolint:gosec // G115: callers pass 1m..24h (url checks --expire, serve --dev uses 1h)
	pub, err := token.BuildRTC007(token.RTCOptions{AppID: o.AppID, AppCert: o.AppCert, Channel: o.Channel, UID: o.UID,
		Role: token.RolePublisher, IssuedAt: o.Now, Lifetime: life})
	if err != nil {
		return mediaURLs{}, err
	}
	sub, err := token.BuildRTC007(token.RTCOptions{AppID: o.AppID, AppCert: o.AppCert, Channel: o.Channel, UID: o.Viewer,
		Role: token.RoleSubscriber, IssuedAt: o.Now, Lifetime: life})
	if err != nil {
		return mediaURLs{}, err
	}
	stream := token.StreamName(o.AppID, o.Channel, o.UID)
	httpBase := strings.TrimSuffix(o.HTTPBase, "/")
	rtmpBase := strings.TrimSuffix(o.RTMPBase, "/")
	webrtcPath := "/" + o.AppID + "/" + url.PathEscape(o.Channel) + "/" + o.UID
	return mediaURLs{
		AppID: o.AppID, Channel: o.Channel, UID: o.UID, Stream: stream,
		Token: pub, ViewerToken: sub,
		RTMPPush:  rtmpBase + "/live/" + stream + "?token=" + url.QueryEscape(pub),
		RTMPPlay:  rtmpBase + "/live/" + stream + "?token=" + url.QueryEscape(sub),
		FLVPlay:   httpBase + "/live/" + stream + ".flv?token=" + url.QueryEscape(sub),
		WHIP:      httpBase + "/whip" + webrtcPath,
		WHEP:      httpBase + "/whep" + webrtcPath,
		ExpiresAt: o.Now.Add(time.Duration(life) * time.Second).UTC().Format(time.RFC3339),
	}, nil
}

// printURLs writes u for people (text), for shells (export lines) or as JSON.
func printURLs(w io.Writer, u mediaURLs, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(u)
	case "shell":
		for _, kv := range [][2]string{{"APP_ID", u.AppID}, {"STREAM", u.Stream},
			{"TOKEN", u.Token}, {"VIEWER_TOKEN", u.ViewerToken}, {"RTMP_PUSH", u.RTMPPush}, {"RTMP_PLAY", u.RTMPPlay},
			{"FLV_PLAY", u.FLVPlay}, {"WHIP_URL", u.WHIP}, {"WHEP_URL", u.WHEP}} {
			fmt.Fprintf(w, "%s=%s\n", kv[0], shellQuote(kv[1]))
		}
		return nil
	}
	fmt.Fprintf(w, `Channel %q, uid %s (app %s; tokens valid until %s):
  RTMP push   %s
  RTMP play   %s
  HTTP-FLV    %s
  WHIP        %s   (Authorization: Bearer <token>)
  WHEP        %s   (Authorization: Bearer <viewer token>)
  token         %s
  viewer token  %s
`, u.Channel, u.UID, u.AppID, u.ExpiresAt, u.RTMPPush, u.RTMPPlay, u.FLVPlay, u.WHIP, u.WHEP, u.Token, u.ViewerToken)
	return nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// devDataDir is where `minirtc serve --dev` keeps its data unless told.
func devDataDir() string { return filepath.Join(os.TempDir(), "minirtc-dev") }

func urlCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("url", stderr, urlHelp)
	channel := fs.String("channel", "", "channel name (required)")
	uid := fs.String("uid", "", "uid that publishes, 1..4294967295 (required)")
	viewer := fs.String("viewer", "0", "uid the play URLs' token is for (0: any uid)")
	dev := fs.Bool("dev", false, "use the development server started with minirtc serve --dev")
	dataDir := fs.String("data-dir", "", "data directory of the server to ask for its app and addresses (default "+defaultDataDir()+")")
	appID := fs.String("app-id", "", "app id (default: the server's development app, else its only or first app)")
	appCert := fs.String("app-cert", "", "app certificate (with --app-id: no server needed)")
	server := fs.String("server", "", "HTTP base URL clients use (default: from the running server, else http://127.0.0.1:8080)")
	rtmpBase := fs.String("rtmp", "", "RTMP base URL (default: from the running server, else rtmp://HOST:1935 with --server's host)")
	expire := fs.Duration("expire", time.Hour, "token lifetime")
	shell := fs.Bool("shell", false, "print NAME='value' lines for eval")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseCommandFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *channel == "" || *uid == "" {
		fs.Usage()
		return fmt.Errorf("--channel and --uid are required")
	}
	if n, err := strconv.ParseUint(*uid, 10, 32); err != nil || n == 0 {
		return fmt.Errorf("--uid %q: want a decimal integer 1..4294967295", *uid)
	}
	if n, err := strconv.ParseUint(*viewer, 10, 32); err != nil || strconv.FormatUint(n, 10) != *viewer {
		return fmt.Errorf("--viewer %q: want a decimal integer 0..4294967295", *viewer)
	}
	if *expire < time.Minute || *expire > 24*time.Hour {
		return fmt.Errorf("--expire %s: want 1m..24h", *expire)
	}
	dir := *dataDir
	if dir == "" {
		dir = defaultDataDir()
		if *dev {
			dir = devDataDir()
		}
	}
	ctx := context.Background()
	var info *control.Info
	if *appCert == "" || *server == "" || *rtmpBase == "" {
		c, err := control.Dial(ctx, dir)
		if *dev && errors.Is(err, control.ErrNoServer) {
			// Right after "minirtc serve --dev &" the server may still be
			// compiling or starting: wait for it rather than open its store.
			fmt.Fprintln(stderr, "minirtc url: waiting for minirtc serve --dev to start…")
			c, err = waitControl(ctx, dir, devWait)
		}
		if err == nil {
			if i, err := c.Node(ctx); err == nil {
				info = &i
			}
			c.Close()
		} else if *dev {
			return fmt.Errorf("no development server answers in %s (start it with minirtc serve --dev): %w", dir, err)
		}
	}
	if *appCert == "" {
		a, err := pickApp(ctx, dir, *appID)
		if err != nil {
			return err
		}
		*appID, *appCert = a.ID, a.Certificate
	} else if *appID == "" {
		return errors.New("--app-cert needs --app-id")
	}
	httpBase, rtmpURL := baseURLs(info, *server, *rtmpBase)
	u, err := buildURLs(urlOptions{HTTPBase: httpBase, RTMPBase: rtmpURL, AppID: *appID, AppCert: *appCert,
		Channel: *channel, UID: *uid, Viewer: *viewer, Lifetime: *expire, Now: time.Now()})
	if err != nil {
		return err
	}
	format := "text"
	if *shell {
		format = "shell"
	} else if *asJSON {
		format = "json"
	}
	return printURLs(stdout, u, format)
}

// devWait is how long minirtc url --dev waits for the development server.
const devWait = 60 * time.Second

// waitControl dials dataDir's control socket until a server answers or wait passes.
func waitControl(ctx context.Context, dataDir string, wait time.Duration) (*control.Client, error) {
	deadline := time.Now().Add(wait)
	for {
		c, err := control.Dial(ctx, dataDir)
		if err == nil || !errors.Is(err, control.ErrNoServer) || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pickApp finds the app to build URLs for in the server using dataDir: id
// when given, else the development app, else the first one.
func pickApp(ctx context.Context, dataDir, id string) (store.App, error) {
	apps, closeApps, err := openAppStore(ctx, dataDir)
	if err != nil {
		return store.App{}, fmt.Errorf("no app certificate given and no server data in %s (start the server, or pass --app-id and --app-cert): %w", dataDir, err)
	}
	defer closeApps()
	list, err := apps.Apps(ctx)
	if err != nil {
		return store.App{}, err
	}
	for _, a := range list {
		if id != "" && a.ID == id {
			return a, nil
		}
	}
	if id != "" {
		return store.App{}, fmt.Errorf("no app with id %s in %s (see minirtc app list)", id, dataDir)
	}
	for _, a := range list {
		if a.Name == devAppName && a.Enabled {
			return a, nil
		}
	}
	for _, a := range list {
		if a.Enabled {
			return a, nil
		}
	}
	return store.App{}, fmt.Errorf("no enabled app in %s (minirtc app create)", dataDir)
}

// baseURLs picks the HTTP and RTMP base URLs: flags first, then what the
// running server says, then the defaults on 127.0.0.1.
func baseURLs(info *control.Info, server, rtmpBase string) (string, string) {
	host, httpPort, rtmpPort, scheme := "127.0.0.1", "8080", "1935", "http"
	if info != nil {
		if _, p, err := net.SplitHostPort(info.HTTPAddr); err == nil {
			httpPort = p
		}
		if _, p, err := net.SplitHostPort(info.RTMPAddr); err == nil {
			rtmpPort = p
		}
		if h, _, err := net.SplitHostPort(info.HTTPAddr); err == nil && h != "" && !net.ParseIP(h).IsUnspecified() {
			host = h
		}
		if info.PublicHost != "" {
			host = info.PublicHost
		}
		if info.TLS {
			scheme = "https"
		}
	}
	if server == "" {
		server = scheme + "://" + net.JoinHostPort(host, httpPort)
	} else if u, err := url.Parse(server); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	if rtmpBase == "" {
		rtmpBase = "rtmp://" + net.JoinHostPort(host, rtmpPort)
	}
	return server, rtmpBase
}
