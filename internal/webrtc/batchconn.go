package webrtc

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// Limits of batchConn's send queue.
const (
	// maxQueuedPackets is how many packets may wait in the queue: the
	// writer that fills it takes it and sends it at once, even while
	// another send is in progress. Writers never wait for the sender or for
	// a send in progress: on an overloaded server the goroutine that holds
	// a send may wait long for a CPU, and nothing queued after it should
	// wait with it (nor a pion ICE agent that writes).
	maxQueuedPackets = 512
	// maxBatchPackets is the most packets handed to one sendmmsg (the
	// kernel's UIO_MAXIOV).
	maxBatchPackets = 1024
	// flushAt is the queue length at which a writer sends the queue itself
	// if no send is in progress, instead of leaving it to the sender
	// goroutine, which may wait long for a CPU on a busy server.
	flushAt = 64
)

// batchConn is the UDP socket shared by all peers (ICE UDP mux) with its
// writes batched. pion writes one packet per call, and one sendto system
// call per packet is the largest single cost of WHEP fan-out; batchConn
// copies each packet into a queue, and the queue is sent with sendmmsg
// (ipv4.PacketConn.WriteBatch) by a sender goroutine, woken by the first
// packet of an empty queue, or by the writer that brings the queue to
// flushAt packets while no send is in progress. Nothing waits for a batch
// to fill: what is queued during a send goes out in the next one, so
// batches grow with the load. Within a batch, consecutive packets for one
// peer of equal size (a video frame's RTP packets) are one message that
// the kernel segments (UDP GSO, see sendFrom). It is used on Linux only, which accepts IPv4
// destinations on a dual-stack socket, so one conn serves both families.
//
// It implements net.PacketConn and pion's ice.AddrPortReaderWriter; reads
// go straight to the socket.
type batchConn struct {
	*net.UDPConn
	out *ipv4.PacketConn
	raw *rawSocket // nil: send with out.WriteBatch

	flushMu sync.Mutex // held while a batch is sent: one send at a time, in queue order
	pool    sync.Pool  // free sendBatches (their buffers grow to the load)

	mu     sync.Mutex
	queue  *sendBatch // being filled by writers
	closed bool

	wake      chan struct{} // a packet was queued
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // the sender goroutine

	// gso: runs of equal-size packets for one destination go out as one
	// segmented message (UDP_SEGMENT); cleared for good the first time the
	// kernel refuses one.
	gso atomic.Bool

	sendFails atomic.Uint64 // packets the kernel refused
	overflows atomic.Uint64 // full queues sent by their writer, out of order
	// Queueing delay of sent batches: from the first packet queued to the
	// end of the batch's send (what batching adds to latency).
	batches, delaySum, delayMax atomic.Int64 // count, ns, ns
	// meter counts the bytes (Server.SetMeter); nil: no metrics.
	meter atomic.Pointer[Meter]
}

// sendBatch is a queue of packets and the scratch space to send them.
type sendBatch struct {
	data  []byte // the packets, back to back
	ends  []int  // end offset of each packet in data
	addrs []netip.AddrPort
	first time.Time // when the first packet was queued

	msgs  []ipv4.Message
	bufs  [][]byte
	uaddr []net.UDPAddr
	ips   [][16]byte
	oob   []byte // UDP_SEGMENT control messages
	pkt0  []int  // index of each message's first packet
	raw   rawBatch
}

func (q *sendBatch) reset() {
	q.data, q.ends, q.addrs = q.data[:0], q.ends[:0], q.addrs[:0]
}

// newBatchConn wraps c and starts its sender; Close stops it.
func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c, out: ipv4.NewPacketConn(c), queue: &sendBatch{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.raw = newRawSocket(c)
	b.gso.Store(gsoSupported)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.run()
	}()
	return b
}

// ReadFromAddrPort implements ice.AddrPortReaderWriter.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	var (
		n    int
		addr netip.AddrPort
		err  error
	)
	if b.raw != nil {
		n, addr, err = b.raw.readFrom(p)
		if err != nil {
			err = &net.OpError{Op: "read", Net: "udp", Source: b.LocalAddr(), Err: err}
		}
	} else {
		n, addr, err = b.UDPConn.ReadFromUDPAddrPort(p)
	}
	if m := b.meter.Load(); m != nil && n > 0 {
		(*m).BytesIn(n)
	}
	return n, addr, err
}

// WriteToAddrPort implements ice.AddrPortReaderWriter: it queues a copy of
// p for addr. Like a UDP send it does not report delivery.
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, net.ErrClosed
	}
	q := b.queue
	q.data = append(q.data, p...)
	q.ends = append(q.ends, len(q.data))
	q.addrs = append(q.addrs, addr)
	queued := len(q.ends)
	if queued == 1 {
		q.first = time.Now()
	}
	if queued >= maxQueuedPackets {
		b.queue = b.newBatch()
		b.mu.Unlock()
		b.overflows.Add(1)
		b.send(q)
		b.pool.Put(q)
		return len(p), nil
	}
	b.mu.Unlock()
	switch {
	case queued == 1: // later packets find the sender already woken
		select {
		case b.wake <- struct{}{}:
		default:
		}
	case queued >= flushAt && b.flushMu.TryLock():
		b.flushLocked()
		b.flushMu.Unlock()
	}
	return len(p), nil
}

// WriteTo implements net.PacketConn.
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		return b.WriteToAddrPort(p, ua.AddrPort())
	}
	return b.UDPConn.WriteTo(p, addr)
}

// Close stops the sender (dropping what is queued) and closes the socket.
// It is idempotent.
func (b *batchConn) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		close(b.done)
		err = b.UDPConn.Close() // unblocks a send in progress
		b.wg.Wait()
	})
	return err
}

// run sends queued packets until Close.
func (b *batchConn) run() {
	for {
		select {
		case <-b.done:
			return
		case <-b.wake:
		}
		b.flushMu.Lock()
		b.flushLocked()
		b.flushMu.Unlock()
	}
}

// Flush sends what is queued, unless a send is in progress (which sends it
// next). A writer calls it at the end of a burst (a WHEP frame), so that
// the tail of a burst does not wait for the sender goroutine, which may
// wait long for a CPU on a busy server.
func (b *batchConn) Flush() {
	if b.flushMu.TryLock() {
		b.flushLocked()
		b.flushMu.Unlock()
	}
}

// flushLocked sends what is queued, again while more was queued meanwhile
// (a few rounds: the caller is a writer, whose own work waits). flushMu
// held.
func (b *batchConn) flushLocked() {
	for range 4 {
		b.mu.Lock()
		q := b.queue
		if len(q.ends) == 0 {
			b.mu.Unlock()
			return
		}
		b.queue = b.newBatch()
		b.mu.Unlock()
		b.send(q)
		b.pool.Put(q)
	}
}

// newBatch returns an empty batch, recycled if one is free.
func (b *batchConn) newBatch() *sendBatch {
	q, _ := b.pool.Get().(*sendBatch)
	if q == nil {
		return new(sendBatch)
	}
	q.reset()
	return q
}

// maxGSOBytes bounds the datagrams of one segmented message (the kernel's
// limit is 64 KiB with headers).
const maxGSOBytes = 60000

// send writes every packet of q, maxBatchPackets messages per system call.
func (b *batchConn) send(q *sendBatch) {
	if len(q.ends) == 0 {
		return
	}
	b.sendFrom(q, 0)
	if m := b.meter.Load(); m != nil {
		(*m).BytesOut(len(q.data)) // once per batch
	}
	d := int64(time.Since(q.first))
	b.batches.Add(1)
	b.delaySum.Add(d)
	for m := b.delayMax.Load(); d > m; m = b.delayMax.Load() {
		if b.delayMax.CompareAndSwap(m, d) {
			break
		}
	}
}

// sendFrom writes q's packets from index from on. With GSO, consecutive
// packets for one destination whose sizes are equal (the last may be
// shorter) are one message; if the kernel refuses such a message, GSO is
// turned off and the rest is sent again packet by packet.
func (b *batchConn) sendFrom(q *sendBatch, from int) {
	n := len(q.ends)
	if cap(q.msgs) < n {
		q.msgs = make([]ipv4.Message, n)
		q.bufs = make([][]byte, n)
		q.uaddr = make([]net.UDPAddr, n)
		q.ips = make([][16]byte, n)
		q.pkt0 = make([]int, n)
	}
	gso := b.gso.Load()
	if gso && cap(q.oob) < n*gsoOOBSpace {
		q.oob = make([]byte, 0, n*gsoOOBSpace)
	}
	q.oob = q.oob[:0]
	msgs := q.msgs[:0]
	start := 0
	if from > 0 {
		start = q.ends[from-1]
	}
	for i := from; i < n; {
		size := q.ends[i] - start
		j := i + 1
		if gso {
			for j < n && j-i < maxGSOSegments && q.addrs[j] == q.addrs[i] {
				l := q.ends[j] - q.ends[j-1]
				if l > size || q.ends[j]-start > maxGSOBytes {
					break
				}
				j++
				if l < size {
					break // a shorter datagram ends the run
				}
			}
		}
		k := len(msgs)
		msgs = q.msgs[:k+1]
		q.pkt0[k] = i
		q.bufs[k] = q.data[start:q.ends[j-1]]
		start = q.ends[j-1]
		ip := q.addrs[i].Addr()
		ua := &q.uaddr[k]
		if ip.Is4() || ip.Is4In6() {
			v4 := ip.Unmap().As4()
			copy(q.ips[k][:4], v4[:])
			ua.IP, ua.Zone = q.ips[k][:4], ""
		} else {
			q.ips[k] = ip.As16()
			ua.IP, ua.Zone = q.ips[k][:], ip.Zone()
		}
		ua.Port = int(q.addrs[i].Port())
		msgs[k] = ipv4.Message{Buffers: q.bufs[k : k+1], Addr: ua}
		if j-i > 1 {
			o := len(q.oob)
			q.oob = appendUDPSegment(q.oob, size) // no reallocation: capacity for n
			msgs[k].OOB = q.oob[o:len(q.oob):len(q.oob)]
		}
		i = j
	}
	defer clear(msgs) // drop references to the packets and addresses
	for sent := 0; sent < len(msgs); {
		end := min(len(msgs), sent+maxBatchPackets)
		var (
			k   int
			err error
		)
		if b.raw != nil {
			k, err = b.raw.writeBatch(msgs[sent:end], &q.raw)
		} else {
			k, err = b.out.WriteBatch(msgs[sent:end], 0)
		}
		if err != nil {
			select {
			case <-b.done:
				return
			default:
			}
			if k < 0 {
				k = 0
			}
			if at := sent + k; at < len(msgs) && msgs[at].OOB != nil && gsoRefused(err) && b.gso.CompareAndSwap(true, false) {
				b.sendFrom(q, q.pkt0[at]) // the rest, one datagram per message
				return
			}
			if k == 0 {
				k = 1 // this message was refused (e.g. unreachable); skip it
				b.sendFails.Add(1)
			}
		}
		sent += k
	}
}

// queueDelay reports the mean and largest queueing delay of the batches
// sent so far.
func (b *batchConn) queueDelay() (mean, largest time.Duration) {
	n := b.batches.Load()
	if n == 0 {
		return 0, 0
	}
	return time.Duration(b.delaySum.Load() / n), time.Duration(b.delayMax.Load())
}
