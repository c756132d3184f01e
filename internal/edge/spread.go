package edge

import (
	"cmp"
	"hash/fnv"
	"slices"

	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/media"
)

// Spread returns the id of the node a new reader, viewer, of key should
// play from when readers are handed play URLs by the owner (the gateway's
// subscribe answer). It is Choose for a whole audience: owner is the node
// that owns the stream's channel, ownerReaders the stream's readers there
// and subscribers the members subscribed to it in all (this one included),
// wherever they play.
//
// Until the owner has threshold readers and threshold subscribers, the
// answer is the owner. Then edges are added one at a time as the audience
// grows: with s subscribers, the stream uses the first
// ceil((s-threshold)/threshold) edges in Choose's order (rendezvous rank
// of the stream among the live, non-draining nodes of comparable load),
// and viewer goes to one of them by a hash of its name. So each edge
// serves about threshold readers before another edge pulls the stream, a
// small audience costs one pull, and a large one spreads over every edge.
// With no eligible edge the answer is the owner.
func Spread(key media.Key, owner string, ownerReaders, subscribers, threshold int, viewer string, nodes []cluster.NodeInfo) string {
	if threshold <= 0 || (ownerReaders < threshold && subscribers <= threshold) {
		return owner
	}
	edges := eligible(owner, nodes)
	if len(edges) == 0 {
		return owner
	}
	slices.SortFunc(edges, func(a, b string) int {
		if c := cmp.Compare(rank(key, b), rank(key, a)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	k := max((subscribers-threshold+threshold-1)/threshold, 1)
	k = min(k, len(edges))
	h := fnv.New64a()
	_, _ = h.Write([]byte(viewer))
	return edges[h.Sum64()%uint64(k)]
}

// eligible lists the ids of the nodes other than owner that Choose may
// pick: live, not draining, and within comparableLoad of the least loaded
// of them.
func eligible(owner string, nodes []cluster.NodeInfo) []string {
	least := -1.0
	for _, n := range nodes {
		if n.ID == owner || n.Draining {
			continue
		}
		if s := n.Load.Score(); least < 0 || s < least {
			least = s
		}
	}
	var out []string
	for _, n := range nodes {
		if n.ID == owner || n.Draining || n.Load.Score() > least+comparableLoad {
			continue
		}
		out = append(out, n.ID)
	}
	return out
}
