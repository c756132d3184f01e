package edge

import (
	"hash/fnv"

	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/media"
)

// comparableLoad is how far above the least-loaded candidate's load score
// (cluster.Load.Score) an edge may be and still be chosen: 50 is 5 % of
// CPU, or 5000 connections. Within it the choice depends on the stream
// only, so that small load changes between two readers do not send them to
// different edges (each of which would pull the stream).
const comparableLoad = 50

// Choose returns the id of the node a new reader of key should be sent to.
// owner is the node that owns the stream's channel and ownerReaders the
// stream's readers there; threshold is cluster.edgeThreshold (0: never use
// edges). Until the owner has threshold readers of the stream, the answer
// is the owner. Then it is an edge: among the live nodes other than the
// owner that are not draining and whose load is within comparableLoad of
// the least loaded of them, the one that ranks first for this stream by
// rendezvous hashing of (stream, node id). The same stream keeps going to
// the same edge while loads stay comparable, and different streams spread
// over the edges. With no such node the answer is the owner.
//
// Choose is pure: the caller passes the registry's nodes (cluster.Nodes)
// and the owner's reader count.
func Choose(key media.Key, owner string, ownerReaders, threshold int, nodes []cluster.NodeInfo) string {
	if threshold <= 0 || ownerReaders < threshold {
		return owner
	}
	best, bestRank := owner, uint64(0)
	for _, id := range eligible(owner, nodes) {
		if r := rank(key, id); best == owner || r > bestRank || (r == bestRank && id < best) {
			best, bestRank = id, r
		}
	}
	return best
}

// rank is the rendezvous weight of node for key.
func rank(key media.Key, node string) uint64 {
	h := fnv.New64a()
	for _, s := range [...]string{key.AppID, key.Channel, key.UID, node} {
		_, _ = h.Write([]byte(s))
		_, _ = h.Write([]byte{0})
	}
	// FNV's last bytes barely stir the high bits: finish with a mixer
	// (splitmix64's) so that node ids that differ in one digit rank
	// independently.
	x := h.Sum64()
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
