// Package cluster is what the nodes of a minirtc cluster share in Redis: the
// node registry (who is alive, where it listens, how loaded it is) and
// channel placement (which node owns a channel).
//
// Registry: every node writes its NodeInfo under a key with a time to live
// and renews it on a heartbeat; a node that stops (kill -9, a lost network)
// disappears when its key expires.
//
// Placement: a channel is owned by exactly one node at a time through a
// lease, a Redis key set only if absent and with an expiry, renewed by its
// owner. Each grant of a lease carries a fencing token, a number taken from a
// counter that only grows: a node that was paused past its lease (a long GC,
// a frozen VM) and comes back finds that Renew and Check fail with
// ErrLeaseLost, and any state it writes can be refused by comparing tokens.
// The channel of a new lease goes to the least-loaded live node that is not
// draining.
//
// Every multi-step operation is one Lua script, atomic on the Redis server;
// there is no consensus of our own. All keys share one hash tag, so a Redis
// Cluster keeps them in one slot.
package cluster
