package webrtc

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// batchConn reads as UDPConn.ReadFromUDPAddrPort does, on an IPv4 socket
// and on a dual-stack one (where an IPv4 source is a mapped address): the
// same bytes from the same source address, and the same errors for a read
// deadline and a Close.
func TestBatchConnReadsAsUDPConn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network string
		laddr   *net.UDPAddr
	}{
		{"ipv4 socket", "udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}},
		{"dual-stack socket", "udp", &net.UDPAddr{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := func() *net.UDPConn {
				c, err := net.ListenUDP(tc.network, tc.laddr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			plain, udp := open(), open()
			bc := newBatchConn(udp)
			t.Cleanup(func() { bc.Close() })
			if bc.raw == nil {
				t.Fatal("batchConn does not use its socket directly on Linux")
			}
			senders := []string{"127.0.0.1"}
			if tc.network == "udp" {
				senders = append(senders, "::1")
			}
			for _, from := range senders {
				src, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)})
				if err != nil {
					if from == "::1" {
						continue // no IPv6 loopback here
					}
					t.Fatal(err)
				}
				defer src.Close()
				for _, dst := range []*net.UDPConn{plain, udp} {
					port := dst.LocalAddr().(*net.UDPAddr).Port
					to := netip.AddrPortFrom(netip.MustParseAddr(from), uint16(port))
					if _, err := src.WriteToUDPAddrPort([]byte("packet from "+from), to); err != nil {
						t.Fatal(err)
					}
				}
				want := make([]byte, 100)
				_ = plain.SetReadDeadline(time.Now().Add(5 * time.Second))
				wn, wfrom, werr := plain.ReadFromUDPAddrPort(want)
				got := make([]byte, 100)
				_ = bc.SetReadDeadline(time.Now().Add(5 * time.Second))
				gn, gfrom, gerr := bc.ReadFromAddrPort(got)
				if werr != nil || gerr != nil {
					t.Fatalf("from %s: UDPConn %v, batchConn %v", from, werr, gerr)
				}
				if string(got[:gn]) != string(want[:wn]) || gfrom != wfrom {
					t.Fatalf("from %s: batchConn read %q from %v, UDPConn %q from %v", from, got[:gn], gfrom, want[:wn], wfrom)
				}
			}
			// Nothing more to read: the deadline ends the read.
			_ = bc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			var ne net.Error
			var oe *net.OpError
			if _, _, err := bc.ReadFromAddrPort(make([]byte, 100)); !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) {
				t.Fatalf("read past the deadline: %v", err)
			}
			// Close ends a read in progress.
			_ = bc.SetReadDeadline(time.Time{})
			time.AfterFunc(50*time.Millisecond, func() { _ = bc.Close() })
			if _, _, err := bc.ReadFromAddrPort(make([]byte, 100)); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read ended by Close: %v", err)
			}
		})
	}
}
