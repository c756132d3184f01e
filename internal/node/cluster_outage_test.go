package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/redistest"
)

// TestClusterJoinWhileRedisUnreachable: while the cluster's Redis answers
// nobody, a join gets the catalogue's 502 cluster unavailable (the app
// check, which reads the shared store, comes before placement; it used to
// answer 500 internal error) and the socket stays open, so the same
// connection joins once Redis is back.
func TestClusterJoinWhileRedisUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	a := startClusterNode(t, clusterConfig(t, srv, "a"))
	b := startClusterNode(t, clusterConfig(t, srv, "b"))
	apps, err := a.Store().Apps(context.Background())
	if err != nil || len(apps) != 1 {
		t.Fatal(apps, err)
	}
	app := apps[0]
	m := dialGateway(t, b)
	if err := srv.Pause(8 * time.Second); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	code, reason := m.join(app.ID, app.Certificate, "room", 5, "broadcaster", "ios")
	if code != 502 || !strings.HasPrefix(reason, "cluster unavailable") {
		t.Fatalf("join while Redis is paused: %d %q, want 502 cluster unavailable", code, reason)
	}
	t.Logf("answered after %s: %d %s", time.Since(began), code, reason)
	if time.Since(began) >= 8*time.Second {
		t.Fatalf("the join was answered after the outage (%s)", time.Since(began))
	}
	waitFor(t, "a join on the same socket after the outage", func() bool {
		code, _ = m.join(app.ID, app.Certificate, "room", 5, "broadcaster", "ios")
		return code == 200
	})
}
