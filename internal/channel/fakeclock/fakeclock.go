// Package fakeclock is a manual channel.Clock for tests: time moves only when
// the test calls Advance, and due callbacks run in the caller's goroutine.
package fakeclock

import (
	"sort"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
)

// Clock is a manually advanced clock, safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*timer
}

type timer struct {
	c    *Clock
	when time.Time
	seq  int
	f    func()
	done bool
}

// New returns a clock set to start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now implements channel.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements channel.Clock.
func (c *Clock) AfterFunc(d time.Duration, f func()) channel.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Pending is the number of timers that have not fired or been stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	for i, o := range t.c.timers {
		if o == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			break
		}
	}
	return true
}

// Advance moves time forward by d and runs every callback that became due, in
// order of due time, in the calling goroutine. Callbacks may create timers;
// those that fall inside the window run too.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.Slice(c.timers, func(i, j int) bool {
			if c.timers[i].when.Equal(c.timers[j].when) {
				return c.timers[i].seq < c.timers[j].seq
			}
			return c.timers[i].when.Before(c.timers[j].when)
		})
		if len(c.timers) == 0 || c.timers[0].when.After(end) {
			c.now = end
			c.mu.Unlock()
			return
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		t.done = true
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f()
	}
}
