package flv

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

// TestLongStreamNameLogTruncated: HTTP-FLV plays with a 10 kB stream name
// (and a 10 kB token, raw or malformed) are refused, and their log lines
// hold at most logsafe.MaxLen bytes of each (issue #13 item 6).
func TestLongStreamNameLogTruncated(t *testing.T) {
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	st := store.NewMemory()
	app, _ := store.NewApp("flv", time.Now())
	_ = st.PutApp(context.Background(), app)
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Config{}, hub, &admission.MediaAuthorizer{Signer: token.NewURLSigner([]byte("secret")), Apps: st}, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	hs := httptest.NewServer(mux)
	defer func() { hub.Close(); s.Close(); hs.Close() }()

	long := strings.Repeat("x", 10<<10)
	for _, path := range []string{
		"/live/" + long + ".flv",
		"/live/" + token.StreamName(app.ID, "room", "5") + ".flv?token=" + long,
	} {
		res, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode < 400 {
			t.Fatalf("%.60s…: %d", path, res.StatusCode)
		}
	}
	out := logs.String()
	if strings.Count(out, "flv play refused") != 2 {
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
