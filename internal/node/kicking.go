package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/minirtc/minirtc/internal/api"
	"github.com/minirtc/minirtc/internal/store"
)

// loadKickingRules hands the stored banning rules (REST API kicking-rule)
// to the channel model, so that they hold from the node's first
// connection, whether or not the API is served; expired ones are dropped
// from the store.
func (n *Node) loadKickingRules(ctx context.Context) error {
	rules, err := n.store.KickingRules(ctx)
	if err != nil {
		return fmt.Errorf("node: load kicking rules: %w", err)
	}
	now := n.channels.Clock().Now()
	active := 0
	for _, r := range rules {
		if !now.Before(r.Until) {
			if err := n.store.DeleteKickingRule(ctx, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("node: drop expired kicking rule %d: %w", r.ID, err)
			}
			continue
		}
		n.channels.Ban(api.KickingBanRule(r))
		active++
	}
	if active > 0 {
		n.log.Info("banning rules loaded", "rules", active)
	}
	return nil
}
