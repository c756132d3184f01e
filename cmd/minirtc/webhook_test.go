package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/token"
	"github.com/minirtc/minirtc/internal/webhook"
)

// agoraStyleReceiver verifies Agora-Signature-V2 as an Agora user's
// receiver does and records the notices that verify.
type agoraStyleReceiver struct {
	secret string
	mu     sync.Mutex
	got    []webhook.Notice
	bad    int
}

func (a *agoraStyleReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte(a.secret))
	mac.Write(body)
	a.mu.Lock()
	defer a.mu.Unlock()
	var n webhook.Notice
	if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(r.Header.Get("Agora-Signature-V2"))) || json.Unmarshal(body, &n) != nil {
		a.bad++
		http.Error(w, "bad", http.StatusUnauthorized)
		return
	}
	a.got = append(a.got, n)
}

func (a *agoraStyleReceiver) notices() []webhook.Notice {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

// TestWebhooksSurviveSIGKILL: the real binary with a bbolt data dir; a
// webhook endpoint is added with `minirtc webhook add` over the control
// socket while the receiver's port refuses connections; a session's
// notices are stored and retried (the deliveries listing shows them
// pending); the server is killed with SIGKILL; the webhook commands work
// on the stopped data dir; the receiver comes up and the restarted server
// delivers every notice, in order, with the noticeIds listed before the kill.
func TestWebhooksSurviveSIGKILL(t *testing.T) {
	bin := minirtcBinary(t)
	data := t.TempDir()
	cfgFile := filepath.Join(t.TempDir(), "minirtc.yml")
	if err := os.WriteFile(cfgFile, []byte("webhooks:\n  minBackoff: 100ms\n  maxBackoff: 500ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const keyID, keySecret = "ops", "ops-secret-0123456789abcdef"
	env := []string{"MINIRTC_CONFIG=" + cfgFile, "MINIRTC_API_KEY=" + keyID + ":" + keySecret}
	s := startServe(t, bin, data, nil, env...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hookAddr := ln.Addr().String()
	ln.Close() // refused until the receiver starts
	const secret = "receiver-secret-for-the-test"
	out, errOut, code := runCLI(t, "webhook", "add", "--app-id", s.appID, "--url", "http://"+hookAddr+"/ncs",
		"--secret", secret, "--data-dir", data, "--json")
	var ep webhook.Endpoint
	if code != 0 || json.Unmarshal([]byte(out), &ep) != nil || ep.Secret != secret || ep.URL != "http://"+hookAddr+"/ncs" {
		t.Fatalf("webhook add: %d %s %s", code, out, errOut)
	}
	if out, _, code := runCLI(t, "webhook", "list", "--app-id", s.appID, "--data-dir", data); code != 0 || !strings.Contains(out, ep.ID) || strings.Contains(out, secret) {
		t.Fatalf("webhook list (running): %d %s", code, out)
	}

	a := joinMember(ctx, t, s, "10", token.RolePublisher)
	b := joinMember(ctx, t, s, "11", token.RoleSubscriber)
	b.call(map[string]any{"action": "leave"})
	a.call(map[string]any{"action": "leave"})
	want := []int{101, 103, 105, 106, 104, 102}

	// Stored and retried: every delivery is listed pending; the channel's
	// first (one in flight per channel and endpoint) failed attempts.
	type delivery struct {
		NoticeID  string `json:"noticeId"`
		EventType int    `json:"eventType"`
		Status    string `json:"status"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"lastError"`
	}
	var pending []delivery
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "http://"+s.httpAddr+"/rest/v1/apps/"+s.appID+"/webhooks/deliveries", nil)
		req.SetBasicAuth(keyID, keySecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var l struct{ Items []delivery }
		json.NewDecoder(resp.Body).Decode(&l)
		resp.Body.Close()
		pending = l.Items
		n := 0
		for _, d := range l.Items {
			if d.Status == "pending" {
				n++
			}
		}
		if n == len(want) && l.Items[n-1].Attempts >= 2 && strings.Contains(l.Items[n-1].LastError, "refused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries before the kill: %+v", l.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
	slices.Reverse(pending) // newest first -> in order

	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()

	// The stopped data dir: the CLI opens the store itself.
	if out, errOut, code := runCLI(t, "webhook", "list", "--app-id", s.appID, "--data-dir", data, "--json"); code != 0 || !strings.Contains(out, ep.ID) {
		t.Fatalf("webhook list (stopped): %d %s %s", code, out, errOut)
	}
	out, _, code = runCLI(t, "webhook", "add", "--app-id", s.appID, "--url", "https://example.invalid/x", "--data-dir", data, "--json")
	var other webhook.Endpoint
	if code != 0 || json.Unmarshal([]byte(out), &other) != nil || len(other.Secret) != 64 {
		t.Fatalf("webhook add (stopped): %d %s", code, out)
	}
	if _, errOut, code := runCLI(t, "webhook", "remove", "--app-id", s.appID, other.ID, "--data-dir", data); code != 0 {
		t.Fatalf("webhook remove: %s", errOut)
	}
	if _, errOut, code := runCLI(t, "webhook", "remove", "--app-id", s.appID, other.ID, "--data-dir", data); code != 1 || !strings.Contains(errOut, "no webhook with id") {
		t.Fatalf("second remove: %d %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "webhook", "add", "--app-id", strings.Repeat("0", 32), "--url", "http://x/", "--data-dir", data); code != 1 || !strings.Contains(errOut, "no app with id") {
		t.Fatalf("add to an unknown app: %d %s", code, errOut)
	}
	for _, args := range [][]string{{"webhook"}, {"webhook", "frob"}, {"webhook", "add", "--app-id", s.appID}, {"webhook", "list"}, {"webhook", "remove", "--app-id", s.appID}} {
		if _, _, code := runCLI(t, append(args, "--data-dir", data)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}

	recv := &agoraStyleReceiver{secret: secret}
	ln, err = net.Listen("tcp", hookAddr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: recv}
	go hs.Serve(ln)
	defer hs.Close()

	startServe(t, bin, data, nil, env...)
	deadline = time.Now().Add(20 * time.Second)
	for len(recv.notices()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	got := recv.notices()
	var types, ids, wantIDs []string
	for i, n := range got {
		types = append(types, strconvI(n.EventType))
		ids = append(ids, n.NoticeID)
		if i < len(pending) {
			wantIDs = append(wantIDs, pending[i].NoticeID)
		}
	}
	var wantTypes []string
	for _, w := range want {
		wantTypes = append(wantTypes, strconvI(w))
	}
	if !slices.Equal(types, wantTypes) || !slices.Equal(ids, wantIDs) || recv.bad != 0 {
		t.Fatalf("after restart got %v %v, want %v %v (bad signatures %d)", types, ids, wantTypes, wantIDs, recv.bad)
	}
}

func strconvI(i int) string { return itoa(i) }

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
