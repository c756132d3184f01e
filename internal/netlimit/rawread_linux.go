package netlimit

import (
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawRead reads from a non-blocking stream socket with a read system call
// made without the Go runtime's blocking-syscall bookkeeping (RawSyscall):
// the socket never blocks the call (EAGAIN waits in the network poller,
// with the connection's read deadline), and the bookkeeping is what wakes
// the runtime's monitor thread, which then polls every 20 µs for the next
// millisecond, each time a read finds the process idle, as the read of
// each frame of a publisher or each signaling ping does. Its results are
// those of poll.FD.Read: io.EOF at the end of the stream, a
// *os.SyscallError for a failed call, and the poller's errors
// (os.ErrDeadlineExceeded, net.ErrClosed) as they are.
func rawRead(raw syscall.RawConn, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var (
		n     int
		errno unix.Errno
	)
	err := raw.Read(func(fd uintptr) bool {
		for {
			r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p))) //nolint:gosec // G103: the buffer for read(2), alive across the call
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // nothing to read yet: wait in the poller
			case 0:
				n = int(r) //nolint:gosec // G115: at most len(p)
			default:
				errno = e
			}
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// rawReads is whether Conn.Read uses rawRead.
const rawReads = true
