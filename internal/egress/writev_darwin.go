//go:build darwin

package egress

import "golang.org/x/sys/unix"

// writevNow is one writev on a non-blocking socket.
func writevNow(fd int, bufs [][]byte) (int, error) { return unix.Writev(fd, bufs) }
