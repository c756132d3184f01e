//go:build unix

package aac

import "syscall"

// processCPUSeconds returns the user plus system CPU time of the process, so
// benchmarks can report a speed that does not suffer from other processes
// competing for the cores.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
