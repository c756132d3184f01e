package edge

import (
	"fmt"
	"testing"

	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/media"
)

// TestSpread: readers handed play URLs by the owner stay on it until the
// threshold, then go to one edge, then to more edges as the audience
// grows (about threshold readers per edge), never to a draining node.
func TestSpread(t *testing.T) {
	k := media.Key{AppID: "app", Channel: "room", UID: "7"}
	three := []cluster.NodeInfo{node("a", 0.1, false), node("b", 0.1, false), node("c", 0.1, false)}
	five := append(three[:3:3], node("d", 0.1, false), node("e", 0.1, false))
	spread := func(ownerReaders, subscribers int, nodes []cluster.NodeInfo) map[string]int {
		got := map[string]int{}
		for v := range 400 {
			got[Spread(k, "a", ownerReaders, subscribers, 50, fmt.Sprint(v), nodes)]++
		}
		return got
	}
	cases := []struct {
		name                      string
		ownerReaders, subscribers int
		nodes                     []cluster.NodeInfo
		wantNodes                 int // distinct nodes the viewers get
		owner                     bool
	}{
		{"below the threshold: the owner", 10, 10, three, 1, true},
		{"at the threshold of subscribers: still the owner", 49, 50, three, 1, true},
		{"one past it: one edge", 49, 51, three, 1, false},
		{"owner full: one edge", 50, 60, three, 1, false},
		{"two thresholds past: two edges", 50, 101, three, 2, false},
		{"far past, three nodes: both edges", 50, 300, three, 2, false},
		{"far past, five nodes: four edges", 50, 1000, five, 4, false},
		{"growing on five nodes: two edges", 50, 140, five, 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := spread(c.ownerReaders, c.subscribers, c.nodes)
			if len(got) != c.wantNodes || (got["a"] > 0) != c.owner {
				t.Fatalf("viewers went to %v; want %d node(s), owner %v", got, c.wantNodes, c.owner)
			}
		})
	}
	// The edges used first are Choose's edge.
	first := Choose(k, "a", 50, 50, three)
	if got := spread(50, 51, three); got[first] != 400 {
		t.Fatalf("one edge: %v, want all on %s (Choose's edge)", got, first)
	}
	// Draining nodes and a lone owner.
	if got := spread(50, 300, []cluster.NodeInfo{node("a", 0.1, false), node("b", 0, true), node("c", 0.1, false)}); got["c"] != 400 {
		t.Fatalf("with b draining: %v, want all on c", got)
	}
	if got := spread(500, 1000, []cluster.NodeInfo{node("a", 0.1, false)}); got["a"] != 400 {
		t.Fatalf("a single node: %v, want the owner", got)
	}
	if got := Spread(k, "a", 500, 1000, 0, "v", three); got != "a" {
		t.Fatalf("threshold 0: %s, want the owner", got)
	}
}
