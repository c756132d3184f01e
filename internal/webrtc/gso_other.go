//go:build !linux

package webrtc

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// Without Linux UDP segmentation offload every datagram is its own message.
const (
	gsoSupported   = false
	maxGSOSegments = 1
)

var gsoOOBSpace = 0

func appendUDPSegment(b []byte, _ int) []byte { return b }

func gsoRefused(error) bool { return false }

// rawSocket is Linux's; elsewhere batches go through ipv4.PacketConn.
type rawSocket struct{}

type rawBatch struct{}

func newRawSocket(*net.UDPConn) *rawSocket { return nil }

func (*rawSocket) writeBatch([]ipv4.Message, *rawBatch) (int, error) { return 0, nil }

func (*rawSocket) readFrom([]byte) (int, netip.AddrPort, error) { return 0, netip.AddrPort{}, nil }
