package tokenserver

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/token"
)

const (
	appID   = "970CA35de60c44645bbae8a215061b33"
	appCert = "5CFd2fd1755d40ecb72977518be15d3b"
)

func newServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	cfg.Credentials = func(context.Context) (Credentials, error) { return Credentials{AppID: appID, AppCert: appCert}, nil }
	if cfg.Lifetime == 0 {
		cfg.Lifetime = time.Hour
	}
	h, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, headers map[string]string) (int, http.Header, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header, body
}

// TestWhoGetsTokens: the secret and each kind of allowed origin hand out
// tokens; everything else gets 403 with a reason.
func TestWhoGetsTokens(t *testing.T) {
	srv := newServer(t, Config{Secret: "s3cret", AllowedOrigins: []string{"https://app.example.com", "servicewechat.com/wx0123456789abcdef", "self"}})
	q := "/?channel=room&uid=42"
	cases := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"nothing", nil, 403},
		{"secret header", map[string]string{"X-Token-Secret": "s3cret"}, 200},
		{"secret bearer", map[string]string{"Authorization": "Bearer s3cret"}, 200},
		{"wrong secret", map[string]string{"X-Token-Secret": "s3creT"}, 403},
		{"allowed origin", map[string]string{"Origin": "https://app.example.com"}, 200},
		{"other origin", map[string]string{"Origin": "https://evil.example.com"}, 403},
		{"origin prefix trick", map[string]string{"Origin": "https://app.example.com.evil.net"}, 403},
		{"allowed referer", map[string]string{"Referer": "https://app.example.com/page.html"}, 200},
		{"mini program", map[string]string{"Referer": "https://servicewechat.com/wx0123456789abcdef/3/page-frame.html"}, 200},
		{"other mini program", map[string]string{"Referer": "https://servicewechat.com/wx0123456789abcdee/3/page-frame.html"}, 403},
		{"mini program prefix trick", map[string]string{"Referer": "https://servicewechat.com/wx0123456789abcdef0/3/page-frame.html"}, 403},
		{"self", map[string]string{"Referer": srv.URL + "/demo/"}, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, hdr, body := get(t, srv.URL+q, c.headers)
			if code != c.want {
				t.Fatalf("status %d, want %d (%v)", code, c.want, body)
			}
			if code == 403 && !strings.Contains(body["error"], "tokenServer.allowedOrigins") {
				t.Fatalf("403 without a reason: %v", body)
			}
			if code == 200 {
				if o := c.headers["Origin"]; o != "" && hdr.Get("Access-Control-Allow-Origin") != o {
					t.Fatalf("CORS header %q", hdr.Get("Access-Control-Allow-Origin"))
				}
				g, err := token.Check(body["token"], token.Claims{AppID: appID, AppCert: appCert, Channel: "room", UID: "42"}, time.Now())
				if err != nil {
					t.Fatalf("token does not verify: %v", err)
				}
				if !g.CanPublish(time.Now()) {
					t.Fatal("default role is not publisher")
				}
			}
		})
	}
}

// TestRequestChecks: claims are validated before anything is signed.
func TestRequestChecks(t *testing.T) {
	srv := newServer(t, Config{AllowedOrigins: []string{"*"}})
	cases := []struct {
		query string
		want  int
		msg   string
	}{
		{"?channel=room&uid=0", 400, "uid 0 would fit every uid"},
		{"?channel=room&uid=1.5", 400, "decimal integer"},
		{"?channel=room&uid=4294967296", 400, "decimal integer"},
		{"?channel=room", 400, "decimal integer"},
		{"?uid=7", 400, "channel must be"},
		{"?channel=" + strings.Repeat("c", 65) + "&uid=7", 400, "channel must be"},
		{"?channel=room&uid=7&account=bob", 400, "not both"},
		{"?channel=room&uid=7&role=admin", 400, "role must be"},
		{"?channel=room&account=bob&role=subscriber", 200, ""},
	}
	for _, c := range cases {
		code, _, body := get(t, srv.URL+"/"+c.query, nil)
		if code != c.want || !strings.Contains(body["error"], c.msg) {
			t.Errorf("%s: %d %v; want %d %q", c.query, code, body, c.want, c.msg)
		}
	}
	code, _, body := get(t, srv.URL+"/?channel=room&account=bob&role=subscriber", nil)
	if code == 200 {
		g, err := token.Check(body["token"], token.Claims{AppID: appID, AppCert: appCert, Channel: "room", UID: "bob"}, time.Now())
		if err != nil || g.CanPublish(time.Now()) {
			t.Fatalf("subscriber token: %v, can publish %v", err, g.CanPublish(time.Now()))
		}
	}
	resp, err := http.Post(srv.URL+"/?channel=room&uid=7", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
}

// TestSubscriberOnly refuses publisher tokens.
func TestSubscriberOnly(t *testing.T) {
	srv := newServer(t, Config{AllowedOrigins: []string{"*"}, NoPublish: true})
	if code, _, body := get(t, srv.URL+"/?channel=room&uid=7&role=publisher", nil); code != 403 {
		t.Fatalf("publisher role: %d %v", code, body)
	}
	code, _, body := get(t, srv.URL+"/?channel=room&uid=7", nil)
	if code != 200 || body["role"] != "subscriber" {
		t.Fatalf("default: %d %v", code, body)
	}
}

func TestConfigValidate(t *testing.T) {
	creds := func(context.Context) (Credentials, error) { return Credentials{}, nil }
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Credentials: creds, Secret: "x", Lifetime: time.Hour}, true},
		{Config{Credentials: creds, Lifetime: time.Hour}, false},
		{Config{Credentials: creds, AllowedOrigins: []string{"example.com"}, Lifetime: time.Hour}, false},
		{Config{Credentials: creds, AllowedOrigins: []string{"https://example.com"}, Lifetime: time.Hour}, true},
		{Config{Credentials: creds, Secret: "x", Lifetime: time.Second}, false},
		{Config{Secret: "x", Lifetime: time.Hour}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.cfg, err)
		}
	}
}

// TestWriteJSONUnencodable: a value that cannot be encoded answers 500, not
// a 200 with an empty body.
func TestWriteJSONUnencodable(t *testing.T) {
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusOK, map[string]any{"c": make(chan int)})
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "internal error") {
		t.Fatalf("got %d %q, want 500", rec.Code, rec.Body.String())
	}
}
