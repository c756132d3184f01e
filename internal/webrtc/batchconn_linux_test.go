package webrtc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// Many writers through one batchConn to IPv4 and (when the host has it)
// IPv6 receivers: every packet arrives once and intact, from the shared
// socket, whether written with WriteToAddrPort or WriteTo.
func TestBatchConnDeliversEveryPacket(t *testing.T) {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{}) // dual-stack, like ":8443"
	if err != nil {
		t.Fatal(err)
	}
	bc := newBatchConn(udp)
	defer bc.Close()
	var dsts []*net.UDPConn
	for _, a := range []*net.UDPAddr{{IP: net.IPv4(127, 0, 0, 1)}, {IP: net.IPv6loopback}} {
		network := "udp4"
		if a.IP.To4() == nil {
			network = "udp6"
		}
		c, err := net.ListenUDP(network, a)
		if err != nil {
			if network == "udp6" {
				continue // no IPv6 loopback here
			}
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadBuffer(4 << 20)
		dsts = append(dsts, c)
	}
	const writers, perWriter = 8, 200 // per destination
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1000)
			for i := 0; i < perWriter; i++ {
				for d, dst := range dsts {
					binary.BigEndian.PutUint32(buf, uint32(w<<16|i))
					buf[4] = byte(d)
					for j := 5; j < len(buf); j++ {
						buf[j] = byte(i + j)
					}
					var err error
					if i%2 == 0 {
						_, err = bc.WriteToAddrPort(buf, dst.LocalAddr().(*net.UDPAddr).AddrPort())
					} else {
						_, err = bc.WriteTo(buf, dst.LocalAddr())
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	for d, dst := range dsts {
		seen := map[uint32]bool{}
		buf := make([]byte, 2000)
		for len(seen) < writers*perWriter {
			_ = dst.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, from, err := dst.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("destination %d: %d of %d packets: %v", d, len(seen), writers*perWriter, err)
			}
			if from.Port() != uint16(udp.LocalAddr().(*net.UDPAddr).Port) {
				t.Fatalf("packet from %v, not the shared socket", from)
			}
			id := binary.BigEndian.Uint32(buf)
			i := int(id & 0xffff)
			want := make([]byte, 1000)
			copy(want, buf[:5])
			for j := 5; j < len(want); j++ {
				want[j] = byte(i + j)
			}
			if n != 1000 || buf[4] != byte(d) || !bytes.Equal(buf[:n], want) || seen[id] {
				t.Fatalf("destination %d: bad or repeated packet %x (%d bytes)", d, id, n)
			}
			seen[id] = true
		}
	}
	wg.Wait()
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.WriteTo([]byte("x"), dsts[0].LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	_ = bc.Close() // idempotent
}

// A send that stalls (its goroutine waits for a CPU) holds up at most the
// batch it sends: writers that fill the queue behind it send it themselves,
// and what is left goes out when the stalled send ends.
func TestBatchConnStalledSend(t *testing.T) {
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	bc := newBatchConn(udp)
	defer bc.Close()
	dst, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	_ = dst.SetReadBuffer(4 << 20)
	to := dst.LocalAddr().(*net.UDPAddr).AddrPort()

	bc.flushMu.Lock() // a send in progress that does not end
	const total = 2*maxQueuedPackets + 10
	buf := make([]byte, 200)
	for i := 0; i < total; i++ {
		binary.BigEndian.PutUint32(buf, uint32(i))
		if _, err := bc.WriteToAddrPort(buf, to); err != nil {
			t.Fatal(err)
		}
	}
	if got := bc.overflows.Load(); got != 2 {
		t.Fatalf("%d full queues sent by writers, want 2", got)
	}
	read := func(n int) map[uint32]bool {
		seen := map[uint32]bool{}
		rb := make([]byte, 500)
		for len(seen) < n {
			_ = dst.SetReadDeadline(time.Now().Add(10 * time.Second))
			k, err := dst.Read(rb)
			if err != nil {
				t.Fatalf("%d of %d packets: %v", len(seen), n, err)
			}
			if k != len(buf) {
				t.Fatalf("packet of %d bytes", k)
			}
			seen[binary.BigEndian.Uint32(rb)] = true
		}
		return seen
	}
	seen := read(2 * maxQueuedPackets)
	for i := 0; i < 2*maxQueuedPackets; i++ {
		if !seen[uint32(i)] {
			t.Fatalf("packet %d not sent while the send stalled", i)
		}
	}
	bc.flushMu.Unlock() // the stalled send ends; the woken sender sends the rest
	seen = read(total - 2*maxQueuedPackets)
	for i := 2 * maxQueuedPackets; i < total; i++ {
		if !seen[uint32(i)] {
			t.Fatalf("packet %d lost", i)
		}
	}
}

// Runs of packets for one destination go out as segmented messages (UDP
// GSO) when their sizes allow: every datagram still arrives on its own,
// with its own size and content, in order, whatever the mix of sizes and
// destinations in one batch.
func TestBatchConnSegmentsRuns(t *testing.T) {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	bc := newBatchConn(udp)
	defer bc.Close()
	var dsts []*net.UDPConn
	for range 2 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadBuffer(4 << 20)
		dsts = append(dsts, c)
	}
	// (destination, size) of each packet, queued in this order: equal
	// runs, a shorter last one, a longer one that may not join, single
	// packets between, a run longer than one message may hold.
	type pkt struct{ dst, size int }
	var plan []pkt
	for _, run := range [][]int{{1200, 1200, 1000}, {80}, {1200, 1300}, {500, 500, 500, 500}, {1}} {
		for _, size := range run {
			plan = append(plan, pkt{0, size})
		}
		plan = append(plan, pkt{1, 80})
	}
	for range maxGSOSegments + 10 {
		plan = append(plan, pkt{0, 700})
	}
	bc.flushMu.Lock() // hold the sends: the whole plan is one batch
	for i, p := range plan {
		buf := make([]byte, p.size)
		for j := range buf {
			buf[j] = byte(i + j)
		}
		if _, err := bc.WriteToAddrPort(buf, dsts[p.dst].LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
	}
	bc.flushLocked()
	bc.flushMu.Unlock()
	buf := make([]byte, 2000)
	next := [2]int{}
	for i, p := range plan {
		_ = dsts[p.dst].SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := dsts[p.dst].Read(buf)
		if err != nil {
			t.Fatalf("packet %d (destination %d, %d bytes): %v", i, p.dst, p.size, err)
		}
		if n != p.size || buf[0] != byte(i) || buf[n-1] != byte(i+n-1) {
			t.Fatalf("destination %d, datagram %d: %d bytes starting %d, want packet %d of %d bytes", p.dst, next[p.dst], n, buf[0], i, p.size)
		}
		next[p.dst]++
	}
	t.Logf("GSO in use: %v", bc.gso.Load())
}
