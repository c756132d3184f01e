//go:build linux

package egress

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/reexec"
	"golang.org/x/sys/unix"
)

// floorReaderEnv makes the test binary the readers' process of
// BenchmarkLoopbackFloor: it connects that many TCP sockets to the address
// in floorAddrEnv and reads them until they close.
const (
	floorReaderEnv = "MINIRTC_FLOOR_READERS"
	floorAddrEnv   = "MINIRTC_FLOOR_ADDR"
)

func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv(floorReaderEnv)); err == nil {
		var wg sync.WaitGroup
		for range n {
			c, err := net.Dial("tcp", os.Getenv(floorAddrEnv))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
		fmt.Println("ready")
		wg.Wait()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// floorPeers returns n sockets whose peers are read by another process,
// as `minirtc bench`'s readers are.
func floorPeers(b *testing.B, n int) []net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	out := reexec.Start(b, floorReaderEnv+"="+strconv.Itoa(n), floorAddrEnv+"="+ln.Addr().String())
	conns := make([]net.Conn, n)
	for i := range conns {
		if conns[i], err = ln.Accept(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conns[i].Close() })
	}
	if line, _ := out.ReadString('\n'); line != "ready\n" {
		b.Fatalf("reader process: %q", line)
	}
	return conns
}

// BenchmarkLoopbackFloor is the least CPU a server can spend on RTMP/FLV
// viewers on loopback: nothing but one non-blocking writev per viewer and
// video frame (a 500 kbit/s, 25 fps frame with its audio, about 2.9 KB), to
// viewers whose peers sleep between frames as real players do, paced at
// 25 frames per second. It measures the CPU time of the writing thread
// alone (CLOCK_THREAD_CPUTIME_ID: getrusage's RUSAGE_THREAD is only brought
// up to date at the scheduler's tick, so a burst shorter than a tick reads
// as nearly free): the system calls, and the receivers' TCP work that the
// kernel runs in the sender's context on loopback, as it does for the
// server in `minirtc bench`. "floor-%core/100" is that cost for 100 viewers
// at 25 writes a second: what the server cannot go below on this machine
// with one write per frame.
//
//	go test -run XXX -bench LoopbackFloor -benchtime 100x ./internal/egress
func BenchmarkLoopbackFloor(b *testing.B) {
	for _, n := range []int{200} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			conns := make([]syscall.RawConn, n)
			for i, nc := range floorPeers(b, n) {
				raw, err := nc.(syscall.Conn).SyscallConn()
				if err != nil {
					b.Fatal(err)
				}
				conns[i] = raw
			}
			frame := [][]byte{make([]byte, 2500), make([]byte, 200), make([]byte, 200)}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var cpu time.Duration
			b.ResetTimer()
			next := time.Now()
			for range b.N {
				next = next.Add(40 * time.Millisecond)
				time.Sleep(time.Until(next))
				before := threadCPU(b)
				for _, raw := range conns {
					if rest, err := Try(raw, append([][]byte(nil), frame...)); err != nil || rest != nil {
						b.Fatalf("write: %v (rest %d buffers)", err, len(rest))
					}
				}
				cpu += threadCPU(b) - before
			}
			b.StopTimer()
			perWrite := float64(cpu.Nanoseconds()) / float64(b.N*n)
			b.ReportMetric(perWrite, "cpu-ns/write")
			b.ReportMetric(perWrite*25*100/1e9*100, "floor-%core/100")
		})
	}
}

// threadCPU is the calling thread's CPU time, up to date to the call.
func threadCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
}
