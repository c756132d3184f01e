package gateway

import (
	"runtime"
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

// BenchmarkForwardedSessionCost holds 200 joined members on the owner
// ("direct") or through the other node ("forwarded") and reports the
// goroutines and the heap plus stacks per member, both nodes and the test
// clients included: the difference is what forwarding costs.
func BenchmarkForwardedSessionCost(b *testing.B) {
	const members = 200
	n := newTwoNodes(b, nil, nil)
	for _, via := range []struct {
		name string
		node *env
	}{{"direct", n.b}, {"forwarded", n.a}} {
		b.Run(via.name, func(b *testing.B) {
			for range b.N {
				g0, m0 := runtime.NumGoroutine(), heapAndStacks()
				cs := make([]*client, 0, members)
				for i := range members {
					c := n.dialNode(via.node, "", nil)
					c.join(strconv.Itoa(i+1), "audience")
					cs = append(cs, c)
				}
				b.ReportMetric(float64(runtime.NumGoroutine()-g0)/members, "goroutines/member")
				b.ReportMetric(float64(heapAndStacks()-m0)/members, "bytes/member")
				for _, c := range cs {
					c.conn.CloseNow()
				}
				n.a.waitFor("sessions end", func() bool { return n.a.gw.Sessions() == 0 && n.b.gw.Sessions() == 0 })
			}
		})
	}
}
