package webrtc

import (
	"context"
	"github.com/minirtc/minirtc/internal/admission"
	"github.com/minirtc/minirtc/internal/logtest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

type logBuffer = logtest.Buffer

// TestLongPathLogTruncated: WHIP and WHEP requests with a 10 kB uid are
// refused, and the "request refused" lines hold at most logsafe.MaxLen
// bytes of the path (issue #13 item 6).
func TestLongPathLogTruncated(t *testing.T) {
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	app, _ := store.NewApp("test", time.Now())
	_ = st.PutApp(context.Background(), app)
	auth := &admission.MediaAuthorizer{Signer: token.NewURLSigner(make([]byte, 32)), Apps: st}
	fc := &fakeChannels{joined: map[string]int{}, rotations: map[string]int{}, kicks: map[string]func(error){}}
	srv, err := New(testConfig(), hub, auth, fc, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	defer func() { hs.Close(); cancel(); <-done; hub.Close() }()

	long := strings.Repeat("x", 10<<10)
	for _, kind := range []string{"whip", "whep"} {
		req, _ := http.NewRequest("POST", hs.URL+"/"+kind+"/"+app.ID+"/room/"+long, strings.NewReader("v=0\r\n"))
		req.Header.Set("Authorization", "Bearer "+app.ID)
		req.Header.Set("Content-Type", "application/sdp")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode < 400 {
			t.Fatalf("%s: %d", kind, res.StatusCode)
		}
	}
	out := logs.String()
	if strings.Count(out, "request refused") != 2 {
		t.Fatalf("refusals not logged:\n%.2000s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 2048 || strings.Contains(l, strings.Repeat("x", 1000)) {
			t.Fatalf("log line of %d bytes: %.300s…", len(l), l)
		}
	}
	if !strings.Contains(out, "bytes cut]") {
		t.Fatalf("no cut client string in the log:\n%s", out)
	}
}
