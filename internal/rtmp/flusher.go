package rtmp

import (
	"context"
	"sync"
	"time"
)

// flusher writes for many viewers from one goroutine: every interval it
// drains each registered viewer's queue and tries one non-blocking writev.
// A viewer costs a syscall per interval and no goroutine wakeup; one whose
// socket is full goes back to its own goroutine, so it never delays others.
type flusher struct {
	interval time.Duration

	mu      sync.Mutex // held during a sweep: register/remove wait for it
	viewers map[*player]struct{}
}

func newFlusher(interval time.Duration) *flusher {
	return &flusher{interval: interval, viewers: make(map[*player]struct{})}
}

// register hands pl to the flusher (from pl's goroutine).
func (f *flusher) register(pl *player) {
	f.mu.Lock()
	f.viewers[pl] = struct{}{}
	f.mu.Unlock()
}

// remove takes pl back from the flusher (from pl's goroutine). It reports
// false when the flusher had already handed pl back (a handback is then
// pending on pl.handback).
func (f *flusher) remove(pl *player) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.viewers[pl]; !ok {
		return false
	}
	delete(f.viewers, pl)
	return true
}

// run sweeps until ctx is cancelled.
func (f *flusher) run(ctx context.Context) {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.sweep(time.Now())
	}
}

func (f *flusher) sweep(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for pl := range f.viewers {
		if !pl.flushOnce(now) {
			delete(f.viewers, pl)
			pl.handback <- struct{}{} // buffered (1): one handback per registration
		}
	}
}
