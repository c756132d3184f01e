package store

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func openers(t *testing.T) map[string]func() Store {
	dir := t.TempDir()
	return map[string]func() Store{
		"memory": func() Store { return NewMemory() },
		"bolt": func() Store {
			b, err := OpenBolt(filepath.Join(dir, "minirtc.db"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		"redis": func() Store { return openTestRedis(t) },
	}
}

// openTestRedis starts a real redis-server for t and opens a store on it
// (skipped without redis-server; see internal/redistest).
func openTestRedis(t testing.TB) *Redis {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	r, err := OpenRedis(context.Background(), rdb, "test")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestStoreApps(t *testing.T) {
	ctx := context.Background()
	for name, open := range openers(t) {
		t.Run(name, func(t *testing.T) {
			s := open()
			defer s.Close()
			if _, err := s.App(ctx, "00000000000000000000000000000000"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing app: %v", err)
			}
			a, err := NewApp("first", time.Unix(100, 0))
			if err != nil {
				t.Fatal(err)
			}
			a.Settings.MaxUsersPerChannel = 7
			if err := s.PutApp(ctx, a); err != nil {
				t.Fatal(err)
			}
			b, _ := NewApp("second", time.Unix(200, 0))
			if err := s.PutApp(ctx, b); err != nil {
				t.Fatal(err)
			}
			got, err := s.App(ctx, a.ID)
			if err != nil || got.Name != "first" || got.Settings.MaxUsersPerChannel != 7 || got.Certificate != a.Certificate {
				t.Fatalf("get: %+v %v", got, err)
			}
			list, err := s.Apps(ctx)
			if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
				t.Fatalf("list: %+v %v", list, err)
			}
			s1, _ := s.Secret(ctx, "node")
			s2, _ := s.Secret(ctx, "node")
			if len(s1) != 32 || string(s1) != string(s2) {
				t.Fatalf("secret not stable")
			}
		})
	}
}

func TestValidateApp(t *testing.T) {
	good, _ := NewApp("x", time.Now())
	cases := []struct {
		name string
		edit func(*App)
	}{
		{"short-id", func(a *App) { a.ID = "abc" }},
		{"non-hex-cert", func(a *App) { a.Certificate = "zz" + a.Certificate[2:] }},
		{"negative-limit", func(a *App) { a.Settings.MaxUsersPerChannel = -1 }},
	}
	if err := ValidateApp(good); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := good
			c.edit(&a)
			if err := ValidateApp(a); err == nil {
				t.Fatal("accepted")
			}
			if err := NewMemory().PutApp(context.Background(), a); err == nil {
				t.Fatal("memory store accepted")
			}
		})
	}
}

func TestBoltPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := NewApp("keep", time.Now())
	if err := b.PutApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	sec, _ := b.Secret(ctx, "node")
	b.Close()
	b, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := b.App(ctx, a.ID)
	if err != nil || got.Certificate != a.Certificate {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	sec2, _ := b.Secret(ctx, "node")
	if string(sec) != string(sec2) {
		t.Fatal("secret changed across reopen")
	}
}

// TestBoltSurvivesKill writes apps from a child process that is killed with
// SIGKILL mid-stream; the file must open and hold only whole records.
func TestBoltSurvivesKill(t *testing.T) {
	if os.Getenv("MINIRTC_STORE_WRITER") != "" {
		b, err := OpenBolt(os.Getenv("MINIRTC_STORE_WRITER"))
		if err != nil {
			os.Exit(3)
		}
		for i := 0; ; i++ {
			a, _ := NewApp("app-"+strconv.Itoa(i), time.Now())
			if err := b.PutApp(context.Background(), a); err != nil {
				os.Exit(4)
			}
			if i == 20 {
				os.WriteFile(os.Getenv("MINIRTC_STORE_WRITER")+".ready", nil, 0o600)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestBoltSurvivesKill$")
	cmd.Env = append(os.Environ(), "MINIRTC_STORE_WRITER="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(path + ".ready"); err == nil {
			break
		}
		if i > 3000 {
			cmd.Process.Kill()
			t.Fatal("writer never got ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer b.Close()
	apps, err := b.Apps(context.Background())
	if err != nil {
		t.Fatalf("read after kill: %v", err)
	}
	if len(apps) < 21 {
		t.Fatalf("only %d apps survived, at least 21 were committed", len(apps))
	}
	for _, a := range apps {
		if err := ValidateApp(a); err != nil {
			t.Fatalf("corrupt record: %v", err)
		}
	}
}

func TestStoreAPIKeys(t *testing.T) {
	ctx := context.Background()
	for name, open := range openers(t) {
		t.Run(name, func(t *testing.T) {
			s := open()
			defer s.Close()
			if list, err := s.APIKeys(ctx); err != nil || len(list) != 0 {
				t.Fatalf("empty store lists %v %v", list, err)
			}
			k, secret, err := NewAPIKey("ci", time.Unix(100, 0))
			if err != nil {
				t.Fatal(err)
			}
			if len(k.ID) != 32 || len(secret) != 64 || k.SecretHash == secret {
				t.Fatalf("new key %+v secret %q", k, secret)
			}
			if err := s.PutAPIKey(ctx, k); err != nil {
				t.Fatal(err)
			}
			k2, _, _ := NewAPIKey("ops", time.Unix(200, 0))
			if err := s.PutAPIKey(ctx, k2); err != nil {
				t.Fatal(err)
			}
			got, err := s.APIKey(ctx, k.ID)
			if err != nil || got.Name != "ci" || !got.Verify(secret) || got.Verify(secret+"x") || got.Verify("") {
				t.Fatalf("get %+v %v", got, err)
			}
			list, err := s.APIKeys(ctx)
			if err != nil || len(list) != 2 || list[0].ID != k.ID || list[1].ID != k2.ID {
				t.Fatalf("list %+v %v", list, err)
			}
			if err := s.DeleteAPIKey(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.APIKey(ctx, k.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("deleted key: %v", err)
			}
			if err := s.DeleteAPIKey(ctx, k.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("second delete: %v", err)
			}
			for _, bad := range []APIKey{{ID: "a:b", SecretHash: k.SecretHash}, {ID: "", SecretHash: k.SecretHash}, {ID: "x", SecretHash: "zz"}} {
				if err := s.PutAPIKey(ctx, bad); err == nil {
					t.Errorf("PutAPIKey(%+v) accepted", bad)
				}
			}
		})
	}
}

func TestStoreKickingRules(t *testing.T) {
	ctx := context.Background()
	app, _ := NewApp("a", time.Unix(1, 0))
	until := time.Unix(5000, 0).UTC()
	for name, open := range openers(t) {
		t.Run(name, func(t *testing.T) {
			s := open()
			defer s.Close()
			if _, err := s.KickingRule(ctx, 1); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing rule: %v", err)
			}
			if list, err := s.KickingRules(ctx); err != nil || len(list) != 0 {
				t.Fatalf("empty list: %v %v", list, err)
			}
			r := KickingRule{App: app.ID, Channel: "room", UID: 42, Privileges: []string{PrivilegeJoinChannel},
				Until: until, CreatedAt: until, UpdatedAt: until}
			id1, err := s.PutKickingRule(ctx, r)
			if err != nil || id1 == 0 {
				t.Fatalf("put: %d %v", id1, err)
			}
			r.IP, r.UID, r.Privileges = "10.0.0.1", 0, []string{PrivilegePublishAudio, PrivilegePublishVideo}
			id2, err := s.PutKickingRule(ctx, r)
			if err != nil || id2 <= id1 {
				t.Fatalf("second put: %d %v", id2, err)
			}
			got, err := s.KickingRule(ctx, id2)
			if err != nil || got.ID != id2 || got.IP != "10.0.0.1" || len(got.Privileges) != 2 || !got.Until.Equal(until) {
				t.Fatalf("get: %+v %v", got, err)
			}
			got.Until = until.Add(time.Hour)
			if id, err := s.PutKickingRule(ctx, got); err != nil || id != id2 {
				t.Fatalf("replace: %d %v", id, err)
			}
			if _, err := s.PutKickingRule(ctx, KickingRule{ID: 999, App: app.ID, Privileges: []string{PrivilegeJoinChannel}, Until: until}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("replace a missing rule: %v", err)
			}
			list, err := s.KickingRules(ctx)
			if err != nil || len(list) != 2 || list[0].ID != id1 || list[1].ID != id2 || !list[1].Until.Equal(until.Add(time.Hour)) {
				t.Fatalf("list: %+v %v", list, err)
			}
			if err := s.DeleteKickingRule(ctx, id1); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteKickingRule(ctx, id1); !errors.Is(err, ErrNotFound) {
				t.Fatalf("second delete: %v", err)
			}
			// A deleted rule's id is not given again.
			id3, err := s.PutKickingRule(ctx, r)
			if err != nil || id3 <= id2 {
				t.Fatalf("id after delete: %d %v", id3, err)
			}
			for _, bad := range []KickingRule{
				{App: "nope", Privileges: []string{PrivilegeJoinChannel}, Until: until},
				{App: app.ID, IP: "10.0.0", Privileges: []string{PrivilegeJoinChannel}, Until: until},
				{App: app.ID, Privileges: nil, Until: until},
				{App: app.ID, Privileges: []string{"fly"}, Until: until},
				{App: app.ID, Privileges: []string{PrivilegeJoinChannel}},
			} {
				if _, err := s.PutKickingRule(ctx, bad); err == nil {
					t.Errorf("stored a bad rule %+v", bad)
				}
			}
		})
	}
}

func TestBoltKickingRulesPersist(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "minirtc.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	app, _ := NewApp("a", time.Unix(1, 0))
	id, err := b.PutKickingRule(ctx, KickingRule{App: app.ID, UID: 9, Privileges: []string{PrivilegeJoinChannel}, Until: time.Unix(9000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	b, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if r, err := b.KickingRule(ctx, id); err != nil || r.UID != 9 {
		t.Fatalf("after reopen: %+v %v", r, err)
	}
	if id2, err := b.PutKickingRule(ctx, KickingRule{App: app.ID, UID: 10, Privileges: []string{PrivilegeJoinChannel}, Until: time.Unix(9000, 0)}); err != nil || id2 <= id {
		t.Fatalf("id after reopen: %d %v", id2, err)
	}
}
