package gateway

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/minirtc/minirtc/internal/store"
)

const benchSessions = 1000

// heapAndStacks is live heap plus goroutine stacks after a full GC.
func heapAndStacks() uint64 {
	// Several cycles: each GC may halve an idle goroutine's stack once, and
	// an idle session lives through many GCs.
	for range 5 {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}

// benchDial opens n bare client connections (no reader goroutine) concurrently.
// It deliberately does not use the shared client (package client): this is a
// memory instrument, and a client with a read loop and queue grows on the
// frames it reads, which clientOnlyCost cannot subtract, so the server's
// share (BENCHMARKS.md) would read ~8 KB high.
func benchDial(b *testing.B, url string, n int) []*websocket.Conn {
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return conns
}

// BenchmarkJoin1000 opens 1,000 WebSocket sessions on loopback and has them
// join one channel, at most 8 joins in flight at a time (a steady arrival of
// joiners into a channel that grows to 1,000 members), measuring each join's
// round trip (request write to reply read); then the memory each idle joined
// session holds (client and server side together, since both live in this
// process) and, for comparison, a bare WebSocket pair that does nothing.
func BenchmarkJoin1000(b *testing.B) { benchJoin(b, 8) }

// BenchmarkJoin1000Burst is BenchmarkJoin1000 with all 1,000 joins sent at the
// same instant: its latencies measure throughput (the last join waits for the
// 999 before it), not a single round trip.
func BenchmarkJoin1000Burst(b *testing.B) { benchJoin(b, benchSessions) }

func benchJoin(b *testing.B, inFlight int) {
	e := newEnv(b, func(c *Config, a *store.App) {
		c.Clock = nil // real time
		c.IdleTimeout = time.Hour
		c.RateBurst = 1000
	})
	tokens := make([]string, benchSessions)
	for i := range tokens {
		tokens[i] = e.token("bench", fmt.Sprint(i+1), 3600)
	}
	var lat []time.Duration
	var perSession, bare, clientOnly float64
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		base := heapAndStacks()
		conns := benchDial(b, e.wsURL, benchSessions)
		b.StartTimer()
		latencies := make([]time.Duration, benchSessions)
		var wg sync.WaitGroup
		start := make(chan struct{})
		slots := make(chan struct{}, inFlight)
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				uid := fmt.Sprint(i + 1)
				req, _ := json.Marshal(map[string]any{"appId": e.app.ID, "cname": "bench", "uid": uid, "requestId": 3,
					"clientRequest": map[string]any{"action": "join", "role": "audience", "appId": e.app.ID,
						"key_vos": tokens[i], "channel_name": "bench", "uid": uid, "uidType": 0}})
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				<-start
				slots <- struct{}{}
				defer func() { <-slots }()
				t0 := time.Now()
				if err := c.Write(ctx, websocket.MessageText, req); err != nil {
					b.Error(err)
					return
				}
				_, data, err := c.Read(ctx)
				latencies[i] = time.Since(t0)
				if err != nil || !strings.Contains(string(data), `"code":200`) {
					b.Errorf("join %s: %s %v", uid, data, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		b.StopTimer()
		lat = append(lat, latencies...)
		if n := len(e.mgr.Members(e.app.ID, "bench")); n != benchSessions {
			b.Fatalf("%d members", n)
		}
		perSession = float64(heapAndStacks()-base) / benchSessions
		for _, c := range conns {
			c.Close(websocket.StatusNormalClosure, "close")
		}
		e.waitFor("sessions closed", func() bool { return e.gw.Sessions() == 0 })
		e.clk.Advance(time.Hour) // nothing pending on the fake clock; the grace timers use e.mgr's clock
		e.waitFor("members gone", func() bool { return len(e.mgr.Members(e.app.ID, "bench")) == 0 })
		bare = bareWebSocketCost(b)
		clientOnly = clientOnlyCost(b)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-join-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-join-ms")
	b.ReportMetric(perSession, "B/idle-session+client")
	b.ReportMetric(perSession-clientOnly, "B/idle-session")
	b.ReportMetric(bare, "B/bare-ws-pair")
}

// bareWebSocketCost measures a WebSocket pair that only blocks in Read on the
// server side: the floor any session costs in this process.
func bareWebSocketCost(b *testing.B) float64 {
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		c.Read(context.Background())
		c.CloseNow()
	}))
	defer srv.Close()
	base := heapAndStacks()
	conns := benchDial(b, "ws"+strings.TrimPrefix(srv.URL, "http"), benchSessions)
	time.Sleep(100 * time.Millisecond) // let the server side reach Read
	cost := float64(heapAndStacks()-base) / benchSessions
	for _, c := range conns {
		c.CloseNow()
	}
	wg.Wait()
	return cost
}

// clientOnlyCost measures what the benchmark's client side of one session
// costs: clients dial a server that answers the upgrade by hand and then only
// keeps the socket (no goroutine, no buffers), so nearly all the growth is
// client state. Subtracting it from a session's total leaves the server's share.
func clientOnlyCost(b *testing.B) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err != nil {
				c.Close()
				continue
			}
			h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
			fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
				base64.StdEncoding.EncodeToString(h[:]))
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	base := heapAndStacks()
	conns := benchDial(b, "ws://"+ln.Addr().String()+"/", benchSessions)
	cost := float64(heapAndStacks()-base) / benchSessions
	for _, c := range conns {
		c.CloseNow()
	}
	ln.Close()
	wg.Wait()
	for _, c := range held {
		c.Close()
	}
	return cost
}

// BenchmarkJoinHandler is the server's own work for one join, without the
// network: decode, app lookup, token check, channel join, reply encoding.
func BenchmarkJoinHandler(b *testing.B) {
	e := newEnv(b, func(c *Config, a *store.App) { c.Clock = nil; c.MaxUsersPerChannel = 1 << 30 })
	frames := make([][]byte, b.N)
	for i := range frames {
		uid := fmt.Sprint(i + 1)
		frames[i], _ = json.Marshal(map[string]any{"requestId": 3, "clientRequest": map[string]any{"action": "join",
			"role": "audience", "appId": e.app.ID, "key_vos": e.token("bench", uid, 3600), "channel_name": "bench",
			"uid": uid, "uidType": 0}})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A session without a connection: its frames are dropped, as if the
		// connection had just ended.
		s := &session{g: e.gw, id: "bench", log: e.gw.log, done: make(chan struct{}), ended: true}
		s.handle(context.Background(), frames[i])
	}
}
