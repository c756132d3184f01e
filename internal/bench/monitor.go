package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/bench/stats"
)

// TimePoint is one sample of the run's timeline.
type TimePoint struct {
	T          float64 `json:"t_s"` // seconds since the start
	Phase      string  `json:"phase"`
	Readers    int     `json:"readers"`
	Playing    int     `json:"playing"`
	InKbps     float64 `json:"in_kbps"`  // media received by all readers
	OutKbps    float64 `json:"out_kbps"` // media sent by all publishers
	Drops      int64   `json:"drops"`    // cumulative
	ServerCPU  float64 `json:"server_cpu_pct,omitempty"`
	ServerRSS  float64 `json:"server_rss_mb,omitempty"`
	BenchCPU   float64 `json:"bench_cpu_pct"`
	BenchRSS   float64 `json:"bench_rss_mb"`
	ServerGone bool    `json:"server_gone,omitempty"`
	Joined     int64   `json:"joined,omitempty"` // join-rate mode: cumulative
}

// monitor samples /proc for the server and for the bench itself, keeps the
// timeline and draws the progress line. Its run goroutine is owned by Run.
type monitor struct {
	pid      int
	interval time.Duration
	r        *runner
	out      io.Writer
	start    time.Time

	mu       sync.Mutex
	phase    string
	timeline []TimePoint
	srvErr   error
}

func newMonitor(pid int, interval time.Duration, r *runner, out io.Writer, start time.Time) *monitor {
	return &monitor{pid: pid, interval: interval, r: r, out: out, start: start, phase: "start"}
}

func (m *monitor) setPhase(p string) {
	m.mu.Lock()
	m.phase = p
	m.mu.Unlock()
}

func (m *monitor) run(ctx context.Context) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	self := os.Getpid()
	prevAt := time.Now()
	prevSrv, srvErr := m.read(m.pid)
	prevSelf, _ := stats.ReadProc(self)
	var prevIn, prevOut int64
	for {
		select {
		case <-ctx.Done():
			if m.out != nil {
				fmt.Fprintln(m.out)
			}
			return
		case <-t.C:
		}
		now := time.Now()
		dt := now.Sub(prevAt).Seconds()
		prevAt = now
		m.mu.Lock()
		p := TimePoint{T: now.Sub(m.start).Seconds(), Phase: m.phase}
		m.mu.Unlock()
		var in, out int64
		for _, rd := range m.r.snapshot() {
			p.Readers++
			if rd.sink.playing.Load() {
				p.Playing++
			}
			in += rd.sink.bytes.Load()
			p.Drops += rd.sink.drops.Load()
		}
		for _, pb := range m.r.pubs {
			out += pb.ps.bytes.Load()
		}
		p.Joined = m.r.joinsDone.Load()
		p.InKbps = float64(in-prevIn) * 8 / 1000 / dt
		p.OutKbps = float64(out-prevOut) * 8 / 1000 / dt
		prevIn, prevOut = in, out
		if s, err := stats.ReadProc(self); err == nil {
			p.BenchCPU = 100 * (s.CPU - prevSelf.CPU).Seconds() / dt
			p.BenchRSS = float64(s.RSS) / (1 << 20)
			prevSelf = s
		}
		if m.pid > 0 {
			if s, err := m.read(m.pid); err == nil && srvErr == nil {
				p.ServerCPU = 100 * (s.CPU - prevSrv.CPU).Seconds() / dt
				p.ServerRSS = float64(s.RSS) / (1 << 20)
				prevSrv = s
			} else {
				p.ServerGone = true
				if srvErr == nil {
					srvErr = err
				}
			}
		}
		m.mu.Lock()
		m.timeline = append(m.timeline, p)
		m.srvErr = srvErr
		m.mu.Unlock()
		if m.out != nil {
			line := fmt.Sprintf("\r%6.1fs %-7s readers %d/%d playing %d | in %.1f Mbit/s | drops %d | bench cpu %.0f%%",
				p.T, p.Phase, p.Readers, m.r.cfg.Readers+m.r.cfg.WHEPReaders, p.Playing, p.InKbps/1000, p.Drops, p.BenchCPU)
			if m.r.cfg.Mode() == ModeJoins {
				line = fmt.Sprintf("\r%6.1fs step %-7s joins started %d, joined %d | bench cpu %.0f%%",
					p.T, p.Phase, m.r.joinsStarted.Load(), p.Joined, p.BenchCPU)
			}
			if m.pid > 0 {
				line += fmt.Sprintf(" | server cpu %.0f%% rss %.0f MB", p.ServerCPU, p.ServerRSS)
			}
			fmt.Fprintf(m.out, "%s\x1b[K", line)
		}
	}
}

func (m *monitor) read(pid int) (stats.ProcSample, error) {
	if pid <= 0 {
		return stats.ProcSample{}, nil
	}
	return stats.ReadProc(pid)
}

func (m *monitor) result() ([]TimePoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.timeline, m.srvErr
}
