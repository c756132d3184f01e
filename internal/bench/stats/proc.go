package stats

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports (the kernel exports a fixed
// USER_HZ to user space regardless of CONFIG_HZ); reading it would need
// sysconf(_SC_CLK_TCK), which is cgo.
const clockTick = 10 * time.Millisecond

// ProcSample is one reading of a process's resource use.
type ProcSample struct {
	// CPU is the user plus system time the process has used since it started.
	CPU time.Duration
	// RSS is the resident set size in bytes (VmRSS).
	RSS int64
}

// ReadProc reads /proc/PID/stat and /proc/PID/status.
func ReadProc(pid int) (ProcSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("stats: %w", err)
	}
	cpu, err := ParseStatCPU(stat)
	if err != nil {
		return ProcSample{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("stats: %w", err)
	}
	rss, err := ParseStatusRSS(status)
	if err != nil {
		return ProcSample{}, err
	}
	return ProcSample{CPU: cpu, RSS: rss}, nil
}

// ParseStatCPU returns utime + stime (fields 14 and 15 of proc(5)'s
// /proc/PID/stat). The command name (field 2) may contain spaces and
// parentheses, so fields are counted after its last ')'.
func ParseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stats: /proc stat: no ')' after the command name")
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state), so field k is f[k-3].
	if len(f) < 15-3+1 {
		return 0, fmt.Errorf("stats: /proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks uint64
	for _, k := range []int{14, 15} {
		v, err := strconv.ParseUint(string(f[k-3]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stats: /proc stat field %d: %w", k, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick, nil //nolint:gosec // G115: a process's CPU ticks (10 ms each), far below 2^63
}

// ParseStatusRSS returns VmRSS from /proc/PID/status in bytes.
func ParseStatusRSS(status []byte) (int64, error) {
	for line := range bytes.SplitSeq(status, []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("stats: /proc status: VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stats: /proc status VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("stats: /proc status: no VmRSS line (kernel thread or zombie?)")
}

// LoadAvg returns the 1-minute load average from /proc/loadavg, or -1 when
// it cannot be read.
func LoadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(string(f[0]), 64)
	if err != nil {
		return -1
	}
	return v
}
