package node

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// TestNodeStoresClientLogs: a served node accepts an SDK log upload for its
// app and writes it under dataDir/logs/{app}/{day}/.
func TestNodeStoresClientLogs(t *testing.T) {
	cfg := testConfig(t)
	cfg.Diagnostics.MaxMembers, cfg.Diagnostics.LogRetentionDays, cfg.Diagnostics.LogDayMiB = 10, 3, 2
	n, err := NewWithStore(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	if n.Diagnostics() == nil {
		t.Fatal("no diagnostics store")
	}
	if l := n.Diagnostics().Limits(); l.MaxMembers != 10 || l.RetentionDays != 3 || l.AppDayBytes != 2<<20 || l.MaxAge != cfg.Diagnostics.MemberMaxAge {
		t.Fatalf("the diagnostics configuration did not reach the store: %+v", l)
	}
	app, _ := n.CreatedDefaultApp()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: "room", UID: "42",
		Role: token.RolePublisher, IssuedAt: time.Now(), Lifetime: 3600})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"sdkVersion":"0.1.0","clientType":"wechat","appId":"` + app.ID + `","channel":"room","uid":42,` +
		`"sid":"AB","device":"iPhone","os":"iOS 17","ts":1795633765000,"lines":["hello from the SDK"],"token":"` + tok + `"}`
	var res *http.Response
	for i := 0; ; i++ {
		res, err = http.Post("http://"+n.HTTPAddr()+"/api/v1/logs", "application/json", strings.NewReader(body))
		if err == nil {
			break
		}
		if i > 200 {
			t.Fatalf("never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var answer map[string]any
	json.NewDecoder(res.Body).Decode(&answer)
	res.Body.Close()
	if res.StatusCode != 200 || len(answer) != 1 || answer["code"] != 0.0 {
		t.Fatalf("%d %v", res.StatusCode, answer)
	}
	// {day}: the UTC date of the upload (base64url("room") = cm9vbQ)
	matches, _ := filepath.Glob(filepath.Join(cfg.DataDir, "logs", app.ID, "20??-??-??", "cm9vbQ_42_*.log"))
	if len(matches) != 1 {
		t.Fatalf("files %v", matches)
	}
	b, _ := os.ReadFile(matches[0])
	if !strings.HasSuffix(string(b), "\nhello from the SDK\n") {
		t.Fatalf("%q", b)
	}
}
