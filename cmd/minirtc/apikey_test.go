package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/minirtc/minirtc/internal/control"
)

// TestAPIKeyCommandsOffline: apikey create/list/delete on a stopped server's
// store file; the secret is printed once and never listed.
func TestAPIKeyCommandsOffline(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runCLI(t, "apikey", "create", "--data-dir", dir, "--name", "ci", "--json")
	if code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	var k control.APIKeyInfo
	if err := json.Unmarshal([]byte(out), &k); err != nil || len(k.ID) != 32 || len(k.Secret) != 64 || k.Name != "ci" {
		t.Fatalf("created %s (%v)", out, err)
	}
	out, _, code = runCLI(t, "apikey", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, k.ID) || !strings.Contains(out, "ci") || strings.Contains(out, k.Secret) {
		t.Fatalf("list: %s", out)
	}
	if _, errOut, code := runCLI(t, "apikey", "delete", k.ID, "--data-dir", dir); code != 0 {
		t.Fatalf("delete: %s", errOut)
	}
	if _, errOut, code := runCLI(t, "apikey", "delete", k.ID, "--data-dir", dir); code != 1 || !strings.Contains(errOut, "no API key with id") {
		t.Fatalf("second delete: %d %s", code, errOut)
	}
	out, _, _ = runCLI(t, "apikey", "list", "--data-dir", dir, "--json")
	if strings.TrimSpace(out) != "[]" {
		t.Fatalf("list after delete: %s", out)
	}
	for _, args := range [][]string{{"apikey"}, {"apikey", "frob"}, {"apikey", "delete"}, {"apikey", "create", "extra"}} {
		if _, _, code := runCLI(t, append(args, "--data-dir", dir)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	for _, args := range [][]string{{"apikey", "--help"}, {"apikey", "create", "--help"}, {"help", "apikey", "delete"}} {
		if out, _, code := runCLI(t, args...); code != 0 || !strings.Contains(out, "Examples:") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
}

// TestAPIKeyCommandsRunningServer: on a running server the REST API refuses
// every call until a key exists; apikey create over the control socket
// makes one that works at once, delete revokes it at once, and
// MINIRTC_API_KEY adds a key from the environment.
func TestAPIKeyCommandsRunningServer(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	t.Setenv("MINIRTC_API_KEY", "automation:0123456789abcdef0123456789")
	addr, _ := devServer(t, bin, data)
	call := func(id, secret string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/rest/v1/apps", addr), nil)
		if id != "" {
			req.SetBasicAuth(id, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Reason string `json:"reason"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Reason
	}
	if code, _ := call("automation", "0123456789abcdef0123456789"); code != 200 {
		t.Fatalf("environment key: %d", code)
	}
	if code, reason := call("", ""); code != 401 || !strings.Contains(reason, "Basic") {
		t.Fatalf("no credentials: %d %q", code, reason)
	}
	out, errOut, code := runCLI(t, "apikey", "create", "--data-dir", data, "--name", "ops", "--json")
	if code != 0 {
		t.Fatalf("create on a running server: %s", errOut)
	}
	var k control.APIKeyInfo
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatal(err)
	}
	if code, _ := call(k.ID, k.Secret); code != 200 {
		t.Fatalf("new key: %d", code)
	}
	if code, reason := call(k.ID, k.Secret+"x"); code != 401 || !strings.Contains(reason, "wrong API key") {
		t.Fatalf("wrong secret: %d %q", code, reason)
	}
	out, _, _ = runCLI(t, "apikey", "list", "--data-dir", data)
	if !strings.Contains(out, k.ID) || strings.Contains(out, k.Secret) {
		t.Fatalf("list on a running server: %s", out)
	}
	if _, errOut, code := runCLI(t, "apikey", "delete", k.ID, "--data-dir", data); code != 0 {
		t.Fatalf("delete on a running server: %s", errOut)
	}
	if code, _ := call(k.ID, k.Secret); code != 401 {
		t.Fatalf("deleted key: %d", code)
	}
}
