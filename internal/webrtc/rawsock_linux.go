package webrtc

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// mmsghdr is sendmmsg(2)'s struct mmsghdr; Go pads it as C does (to the
// alignment of the pointers in Msghdr).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// rawBatch is the scratch space of one sendmmsg: headers, one iovec and
// one socket address per message.
type rawBatch struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
}

// rawSocket reads and sends on the shared UDP socket with system calls
// made without the Go runtime's blocking-syscall bookkeeping (RawSyscall6).
// The socket is non-blocking, so neither call waits in the kernel (they
// return EAGAIN and wait in the network poller instead), and the
// bookkeeping is what costs: a P that stays in a system call for more than
// 20 µs (a sendmmsg of a few hundred packets does) is taken by the
// runtime's monitor thread and handed to another thread, and a system call
// made while the process was idle (a read of an RTCP packet) wakes that
// monitor, which then polls every 20 µs for the next millisecond. On a
// WHEP fan-out those thread wake-ups cost more CPU than the reads.
type rawSocket struct {
	raw syscall.RawConn
	v6  bool // the socket is AF_INET6 (IPv4 destinations as mapped addresses)
}

// newRawSocket returns nil if c's socket cannot be used directly; the
// caller then sends with ipv4.PacketConn.WriteBatch.
func newRawSocket(c *net.UDPConn) *rawSocket {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	family := -1
	if err := raw.Control(func(fd uintptr) {
		family, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	}); err != nil {
		return nil
	}
	switch family {
	case unix.AF_INET:
		return &rawSocket{raw: raw}
	case unix.AF_INET6:
		return &rawSocket{raw: raw, v6: true}
	}
	return nil
}

// writeBatch sends msgs (one buffer each) with one sendmmsg, waiting only
// while the socket's buffer is full. It returns how many messages were
// sent; if none was, the error is the first message's.
func (s *rawSocket) writeBatch(msgs []ipv4.Message, rb *rawBatch) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	if cap(rb.hdrs) < len(msgs) {
		rb.hdrs = make([]mmsghdr, len(msgs))
		rb.iovs = make([]unix.Iovec, len(msgs))
		rb.names = make([]unix.RawSockaddrInet6, len(msgs))
	}
	hdrs, iovs, names := rb.hdrs[:len(msgs)], rb.iovs[:len(msgs)], rb.names[:len(msgs)]
	defer func() { clear(hdrs); clear(iovs) }() // drop references to the packets
	for i := range msgs {
		m := &msgs[i]
		if len(m.Buffers) != 1 {
			return 0, errors.New("webrtc: a batched message has one buffer")
		}
		ua, ok := m.Addr.(*net.UDPAddr)
		if !ok {
			return 0, errors.New("webrtc: a batched message has a UDP address")
		}
		h := &hdrs[i].hdr
		*h = unix.Msghdr{}
		buf := m.Buffers[0]
		iovs[i] = unix.Iovec{}
		if len(buf) > 0 {
			iovs[i].Base = &buf[0]
		}
		iovs[i].SetLen(len(buf))
		h.Iov = &iovs[i]
		h.SetIovlen(1)
		if len(m.OOB) > 0 {
			h.Control = &m.OOB[0]
			h.SetControllen(len(m.OOB))
		}
		namelen, err := s.putName(&names[i], ua)
		if err != nil {
			return 0, err
		}
		h.Name = (*byte)(unsafe.Pointer(&names[i])) //nolint:gosec // G103: sockaddr storage for sendmmsg(2), kept alive by rb across the call
		h.Namelen = namelen
	}
	var (
		sent  int
		errno unix.Errno
	)
	err := s.raw.Write(func(fd uintptr) bool {
		for {
			r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), 0, 0, 0) //nolint:gosec // G103: the mmsghdr array for sendmmsg(2), kept alive by hdrs across the call
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // the socket's buffer is full: wait for room
			case 0:
				sent = int(r) //nolint:gosec // G115: at most len(hdrs)
			default:
				errno = e
			}
			return true
		}
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, os.NewSyscallError("sendmmsg", errno)
	}
	return sent, nil
}

// putName writes ua into sa as the socket's family wants it and returns
// its length.
func (s *rawSocket) putName(sa *unix.RawSockaddrInet6, ua *net.UDPAddr) (uint32, error) {
	if ua.Port < 0 || ua.Port > 0xffff {
		return 0, errors.New("webrtc: a destination port out of range")
	}
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], uint16(ua.Port))
	if !s.v6 {
		ip4 := ua.IP.To4()
		if ip4 == nil {
			return 0, errors.New("webrtc: an IPv6 destination on an IPv4 socket")
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa)) //nolint:gosec // G103: sockaddr_in fits in sockaddr_in6's storage
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET}
		*(*[2]byte)(unsafe.Pointer(&sa4.Port)) = port //nolint:gosec // G103: the port in network byte order
		copy(sa4.Addr[:], ip4)
		return unix.SizeofSockaddrInet4, nil
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6}
	*(*[2]byte)(unsafe.Pointer(&sa.Port)) = port //nolint:gosec // G103: the port in network byte order
	ip16 := ua.IP.To16()
	if ip16 == nil {
		return 0, errors.New("webrtc: a destination without an IP address")
	}
	copy(sa.Addr[:], ip16)
	if ua.Zone != "" {
		if idx, err := strconv.ParseUint(ua.Zone, 10, 32); err == nil {
			sa.Scope_id = uint32(idx)
		} else if ifi, err := net.InterfaceByName(ua.Zone); err == nil {
			sa.Scope_id = uint32(ifi.Index) //nolint:gosec // G115: interface indexes are small
		}
	}
	return unix.SizeofSockaddrInet6, nil
}

// readFrom reads one datagram as UDPConn.ReadFromUDPAddrPort does (an IPv4
// source on an AF_INET6 socket is a mapped address), with a recvfrom
// system call made without the runtime's blocking-syscall bookkeeping: a
// read that finds the process idle would otherwise wake the runtime's
// monitor into 20 µs polling for the next millisecond. It waits in the
// network poller while nothing is queued.
func (s *rawSocket) readFrom(p []byte) (int, netip.AddrPort, error) {
	var (
		n     int
		from  netip.AddrPort
		errno unix.Errno
		sa    unix.RawSockaddrInet6 // room for either family
		dummy byte
	)
	buf := &dummy
	if len(p) > 0 {
		buf = &p[0]
	}
	err := s.raw.Read(func(fd uintptr) bool {
		for {
			salen := uint32(unix.SizeofSockaddrInet6)
			r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(buf)), uintptr(len(p)), 0, uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&salen))) //nolint:gosec // G103: the buffer and sockaddr storage for recvfrom(2), alive across the call
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // nothing queued: wait in the poller
			case 0:
				n = int(r) //nolint:gosec // G115: at most len(p)
				from = sockaddrAddrPort(&sa)
			default:
				errno = e
			}
			return true
		}
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("recvfrom", errno)
	}
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	return n, from, nil
}

// sockaddrAddrPort is the address recvfrom stored in sa.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	port := (*[2]byte)(unsafe.Pointer(&sa.Port)) //nolint:gosec // G103: the port in network byte order
	p := uint16(port[0])<<8 | uint16(port[1])
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa)) //nolint:gosec // G103: sockaddr_in within sockaddr_in6's storage
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), p)
	}
	ip := netip.AddrFrom16(sa.Addr)
	if sa.Scope_id != 0 {
		if ifi, err := net.InterfaceByIndex(int(sa.Scope_id)); err == nil {
			ip = ip.WithZone(ifi.Name)
		} else {
			ip = ip.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
	}
	return netip.AddrPortFrom(ip, p)
}
