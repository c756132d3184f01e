package egress

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// turnViewer reports each of its turns on turns and stays while stay is
// true; leaveInFlush makes it Leave from inside its turn.
type turnViewer struct {
	slot         *Slot
	turns        chan struct{}
	stay         atomic.Bool
	leaveInFlush atomic.Bool
}

func newTurnViewer() *turnViewer {
	v := &turnViewer{turns: make(chan struct{}, 16)}
	v.stay.Store(true)
	return v
}

func (v *turnViewer) Flush(time.Time) bool {
	v.turns <- struct{}{}
	if v.leaveInFlush.Load() {
		v.slot.Leave()
	}
	return v.stay.Load()
}

// turn waits for v's next turn; the timeout guards against a loop that
// never runs, it is not a measure.
func (v *turnViewer) turn(t *testing.T) {
	t.Helper()
	select {
	case <-v.turns:
	case <-time.After(10 * time.Second):
		t.Fatal("no turn")
	}
}

// noTurn checks that v had no turn by the end of the loop's next pass.
func (v *turnViewer) noTurn(t *testing.T, passCh chan int) {
	t.Helper()
	nextPass(t, passCh)
	select {
	case <-v.turns:
		t.Fatal("a turn after the viewer left")
	default:
	}
}

// waitLen waits until the loop has n viewers.
func waitLen(t *testing.T, l interface{ Len() int }, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); l.Len() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d viewers in the loop, want %d", l.Len(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestJoinLeave: a joined viewer has no goroutine waiting for it: it gets a
// turn at Join and at each Due, Leave (from any goroutine, its own Flush
// included) or a Flush that returns false drops it without blocking, and a
// slot that left does not join again.
func TestJoinLeave(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, v *turnViewer)
	}{
		{"leave", func(_ *testing.T, v *turnViewer) { v.slot.Leave(); v.slot.Leave() }},
		{"leave in flush", func(t *testing.T, v *turnViewer) { v.leaveInFlush.Store(true); v.slot.Due(); v.turn(t) }},
		{"flush false", func(t *testing.T, v *turnViewer) { v.stay.Store(false); v.slot.Due(); v.turn(t) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opt, passCh := passes()
			l := New(opt)
			runLoop(t, l)
			v := newTurnViewer()
			v.slot = l.Slot(v)
			v.slot.Join()
			v.turn(t) // due at Join
			if n := l.Len(); n != 1 {
				t.Fatalf("%d viewers lent after Join, want 1", n)
			}
			for range 3 {
				v.slot.Due()
				v.turn(t)
			}
			tc.end(t, v)
			waitLen(t, l, 0)
			for len(passCh) > 0 {
				<-passCh
			}
			v.slot.Due()
			v.noTurn(t, passCh)
			v.slot.Join() // final: no second join
			v.noTurn(t, passCh)
			if n := l.Len(); n != 0 {
				t.Fatalf("%d viewers lent after a join of a slot that left", n)
			}
		})
	}
}

// TestGroup: a Group spreads its slots over its loops round robin, each
// loop gives its own viewers their turns, and Run returns once every loop
// has returned.
func TestGroup(t *testing.T) {
	const loops, perLoop = 3, 4
	var mu sync.Mutex
	visited := 0
	g := NewGroup(loops, Options{OnPass: func(n int) { mu.Lock(); visited += n; mu.Unlock() }})
	if g.Loops() != loops {
		t.Fatalf("%d loops, want %d", g.Loops(), loops)
	}
	if NewGroup(0, Options{}).Loops() != 1 {
		t.Fatal("a group of 0 loops has no loop to write")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); g.Run(ctx) }()

	var vs []*turnViewer
	for range loops * perLoop {
		v := newTurnViewer()
		v.slot = g.Slot(v)
		v.slot.Join()
		vs = append(vs, v)
	}
	for i, l := range g.loops {
		if n := l.Len(); n != perLoop {
			t.Fatalf("loop %d has %d viewers, want %d", i, n, perLoop)
		}
	}
	for _, v := range vs {
		v.turn(t)
		v.slot.Due()
		v.turn(t)
	}
	if g.Len() != loops*perLoop {
		t.Fatalf("%d viewers in the group, want %d", g.Len(), loops*perLoop)
	}
	for _, v := range vs {
		v.slot.Leave()
	}
	waitLen(t, g, 0)
	mu.Lock()
	if visited < 2*loops*perLoop {
		t.Errorf("the passes visited %d viewers, want at least %d", visited, 2*loops*perLoop)
	}
	mu.Unlock()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
