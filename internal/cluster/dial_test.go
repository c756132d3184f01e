package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/redistest"
)

func TestDial(t *testing.T) {
	srv := redistest.Start(t)
	bad := []struct {
		name string
		opts RedisOptions
		want string
	}{
		{"nothing", RedisOptions{}, "exactly one"},
		{"two", RedisOptions{URL: srv.URL(), ClusterAddrs: []string{"127.0.0.1:1"}}, "exactly one"},
		{"bad url", RedisOptions{URL: "http://x"}, "Redis URL"},
		{"sentinel without name", RedisOptions{SentinelAddrs: []string{"127.0.0.1:1"}}, "primary's name"},
		{"missing CA", RedisOptions{URL: srv.URL(), CAFile: "/nonexistent/ca.pem"}, "CA file"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Dial(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Dial: %v, want an error about %q", err, tc.want)
			}
		})
	}
	rdb, err := Dial(RedisOptions{URL: srv.URL(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("ping through Dial: %v", err)
	}
}
