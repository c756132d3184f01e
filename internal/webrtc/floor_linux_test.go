//go:build linux

package webrtc

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/reexec"
	"golang.org/x/sys/unix"
)

// floorReadersEnv makes the test binary the viewers' process of
// BenchmarkUDPLoopbackFloor: it opens that many UDP sockets on loopback,
// prints their ports on one line, and reads them until it is killed.
const floorReadersEnv = "MINIRTC_UDP_FLOOR_READERS"

func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv(floorReadersEnv)); err == nil {
		udpFloorReaders(n)
		return
	}
	os.Exit(m.Run())
}

func udpFloorReaders(n int) {
	ports := make([]string, n)
	var wg sync.WaitGroup
	for i := range ports {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = c.SetReadBuffer(1 << 20)
		ports[i] = strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
		wg.Go(func() {
			buf := make([]byte, 65536)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		})
	}
	fmt.Println(strings.Join(ports, " "))
	wg.Wait()
	os.Exit(0)
}

// udpFloorPeers starts the viewers' process and returns its n addresses.
func udpFloorPeers(b *testing.B, n int) []netip.AddrPort {
	out := reexec.Start(b, floorReadersEnv+"="+strconv.Itoa(n))
	line, err := out.ReadString('\n')
	if err != nil {
		b.Fatalf("viewers' process: %v", err)
	}
	var addrs []netip.AddrPort
	for _, f := range strings.Fields(line) {
		p, err := strconv.Atoi(f)
		if err != nil {
			b.Fatalf("viewers' process: %q", line)
		}
		addrs = append(addrs, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(p)))
	}
	if len(addrs) != n {
		b.Fatalf("viewers' process gave %d ports, want %d", len(addrs), n)
	}
	return addrs
}

// BenchmarkUDPLoopbackFloor is the least CPU a server can spend on WHEP
// viewers on loopback with the server's own batched UDP socket
// (batchConn: sendmmsg, and GSO for a frame's equal-size packets): per
// viewer and 40 ms, a 500 kbit/s 25 fps video frame as three SRTP packets
// and two 20 ms Opus packets, with no RTP, SRTP or WebRTC work at all. It
// measures the CPU of the whole sending process (getrusage over the run),
// which on loopback includes the receivers' UDP work that the kernel runs
// in the sender's context, as it does for the server in `minirtc bench`.
// "floor-%core/100" is that cost for 100 viewers.
//
//	go test -run XXX -bench UDPLoopbackFloor -benchtime 100x ./internal/webrtc
func BenchmarkUDPLoopbackFloor(b *testing.B) {
	for _, n := range []int{300} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			addrs := udpFloorPeers(b, n)
			uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			bc := newBatchConn(uc)
			b.Cleanup(func() { _ = bc.Close() })
			// Sizes as on the wire: RTP header, payload, SRTP GCM tag.
			packets := [][]byte{make([]byte, 1228), make([]byte, 1228), make([]byte, 178), make([]byte, 140), make([]byte, 140)}
			perViewer := len(packets)
			b.ResetTimer()
			before := processCPU(b)
			next := time.Now()
			for range b.N {
				next = next.Add(40 * time.Millisecond)
				time.Sleep(time.Until(next))
				for _, a := range addrs {
					for _, p := range packets {
						if _, err := bc.WriteToAddrPort(p, a); err != nil {
							b.Fatal(err)
						}
					}
				}
				bc.Flush()
			}
			cpu := processCPU(b) - before
			b.StopTimer()
			if f := bc.sendFails.Load(); f > 0 {
				b.Fatalf("%d packets refused by the kernel", f)
			}
			perPacket := float64(cpu.Nanoseconds()) / float64(b.N*n*perViewer)
			b.ReportMetric(perPacket, "cpu-ns/packet")
			// 100 viewers, perViewer packets per 40 ms.
			b.ReportMetric(perPacket*float64(perViewer)*25*100/1e9*100, "floor-%core/100")
		})
	}
}

// processCPU is the process's user and system time.
func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
