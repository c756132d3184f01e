package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// lostLog collects OnLost calls.
type lostLog struct {
	mu   sync.Mutex
	list []Lease
}

func (l *lostLog) add(x Lease) { l.mu.Lock(); l.list = append(l.list, x); l.mu.Unlock() }
func (l *lostLog) n() int      { l.mu.Lock(); defer l.mu.Unlock(); return len(l.list) }

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAgentKeepsItsLeasesAndLosesThemWhenPaused(t *testing.T) {
	cfg := Config{NodeTTL: 300 * time.Millisecond, LeaseTTL: 300 * time.Millisecond}
	cs, _ := nodes(t, 2, cfg)
	ctx := context.Background()
	var lost lostLog
	a := cs[0].NewAgent(AgentConfig{Info: NodeInfo{ID: "n0"}, OnLost: lost.add})
	l, err := a.Own(ctx, "app", "room")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { a.Run(runCtx); close(done) }()
	// Renewed for several lease times: nobody else gets it.
	time.Sleep(time.Second)
	if cur, _ := cs[1].Owner(ctx, "app", "room"); cur == nil || *cur != l {
		t.Fatalf("owner after 1 s of renewals: %+v, want %+v", cur, l)
	}
	if _, ok, _ := cs[1].Acquire(ctx, "app", "room", "n1"); ok {
		t.Fatal("a renewed lease was granted to another node")
	}
	if list, _ := cs[1].Nodes(ctx); len(list) != 1 || list[0].ID != "n0" || list[0].Load.Channels != 1 {
		t.Fatalf("registry: %+v", list)
	}
	// A clean stop releases and leaves at once.
	stop()
	<-done
	if cur, _ := cs[1].Owner(ctx, "app", "room"); cur != nil {
		t.Fatalf("lease kept after a clean stop: %+v", cur)
	}
	if list, _ := cs[1].Nodes(ctx); len(list) != 0 {
		t.Fatalf("node listed after a clean stop: %+v", list)
	}

	// A node that pauses (no beats) past its lease loses it to another node,
	// and learns so when it resumes.
	b := cs[0].NewAgent(AgentConfig{Info: NodeInfo{ID: "n0"}, OnLost: lost.add})
	if _, err := b.Own(ctx, "app", "room2"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	other, ok, err := cs[1].Acquire(ctx, "app", "room2", "n1")
	if err != nil || !ok {
		t.Fatalf("after the pause another node should own the channel: %v %v", ok, err)
	}
	b.beat(ctx)
	if lost.n() != 1 || len(b.Owned()) != 0 {
		t.Fatalf("paused owner: %d leases lost reported, %d still held", lost.n(), len(b.Owned()))
	}
	if err := cs[1].Check(ctx, other); err != nil {
		t.Fatalf("the new owner's lease was disturbed: %v", err)
	}
}

func TestAgentSurvivesARedisRestart(t *testing.T) {
	cfg := Config{NodeTTL: 600 * time.Millisecond, LeaseTTL: 600 * time.Millisecond}
	cs, srv := nodes(t, 1, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var lost lostLog
	a := cs[0].NewAgent(AgentConfig{Info: NodeInfo{ID: "n0"}, OnLost: lost.add})
	l, err := a.Own(ctx, "app", "room")
	if err != nil {
		t.Fatal(err)
	}
	go a.Run(ctx)
	// Redis goes away briefly (shorter than the lease) and comes back empty.
	srv.Stop()
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	waitFor(t, "the lease to be taken back", 3*time.Second, func() bool {
		cur, err := cs[0].Owner(ctx, "app", "room")
		return err == nil && cur != nil && cur.Owner == "n0"
	})
	waitFor(t, "the node to register again", 3*time.Second, func() bool {
		list, err := cs[0].Nodes(ctx)
		return err == nil && len(list) == 1
	})
	if lost.n() != 0 {
		t.Fatalf("a short outage lost %d leases", lost.n())
	}
	if got := a.Owned(); len(got) != 1 || got[0].App != l.App {
		t.Fatalf("owned after restart: %+v", got)
	}

	// An outage longer than the lease: the node keeps serving the channel
	// (nothing is reported lost: OnLost would send its members away) and
	// takes the lease back when Redis answers.
	srv.Stop()
	time.Sleep(3 * cfg.LeaseTTL)
	if lost.n() != 0 {
		t.Fatalf("an outage reported %d leases lost", lost.n())
	}
	srv.Restart()
	waitFor(t, "the lease to be taken back after a long outage", 3*time.Second, func() bool {
		cur, err := cs[0].Owner(ctx, "app", "room")
		return err == nil && cur != nil && cur.Owner == "n0"
	})
}

func TestAgentDrainingTakesNoNewChannels(t *testing.T) {
	cs, _ := nodes(t, 1, Config{NodeTTL: time.Second, LeaseTTL: time.Second})
	ctx := context.Background()
	a := cs[0].NewAgent(AgentConfig{Info: NodeInfo{ID: "n0"}})
	kept, err := a.Own(ctx, "app", "kept")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetDraining(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Own(ctx, "app", "new"); !errors.Is(err, ErrDraining) {
		t.Fatalf("own while draining: %v, want ErrDraining", err)
	}
	if l, err := a.Own(ctx, "app", "kept"); err != nil || l != kept {
		t.Fatalf("a channel it holds: %+v %v", l, err)
	}
	if n, ok, _ := cs[0].Node(ctx, "n0"); !ok || !n.Draining {
		t.Fatalf("registry entry while draining: %+v %v", n, ok)
	}
}

// TestAgentTakesItsLeaseBackAfterALongOutage: Redis unreachable for longer
// than the lease. The lease is kept (stale, not reported lost: the node's
// members stay): when Redis answers again the node owns the channel again,
// unless another node took it meanwhile, which the node then learns
// (OnLost) and forgets the lease.
func TestAgentTakesItsLeaseBackAfterALongOutage(t *testing.T) {
	cfg := Config{NodeTTL: 300 * time.Millisecond, LeaseTTL: 300 * time.Millisecond}
	for _, tc := range []struct {
		name   string
		stolen bool // another node takes the channel after the outage
	}{
		{name: "paused, data kept"},
		{name: "restarted empty"},
		{name: "another node took it", stolen: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, srv := nodes(t, 2, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var lost lostLog
			a := cs[0].NewAgent(AgentConfig{Info: NodeInfo{ID: "n0"}, OnLost: lost.add})
			if _, err := a.Own(ctx, "app", "room"); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { a.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			switch tc.name {
			case "paused, data kept":
				if err := srv.Pause(time.Second); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Second)
			default:
				srv.Stop()
				time.Sleep(time.Second)
				srv.Restart()
			}
			if lost.n() != 0 {
				t.Fatalf("the outage reported %d leases lost", lost.n())
			}
			if tc.stolen {
				// The lease expired (or Redis came back empty): another node takes it.
				var err error
				for i := 0; i < 50; i++ {
					var ok bool
					if _, ok, err = cs[1].Acquire(context.Background(), "app", "room", "n1"); ok {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				if cur, _ := cs[1].Owner(context.Background(), "app", "room"); cur == nil || cur.Owner != "n1" {
					t.Skipf("the agent took its lease back before another node could (%v): nothing to test", err)
				}
				waitFor(t, "the node to forget the lease", 3*time.Second, func() bool { return len(a.Owned()) == 0 })
				if lost.n() != 1 {
					t.Fatalf("OnLost calls: %d, want 1 (held by another node)", lost.n())
				}
				return
			}
			waitFor(t, "the node to own the channel again", 3*time.Second, func() bool {
				cur, err := cs[1].Owner(context.Background(), "app", "room")
				return err == nil && cur != nil && cur.Owner == "n0"
			})
			// Renewed from now on: no other node gets it.
			time.Sleep(2 * cfg.LeaseTTL)
			if _, ok, err := cs[1].Acquire(context.Background(), "app", "room", "n1"); err != nil || ok {
				t.Fatalf("after the outage another node got the channel (%v %v)", ok, err)
			}
			if got := a.Owned(); len(got) != 1 {
				t.Fatalf("owned after the outage: %+v", got)
			}
			if lost.n() != 0 {
				t.Fatalf("OnLost calls: %d, want none", lost.n())
			}
			// Own answers the renewed lease, not a stale one.
			l, err := a.Own(context.Background(), "app", "room")
			if err != nil {
				t.Fatal(err)
			}
			if err := cs[1].Check(context.Background(), l); err != nil {
				t.Fatalf("Own after the outage answered a lease not in force: %v", err)
			}
		})
	}
}

// TestAgentOnTakenOncePerGrantAndAwaited: OnTaken runs once when the node
// takes a channel it did not hold, and a concurrent Own of the same channel
// returns only after it finished (no member joins before the previous
// owner's list is read); a lease the node holds does not call it again.
func TestAgentOnTakenOncePerGrantAndAwaited(t *testing.T) {
	cfg := Config{NodeTTL: time.Minute, LeaseTTL: time.Minute}
	cs, _ := nodes(t, 1, cfg)
	ctx := context.Background()
	var mu sync.Mutex
	var calls []Lease
	finished := make(chan struct{})
	release := make(chan struct{})
	a := cs[0].NewAgent(AgentConfig{Info: NodeInfo{ID: "n0"}, OnTaken: func(_ context.Context, l Lease) {
		mu.Lock()
		calls = append(calls, l)
		mu.Unlock()
		<-release
		close(finished)
	}})
	results := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := a.Own(ctx, "app", "room")
			select {
			case <-finished:
			default:
				err = errors.New("Own returned before OnTaken finished")
			}
			results <- err
		}()
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	for range 3 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Own(ctx, "app", "room"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 || calls[0].Owner != "n0" {
		t.Fatalf("OnTaken calls %+v, want one for n0's grant", calls)
	}
}
