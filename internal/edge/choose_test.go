package edge

import (
	"fmt"
	"testing"

	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/media"
)

func node(id string, cpu float64, draining bool) cluster.NodeInfo {
	return cluster.NodeInfo{ID: id, Load: cluster.Load{CPU: cpu}, Draining: draining}
}

func TestChoose(t *testing.T) {
	k := media.Key{AppID: "app", Channel: "room", UID: "7"}
	three := []cluster.NodeInfo{node("a", 0.5, false), node("b", 0.1, false), node("c", 0.1, false)}
	cases := []struct {
		name      string
		readers   int
		threshold int
		nodes     []cluster.NodeInfo
		want      []string // any of
	}{
		{"below the threshold: the owner", 49, 50, three, []string{"a"}},
		{"no threshold: always the owner", 10000, 0, three, []string{"a"}},
		{"at the threshold: an edge", 50, 50, three, []string{"b", "c"}},
		{"far above: an edge", 5000, 50, three, []string{"b", "c"}},
		{"the least-loaded edge", 50, 50, []cluster.NodeInfo{node("a", 0.1, false), node("b", 0.9, false), node("c", 0.3, false)}, []string{"c"}},
		{"draining nodes are skipped", 50, 50, []cluster.NodeInfo{node("a", 0.5, false), node("b", 0.0, true), node("c", 0.8, false)}, []string{"c"}},
		{"every other node draining: the owner", 50, 50, []cluster.NodeInfo{node("a", 0.5, false), node("b", 0.0, true)}, []string{"a"}},
		{"a single node: the owner", 500, 50, []cluster.NodeInfo{node("a", 0.9, false)}, []string{"a"}},
		{"no registry answer: the owner", 500, 50, nil, []string{"a"}},
		{"the owner is never an edge of itself", 500, 50, []cluster.NodeInfo{node("a", 0.0, false), node("b", 0.99, false)}, []string{"b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Choose(k, "a", c.readers, c.threshold, c.nodes)
			for _, w := range c.want {
				if got == w {
					return
				}
			}
			t.Fatalf("Choose = %q, want one of %q", got, c.want)
		})
	}
}

// TestChooseStableAndSpread: while edges' loads stay comparable, every
// reader of a stream goes to the same edge (one pull per stream), and
// different streams spread over the edges.
func TestChooseStableAndSpread(t *testing.T) {
	edges := []string{"n1", "n2", "n3", "n4"}
	count := map[string]int{}
	const streams = 400
	for i := range streams {
		k := media.Key{AppID: "app", Channel: fmt.Sprintf("room%d", i), UID: "1"}
		var first string
		for reader := range 20 {
			// Loads move a little between two readers.
			nodes := []cluster.NodeInfo{node("owner", 0.9, false)}
			for j, id := range edges {
				nodes = append(nodes, node(id, 0.2+0.01*float64((reader+j)%4), false))
			}
			got := Choose(k, "owner", 100+reader, 50, nodes)
			if reader == 0 {
				first = got
				count[got]++
			} else if got != first {
				t.Fatalf("stream %d: reader %d sent to %s, the first to %s", i, reader, got, first)
			}
		}
	}
	for _, id := range edges {
		if count[id] < streams/len(edges)/2 {
			t.Fatalf("streams per edge %v: %s gets too few", count, id)
		}
	}
}
