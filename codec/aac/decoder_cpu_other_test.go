//go:build !unix

package aac

// processCPUSeconds is not available here; benchmarks then skip the CPU-time
// metric.
func processCPUSeconds() float64 { return 0 }
