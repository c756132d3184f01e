package api

import (
	"context"
	"encoding/json"
	"github.com/minirtc/minirtc/internal/logtest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/api/apitest"
	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
)

// fakeChannels is a hand-written channel model: app -> channel -> members.
type fakeChannels map[string]map[string][]channel.MemberInfo

func (f fakeChannels) Channels(app string) []string {
	var out []string
	for name := range f[app] {
		out = append(out, name)
	}
	return out
}
func (f fakeChannels) Members(app, ch string) []channel.MemberInfo { return f[app][ch] }
func (f fakeChannels) Member(app, ch string, uid uint32) (channel.MemberInfo, bool) {
	for _, m := range f[app][ch] {
		if m.UID == uid {
			return m, true
		}
	}
	return channel.MemberInfo{}, false
}

type fakeMedia struct{ closed []uint64 }

func (f *fakeMedia) Streams() []media.StreamDetail { return nil }
func (f *fakeMedia) CloseReader(id uint64, _ error) bool {
	f.closed = append(f.closed, id)
	return id == 5
}

type syncBuf = logtest.Buffer

type fixture struct {
	t      *testing.T
	st     *store.Memory
	app    store.App
	url    string
	log    *syncBuf
	fm     *fakeMedia
	keyID  string
	secret string
}

func newFixture(t *testing.T, cfg Config, ch fakeChannels, withKey bool) *fixture {
	t.Helper()
	f := &fixture{t: t, st: store.NewMemory(), log: &syncBuf{}, fm: &fakeMedia{}}
	app, _ := store.NewApp("demo", time.Unix(1700000000, 0))
	f.app = app
	if err := f.st.PutApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	if withKey {
		k, secret, _ := store.NewAPIKey("test", time.Now())
		f.st.PutAPIKey(context.Background(), k)
		f.keyID, f.secret = k.ID, secret
	}
	if ch == nil {
		ch = fakeChannels{}
	}
	srv, err := New(cfg, Deps{Store: f.st, Channels: ch, Media: f.fm}, slog.New(slog.NewTextHandler(f.log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

// do calls the API with the fixture's key (id "" sends no credentials).
func (f *fixture) do(method, path, id, secret, body string) (*http.Response, []byte) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.url+path, rd)
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (f *fixture) get(path string) (int, []byte) {
	resp, b := f.do(http.MethodGet, path, f.keyID, f.secret, "")
	return resp.StatusCode, b
}

type errBody struct {
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// TestAuthentication: no key at all, no credentials, a wrong secret, an
// unknown id and a deleted key get 401 with a JSON reason (and Agora's
// message on Agora paths); the stored key and the configured key work.
func TestAuthentication(t *testing.T) {
	empty := newFixture(t, Config{}, nil, false)
	resp, b := empty.do(http.MethodGet, "/v1/apps", "anyone", "anything", "")
	var e errBody
	json.Unmarshal(b, &e)
	if resp.StatusCode != 401 || !strings.Contains(e.Reason, "no API key exists yet") || !strings.Contains(e.Reason, "minirtc apikey create") {
		t.Fatalf("no key at all: %d %s", resp.StatusCode, b)
	}

	f := newFixture(t, Config{Key: "automation:0123456789abcdef"}, nil, true)
	other, otherSecret, _ := store.NewAPIKey("gone", time.Now())
	f.st.PutAPIKey(context.Background(), other)
	f.st.DeleteAPIKey(context.Background(), other.ID)
	cases := []struct {
		name, path, id, secret string
		status                 int
		reason                 string
	}{
		{"none", "/v1/apps", "", "", 401, "send an API key with HTTP Basic auth"},
		{"none-agora", "/dev/v1/projects", "", "", 401, "send an API key"},
		{"wrong-secret", "/v1/apps", f.keyID, f.secret + "0", 401, "wrong API key id or secret"},
		{"empty-secret", "/v1/apps", f.keyID, "", 401, "wrong API key id or secret"},
		{"unknown-id", "/v1/apps", "0123456789abcdef0123456789abcdef", f.secret, 401, "wrong API key id or secret"},
		{"deleted", "/v1/apps", other.ID, otherSecret, 401, "wrong API key id or secret"},
		{"env-wrong", "/v1/apps", "automation", "0123456789abcdeX", 401, "wrong API key id or secret"},
		{"stored", "/v1/apps", f.keyID, f.secret, 200, ""},
		{"env", "/dev/v1/projects", "automation", "0123456789abcdef", 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := f.do(http.MethodGet, c.path, c.id, c.secret, "")
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if c.status != 401 {
				return
			}
			var e errBody
			if err := json.Unmarshal(b, &e); err != nil || e.Code != 401 || !strings.Contains(e.Reason, c.reason) {
				t.Fatalf("body %s (%v), want reason %q", b, err, c.reason)
			}
			if isAgoraPath(c.path) != (e.Message != "") {
				t.Fatalf("message on %s: %q", c.path, e.Message)
			}
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("no WWW-Authenticate: %v", resp.Header)
			}
		})
	}
}

// TestRateLimitPerKey: a key that spent its burst gets 429 with Retry-After
// and a JSON reason; another key is not affected.
func TestRateLimitPerKey(t *testing.T) {
	// A refill of one call per 1000 s: nothing comes back during the test.
	f := newFixture(t, Config{RequestsPerSecond: 0.001, Burst: 2, Key: "second:0123456789abcdef"}, nil, true)
	for i, want := range []int{200, 200, 429, 429} {
		resp, b := f.do(http.MethodGet, "/v1/apps", f.keyID, f.secret, "")
		if resp.StatusCode != want {
			t.Fatalf("call %d: %d, want %d (%s)", i, resp.StatusCode, want, b)
		}
		if want == 429 {
			var e errBody
			json.Unmarshal(b, &e)
			if e.Code != 429 || !strings.Contains(e.Reason, "too many requests") || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("429 answer: %s %v", b, resp.Header)
			}
		}
	}
	if resp, _ := f.do(http.MethodGet, "/v1/apps", "second", "0123456789abcdef", ""); resp.StatusCode != 200 {
		t.Fatalf("another key was limited: %d", resp.StatusCode)
	}
}

// TestCallsAreLogged: every call, refused or not, logs one line with its
// key id, method, path and status.
func TestCallsAreLogged(t *testing.T) {
	f := newFixture(t, Config{}, nil, true)
	f.get("/v1/apps")
	f.do(http.MethodGet, "/v1/apps", f.keyID, "bad", "")
	logs := f.log.String()
	if !strings.Contains(logs, `msg="api call" component=api method=GET path=/v1/apps status=200 key=`+f.keyID) {
		t.Fatalf("accepted call not logged with its key:\n%s", logs)
	}
	if !strings.Contains(logs, `msg="api call refused" component=api method=GET path=/v1/apps status=401 key=`+f.keyID) {
		t.Fatalf("refused call not logged:\n%s", logs)
	}
	if strings.Contains(logs, f.secret) {
		t.Fatal("the secret was logged")
	}
}

// TestCommunicationChannelShape: a communication channel answers Agora's
// users/total shape and role 1 (the gateway makes live channels only, so a
// fake channel model drives this one).
func TestCommunicationChannelShape(t *testing.T) {
	f := newFixture(t, Config{}, nil, true)
	ch := fakeChannels{f.app.ID: {"call": {
		{App: f.app.ID, Channel: "call", UID: 5, Profile: channel.ProfileCommunication, Role: channel.RoleBroadcaster, JoinedAt: time.Unix(1700000100, 0)},
		{App: f.app.ID, Channel: "call", UID: 6, Profile: channel.ProfileCommunication},
	}}}
	srv, _ := New(Config{}, Deps{Store: f.st, Channels: ch}, slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(srv)
	defer ts.Close()
	f.url = ts.URL
	code, b := f.get("/dev/v1/channel/user/" + f.app.ID + "/call")
	checkShape(t, code, b, "user_list_communication")
	var got struct {
		Data struct {
			Mode  int      `json:"mode"`
			Total int      `json:"total"`
			Users []uint32 `json:"users"`
		} `json:"data"`
	}
	json.Unmarshal(b, &got)
	if got.Data.Mode != 1 || got.Data.Total != 2 || len(got.Data.Users) != 2 {
		t.Fatalf("users: %s", b)
	}
	code, b = f.get("/dev/v1/channel/user/property/" + f.app.ID + "/5/call")
	checkShape(t, code, b, "user_property")
	if !strings.Contains(string(b), `"role":1`) || !strings.Contains(string(b), `"join":1700000100`) {
		t.Fatalf("property: %s", b)
	}
}

func checkShape(t *testing.T, code int, got []byte, fixture string) {
	t.Helper()
	if code != 200 {
		t.Fatalf("%s: status %d: %s", fixture, code, got)
	}
	want, err := apitest.Fixture(fixture)
	if err != nil {
		t.Fatal(err)
	}
	d, err := apitest.ShapeDiff(want, got)
	if err != nil || d != "" {
		t.Fatalf("%s: shape differs from Agora's:\n%s\n%v\ngot %s", fixture, d, err, got)
	}
}

// TestBadRequests: bad parameters and bodies are catalogue errors with the
// right status, never a panic or a 500.
func TestBadRequests(t *testing.T) {
	f := newFixture(t, Config{RequestsPerSecond: 1000}, nil, true)
	app := f.app.ID
	cases := []struct {
		method, path, body string
		status             int
		reason             string
	}{
		{"GET", "/dev/v1/channel/" + app + "?page_size=0", "", 400, "page_size must be 1..500"},
		{"GET", "/dev/v1/channel/" + app + "?page_size=501", "", 400, "page_size must be 1..500"},
		{"GET", "/dev/v1/channel/" + app + "?page_no=-1", "", 400, "page_no must be a whole number from 0"},
		{"GET", "/dev/v1/channel/" + app + "?page_no=x", "", 400, "page_no"},
		{"GET", "/v1/apps?page=0", "", 400, "page must be a whole number from 1"},
		{"GET", "/dev/v1/channel/ffffffffffffffffffffffffffffffff", "", 404, "no app with id"},
		{"GET", "/dev/v1/channel/user/property/" + app + "/abc/room", "", 400, "invalid uid"},
		{"GET", "/dev/v1/channel/user/property/" + app + "/0/room", "", 400, "invalid uid"},
		{"GET", "/v1/apps/" + app + "/channels/room/members/99", "", 404, "uid 99 is not in channel"},
		{"POST", "/dev/v1/project", "not json", 400, "body"},
		{"POST", "/dev/v1/project", `{"name": ""}`, 400, "name must be 1..255"},
		{"POST", "/dev/v1/project", `{"name": "x"}`, 400, "enable_sign_key is required"},
		{"POST", "/dev/v1/project_status", `{"id": "` + app + `", "status": 7}`, 400, "status must be 1"},
		{"POST", "/dev/v1/project_status", `{"status": 1}`, 400, "id (the app id) is required"},
		{"POST", "/dev/v1/reset_signkey", `{"id": "nope"}`, 404, "no app with id"},
		{"POST", "/v1/apps", `{"name": "x", "extra": 1}`, 400, "unknown field"},
		{"POST", "/v1/apps", `{"maxUsersPerChannel": -1}`, 400, "maxUsersPerChannel must not be negative"},
		{"POST", "/v1/apps", `{"name": "` + strings.Repeat("x", 70<<10) + `"}`, 400, "body"},
		{"DELETE", "/v1/readers/abc", "", 400, "reader id must be a positive number"},
		{"DELETE", "/v1/readers/6", "", 404, "no reader 6"},
		{"GET", "/v1/nothing", "", 404, "no API endpoint GET /v1/nothing"},
	}
	for _, c := range cases {
		t.Run(c.method+c.path, func(t *testing.T) {
			resp, b := f.do(c.method, c.path, f.keyID, f.secret, c.body)
			var e errBody
			if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != c.status || !strings.Contains(e.Reason, c.reason) {
				t.Fatalf("%d %s, want %d %q", resp.StatusCode, b, c.status, c.reason)
			}
		})
	}
	if resp, _ := f.do("DELETE", "/v1/readers/5", f.keyID, f.secret, ""); resp.StatusCode != 204 {
		t.Fatalf("closing reader 5: %d", resp.StatusCode)
	}
}

// TestHostsOnlyChannelName: a channel literally named "hosts_only" is a
// channel, not the host-list form of the path.
func TestHostsOnlyChannelName(t *testing.T) {
	f := newFixture(t, Config{}, nil, true)
	ch := fakeChannels{f.app.ID: {"hosts_only": {
		{App: f.app.ID, Channel: "hosts_only", UID: 5, Role: channel.RoleBroadcaster},
		{App: f.app.ID, Channel: "hosts_only", UID: 6},
	}}}
	srv, _ := New(Config{}, Deps{Store: f.st, Channels: ch}, slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(srv)
	defer ts.Close()
	f.url = ts.URL
	code, b := f.get("/dev/v1/channel/user/" + f.app.ID + "/hosts_only")
	checkShape(t, code, b, "user_list_live")
	code, b = f.get("/dev/v1/channel/user/" + f.app.ID + "/hosts_only/hosts_only")
	checkShape(t, code, b, "user_list_hosts_only")
}

// BenchmarkAuthenticatedCall: one authenticated, rate-checked, logged call
// (GET /v1/apps with one app, memory store, log discarded).
func BenchmarkAuthenticatedCall(b *testing.B) {
	st := store.NewMemory()
	app, _ := store.NewApp("demo", time.Now())
	st.PutApp(context.Background(), app)
	k, secret, _ := store.NewAPIKey("bench", time.Now())
	st.PutAPIKey(context.Background(), k)
	srv, err := New(Config{RequestsPerSecond: 1e9, Burst: 1e9}, Deps{Store: st, Channels: fakeChannels{}}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/apps", nil)
	req.SetBasicAuth(k.ID, secret)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
