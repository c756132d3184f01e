//go:build !linux && !darwin

package rtmp

import (
	"errors"
	"syscall"
)

// tryWritev is not available here: viewers are written by their own goroutines.
func tryWritev(syscall.RawConn, [][]byte) (int, error) {
	return 0, errors.New("rtmp: non-blocking writev not supported on this platform")
}

const haveTryWritev = false
