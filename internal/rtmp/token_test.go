package rtmp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"

	"github.com/minirtc/minirtc/internal/admission"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// plusToken builds a publisher token for (app, channel, uid) whose base64
// text holds both a '+' and a '/' (salts are tried in turn until one does).
func plusToken(t *testing.T, app store.App, channel, uid string) string {
	t.Helper()
	for salt := uint32(1); salt < 10000; salt++ {
		tok, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: channel,
			UID: uid, Role: token.RolePublisher, IssuedAt: time.Now(), Lifetime: 3600, Salt: salt})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(tok, "+") && strings.Contains(tok, "/") {
			return tok
		}
	}
	t.Fatal("no token with '+' and '/'")
	return ""
}

// TestPublishTokenWithPlus: an RTMP publish authorized by ?token= works
// whether the token's '+' and '/' are sent as they are (what users paste
// into ffmpeg or OBS) or percent-encoded (issue #13 item 7). Form decoding
// used to turn the raw '+' into a space: 401.
func TestPublishTokenWithPlus(t *testing.T) {
	apps := store.NewMemory()
	app, err := store.NewApp("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := apps.PutApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	auth := &admission.MediaAuthorizer{Signer: token.NewURLSigner([]byte("0123456789abcdef0123456789abcdef")), Apps: apps}
	srv, err := NewServer(Config{}, hub, auth, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
	defer func() { hub.Close(); cancel(); <-done }()

	for i, tc := range []struct {
		name   string
		encode func(string) string
	}{
		{"raw", func(s string) string { return s }},
		{"percent-encoded", url.QueryEscape},
		{"only plus encoded", func(s string) string { return strings.ReplaceAll(s, "+", "%2B") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uid := string(rune('1' + i))
			tok := plusToken(t, app, "room", uid)
			stream := token.StreamName(app.ID, "room", uid)
			raw := "rtmp://" + ln.Addr().String() + "/live/" + stream + "?token=" + tc.encode(tok)
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "raw" && !strings.Contains(u.RawQuery, "+") {
				t.Fatalf("the URL does not carry a raw '+': %s", u.RawQuery)
			}
			c := &gortmplib.Client{URL: u, Publish: true}
			if err := c.Initialize(ctx); err != nil {
				t.Fatalf("publish with %s token refused: %v", tc.name, err)
			}
			defer c.Close()
			key := media.Key{AppID: app.ID, Channel: "room", UID: uid}
			if !hub.Live(key) {
				t.Fatalf("stream %v not live after the publish was accepted", key)
			}
		})
	}
}

// TestLongStreamNameLogTruncated: a publish and a play with a 10 kB stream
// name are refused, and the log lines they cause hold at most
// logsafe.MaxLen bytes of it (issue #13 item 6).
func TestLongStreamNameLogTruncated(t *testing.T) {
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	auth := &admission.MediaAuthorizer{Signer: token.NewURLSigner([]byte("0123456789abcdef0123456789abcdef")), Apps: store.NewMemory()}
	srv, err := NewServer(Config{}, hub, auth, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
	defer func() { hub.Close(); cancel(); <-done }()

	long := strings.Repeat("x", 10<<10)
	for _, publish := range []bool{true, false} {
		u, err := url.Parse("rtmp://" + ln.Addr().String() + "/live/" + long + "?token=" + long)
		if err != nil {
			t.Fatal(err)
		}
		c := &gortmplib.Client{URL: u, Publish: publish}
		if err := c.Initialize(ctx); err == nil {
			c.Close()
			t.Fatalf("publish=%v with a 10 kB stream name accepted", publish)
		}
	}
	waitLog(t, &logs, "rtmp connection refused", 2)
	checkLogLines(t, logs.String())
}

// waitLog waits until the log holds n lines with msg (the server logs after
// the client saw the refusal).
func waitLog(t *testing.T, logs *logBuffer, msg string, n int) {
	t.Helper()
	for i := 0; strings.Count(logs.String(), msg) < n; i++ {
		if i > 500 {
			t.Fatalf("%d %q lines, want %d:\n%s", strings.Count(logs.String(), msg), msg, n, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkLogLines fails if a line holds more than a cut client string would
// leave (the longest legitimate line is far below 2 KB) or a run of 1000
// of the client's bytes.
func checkLogLines(t *testing.T, logs string) {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		if len(l) > 2048 || strings.Contains(l, strings.Repeat("x", 1000)) {
			t.Fatalf("log line of %d bytes: %.300s…", len(l), l)
		}
	}
	if !strings.Contains(logs, "bytes cut]") {
		t.Fatalf("no cut client string in the log:\n%s", logs)
	}
}
