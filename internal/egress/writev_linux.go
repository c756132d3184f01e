//go:build linux

package egress

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// iovecPool holds scratch iovec arrays for writevNow (one per concurrent
// caller; the Loop is one goroutine, so in practice one).
var iovecPool = sync.Pool{New: func() any { return new([]unix.Iovec) }}

// writevNow is one writev on a non-blocking socket, made as a raw system
// call: it cannot block, so the Go scheduler need not be told (no hand-off
// of the P, which for a loop of short writes cost more than the writes'
// bookkeeping; the runtime's monitor thread also stays asleep). bufs must
// hold at most MaxIovecs buffers.
func writevNow(fd int, bufs [][]byte) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	p := iovecPool.Get().(*[]unix.Iovec)
	iov := (*p)[:0]
	for _, b := range bufs {
		v := unix.Iovec{}
		if len(b) > 0 {
			v.Base = &b[0]
		}
		v.SetLen(len(b))
		iov = append(iov, v)
	}
	r, _, errno := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov))) //nolint:gosec // G103: the iovec array for writev(2), kept alive by iov across the call
	// Keep no buffer alive from the pool.
	clear(iov)
	*p = iov[:0]
	iovecPool.Put(p)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
