package bench

import (
	"net"
	"runtime"
	"testing"
	"time"
)

func TestSumUDPDrops(t *testing.T) {
	const table = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100007F:D989 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4711 2 0000000000000000 0
  101: 0100007F:9CCB 0100007F:D989 01 00000000:00000000 00:00000000 00000000     0        0 4712 2 0000000000000000 116
  102: 0100007F:8BD6 0100007F:D989 01 00000000:00034000 00:00000000 00000000     0        0 9999 2 0000000000000000 500
  103: garbage
`
	for _, c := range []struct {
		name   string
		inodes map[string]bool
		want   uint64
	}{
		{"own sockets only", map[string]bool{"4711": true, "4712": true}, 116},
		{"another process's socket is not counted", map[string]bool{"4711": true}, 0},
		{"no sockets", map[string]bool{}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := sumUDPDrops([]byte(table), c.inodes); got != c.want {
				t.Fatalf("drops %d, want %d", got, c.want)
			}
		})
	}
}

// TestUDPDropsCountsOwnSocketOverflow: a socket of this process that
// nobody reads overflows, and udpDrops sees the kernel's drops.
func TestUDPDropsCountsOwnSocketOverflow(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/net/udp is Linux's")
	}
	before, ok := udpDrops()
	if !ok {
		t.Fatal("udpDrops: not available on Linux")
	}
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	src, err := net.DialUDP("udp4", nil, sink.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pkt := make([]byte, 1200)
	for range 200 { // far more than a 4 KiB buffer holds; nobody reads
		_, _ = src.Write(pkt)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		after, _ := udpDrops()
		if after > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drops stayed at %d after overflowing an unread socket", after)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
