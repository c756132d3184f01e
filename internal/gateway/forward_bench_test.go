package gateway

import (
	"strconv"
	"testing"
)

// BenchmarkForwardedRequest is one request round trip (a ping action) from a
// member on the owner ("direct") and from one that reached the other node
// ("forwarded"): the second pays the hop between the nodes.
func BenchmarkForwardedRequest(b *testing.B) {
	n := newTwoNodes(b, nil, func(c *Config) { c.RateLimit, c.RateBurst = 1e9, 1<<30 })
	for _, via := range []struct {
		name string
		node *env
	}{{"direct", n.b}, {"forwarded", n.a}} {
		b.Run(via.name, func(b *testing.B) {
			c := n.dialNode(via.node, "", nil)
			c.join("1", "audience")
			b.ResetTimer()
			for range b.N {
				c.ok("ping", nil)
			}
		})
	}
}

// BenchmarkForwardedJoin is a connect and join (then a close) on the owner
// and through the other node.
func BenchmarkForwardedJoin(b *testing.B) {
	n := newTwoNodes(b, nil, nil)
	for _, via := range []struct {
		name string
		node *env
	}{{"direct", n.b}, {"forwarded", n.a}} {
		b.Run(via.name, func(b *testing.B) {
			for i := range b.N {
				c := n.dialNode(via.node, "", nil)
				c.join(strconv.Itoa(i+1), "audience")
				c.conn.CloseNow()
			}
		})
	}
}
