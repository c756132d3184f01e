package webhook

import (
	"context"
	"errors"
	"time"

	"github.com/minirtc/minirtc/internal/store"
)

// A cluster's nodes share one outbox. Each entry names the node that
// delivers it (store.OutboxEntry.Node): the node that observed the event
// wrote it with its own id, and no other node touches it while that node is
// alive. The sweep below hands the entries of a dead node to the live ones:
// each live node reads the pending entries every SweepEvery and adopts
// those of nodes missing from the registry through store.AdoptOutbox, a
// compare-and-set on the owner, so exactly one node gets each entry. A node
// that was only paused and comes back finds its updates refused
// (store.ErrNotOwner) and drops the entries it lost.
//
// Entries of one lane (endpoint and channel) are delivered in order by one
// node, so a sweep keeps a dead node's lane together where it can: it
// leaves a lane to another live node when that node owns an earlier
// pending entry of the lane, or when it adopted one of the lane's entries
// first (this sweep lost the compare-and-set). Across a failover the order
// is kept in most cases, not promised: receivers order by the payload's
// clientSeq and ts, as with Agora.

// sweeper adopts orphaned entries every SweepEvery until ctx ends. The
// first sweep waits one period, so that nodes starting together have
// registered before any is taken for dead.
func (s *Service) sweeper(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.sweep(ctx)
	}
}

// sweep adopts the pending entries of dead nodes (and those of no node),
// queues them here and returns how many.
func (s *Service) sweep(ctx context.Context) int {
	pend, err := s.st.PendingOutbox(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("webhook sweep: cannot read the outbox", "err", err)
		}
		return 0
	}
	alive := map[string]bool{s.cfg.Node: true}
	from := map[string]int{}
	left := map[laneKey]bool{} // lanes left to another node in this sweep
	var won []store.OutboxEntry
sweep:
	for _, e := range pend {
		k := laneKey{e.Endpoint, e.App, e.Channel}
		if left[k] {
			continue
		}
		live, known := alive[e.Node]
		if !known {
			if live, err = s.alive(ctx, e.Node); err != nil {
				if ctx.Err() == nil {
					s.log.Warn("webhook sweep: cannot tell whether a node is alive", "node", e.Node, "err", err)
				}
				break // Redis trouble: try again next period
			}
			alive[e.Node] = live
		}
		if live {
			if e.Node != s.cfg.Node {
				left[k] = true // its owner adopts the lane's later entries
			}
			continue
		}
		got, ok, err := s.st.AdoptOutbox(ctx, e.Seq, e.Node, s.cfg.Node)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err == nil && !ok:
			left[k] = true // another node adopted it first
		case err != nil:
			if ctx.Err() == nil {
				s.log.Warn("webhook sweep: adopting an entry failed", "seq", e.Seq, "node", e.Node, "err", err)
			}
			break sweep
		case ok:
			won = append(won, got)
			from[e.Node]++
		}
	}
	if len(won) == 0 {
		return 0
	}
	s.mu.Lock()
	s.addLocked(won)
	s.mu.Unlock()
	s.poke()
	for node, n := range from {
		s.log.Info("webhook deliveries adopted from a dead node", "from", node, "count", n)
	}
	return len(won)
}

// alive reports whether node delivers its own entries: "" (no node) never
// does; without Config.Alive every named node is taken for alive.
func (s *Service) alive(ctx context.Context, node string) (bool, error) {
	if node == "" {
		return false, nil
	}
	if node == s.cfg.Node || s.cfg.Alive == nil {
		return true, nil
	}
	return s.cfg.Alive(ctx, node)
}

// adoptIfDead adopts e, a pending entry of another node, when that node is
// dead; ok false leaves it with its owner (alive, or another adopter won).
func (s *Service) adoptIfDead(ctx context.Context, e store.OutboxEntry) (store.OutboxEntry, bool, error) {
	live, err := s.alive(ctx, e.Node)
	if err != nil || live {
		return store.OutboxEntry{}, false, err
	}
	return s.st.AdoptOutbox(ctx, e.Seq, e.Node, s.cfg.Node)
}
