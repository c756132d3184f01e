package egress

import (
	"context"
	"sync"
	"sync/atomic"
)

// Group is n Loops sharing their viewers: each new slot goes to the next
// loop (round robin), so a packet queued to many viewers wakes at most one
// goroutine per loop and each loop's writes fill one send batch. A packet
// writer runs one loop per core.
type Group struct {
	loops []*Loop
	next  atomic.Uint64
}

// NewGroup returns a Group of n loops (at least one) with options opt; Run
// runs them.
func NewGroup(n int, opt Options) *Group {
	g := &Group{loops: make([]*Loop, max(n, 1))}
	for i := range g.loops {
		g.loops[i] = New(opt)
	}
	return g
}

// Slot returns v's place in the next loop, round robin.
func (g *Group) Slot(v Viewer) *Slot {
	i := (g.next.Add(1) - 1) % uint64(len(g.loops))
	return g.loops[i].Slot(v)
}

// Run runs every loop until ctx is cancelled and returns when all have
// returned.
func (g *Group) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range g.loops {
		wg.Go(func() { l.Run(ctx) })
	}
	wg.Wait()
}

// Len is the number of viewers lent to the group's loops.
func (g *Group) Len() int {
	n := 0
	for _, l := range g.loops {
		n += l.Len()
	}
	return n
}

// Loops is the number of loops.
func (g *Group) Loops() int { return len(g.loops) }
