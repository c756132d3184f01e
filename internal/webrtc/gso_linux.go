package webrtc

import (
	"encoding/binary"
	"errors"
	"syscall"
)

// UDP generic segmentation offload (Linux 4.18+): one sendmmsg message
// carries several datagrams of one size for one destination (the last may
// be shorter), and the kernel splits it after routing it once.
const (
	gsoSupported   = true
	solUDP         = 17  // SOL_UDP
	udpSegment     = 103 // UDP_SEGMENT
	maxGSOSegments = 64  // UDP_MAX_SEGMENTS
)

// gsoOOBSpace is the size of one UDP_SEGMENT control message.
var gsoOOBSpace = syscall.CmsgSpace(2)

// appendUDPSegment appends the control message asking the kernel to split
// a datagram into segments of size bytes.
func appendUDPSegment(b []byte, size int) []byte {
	start := len(b)
	b = append(b, make([]byte, gsoOOBSpace)...)
	hdr := syscall.CmsgLen(0)
	cmsgLen := uint64(syscall.CmsgLen(2)) //nolint:gosec // G115: the header plus 2 bytes, a small positive constant
	// struct cmsghdr: the length is a size_t, then level and type (int).
	if hdr >= 16 {
		binary.NativeEndian.PutUint64(b[start:], cmsgLen)
		binary.NativeEndian.PutUint32(b[start+8:], solUDP)
		binary.NativeEndian.PutUint32(b[start+12:], udpSegment)
	} else {
		binary.NativeEndian.PutUint32(b[start:], uint32(cmsgLen)) //nolint:gosec // G115: as above
		binary.NativeEndian.PutUint32(b[start+4:], solUDP)
		binary.NativeEndian.PutUint32(b[start+8:], udpSegment)
	}
	binary.NativeEndian.PutUint16(b[start+hdr:], uint16(size)) //nolint:gosec // G115: batchConn.send segments only runs of at most maxGSOBytes (60000)
	return b
}

// gsoRefused reports whether a send error means the socket or the route
// cannot segment (an old kernel, a device without checksum offload).
func gsoRefused(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, syscall.ENOPROTOOPT) || errors.Is(err, syscall.EOPNOTSUPP)
}
