//go:build linux || darwin

package egress

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// tryWritev makes one non-blocking writev attempt on the socket (Go keeps
// network sockets non-blocking): it returns how much was written, and EAGAIN
// when the socket buffer is full.
func tryWritev(raw syscall.RawConn, bufs [][]byte) (int, error) {
	var (
		n    int
		werr error
	)
	err := raw.Write(func(fd uintptr) bool {
		for {
			n, werr = writevNow(int(fd), bufs)
			if !errors.Is(werr, unix.EINTR) {
				return true // done, whatever happened: never wait here
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	return n, werr
}

// Supported reports whether this platform has the non-blocking writev the
// Loop needs; without it adapters write from their viewers' goroutines.
const Supported = true

// writevBlocking writes all of bufs with writev, waiting for room as a
// blocking write does (and failing at the socket's write deadline or when it
// is closed). Unlike net.Buffers it keeps no iovec array per socket.
func writevBlocking(raw syscall.RawConn, bufs [][]byte) error {
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		for len(bufs) > 0 {
			head := bufs
			if len(head) > MaxIovecs {
				head = head[:MaxIovecs]
			}
			n, err := unix.Writev(int(fd), head)
			switch {
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.EAGAIN):
				return false // wait until the socket has room
			case err != nil:
				werr = err
				return true
			}
			bufs = Remainder(bufs, n)
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}
