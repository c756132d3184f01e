// Package stats holds the measurement helpers of `minirtc bench`: exact
// percentiles over kept samples (Samples), a log-linear histogram for
// high-volume samples such as per-frame latency (Histogram), and readers of
// a process's CPU time and resident memory from /proc (ReadProc).
//
// It imports only the standard library. Goroutine model: none; values are
// owned by one goroutine and merged by their owner (Histogram.Merge).
package stats
