//go:build !linux && !darwin

package egress

import (
	"errors"
	"syscall"
)

// tryWritev is not available here: viewers are written by their own goroutines.
func tryWritev(syscall.RawConn, [][]byte) (int, error) {
	return 0, errors.New("egress: non-blocking writev not supported on this platform")
}

// Supported reports whether this platform has the non-blocking writev the
// Loop needs; without it adapters write from their viewers' goroutines.
const Supported = false

func writevBlocking(syscall.RawConn, [][]byte) error {
	return errors.New("egress: writev not supported on this platform")
}
