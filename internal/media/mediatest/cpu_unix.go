//go:build unix

package mediatest

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time (user + system) this process used so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
