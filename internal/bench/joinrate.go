package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/bench/stats"
)

// joinFailLimit is the share of failed joins above which a step fails.
const joinFailLimit = 0.01

// JoinStep is one rate of a join-rate run.
type JoinStep struct {
	TargetRate float64 `json:"target_rate"` // joins started per second
	Users      int     `json:"users"`       // users started
	Joined     int     `json:"joined"`
	Failed     int     `json:"failed"`
	// AchievedRate: joins completed per second, from the step's first
	// start to its last completion.
	AchievedRate float64 `json:"achieved_rate"`
	// Join: what a user waits for, from its start to the join reply
	// (allocation + WebSocket open + join round trip). JoinRTT: the join
	// request's round trip alone.
	Join    stats.Summary `json:"join"`
	JoinRTT stats.Summary `json:"join_rtt"`
	// Allocation and WSConnect: the first two parts of Join.
	Allocation stats.Summary `json:"allocation"`
	WSConnect  stats.Summary `json:"ws_connect"`
	// ServerCPU and BenchCPU: CPU time over the step per second of the
	// step, in percent of one core (ServerCPU 0 without a pid).
	ServerCPU float64 `json:"server_cpu_pct,omitempty"`
	BenchCPU  float64 `json:"bench_cpu_pct"`
	// OK: p99 of Join within the limit, at most 1 % failed, and at least
	// 90 % of the target rate achieved.
	OK bool `json:"ok"`
	// Errors groups the failures ("stage: error" -> users).
	Errors map[string]int `json:"errors,omitempty"`
}

// JoinRate is the outcome of a join-rate run.
type JoinRate struct {
	StepS   float64    `json:"step_s"`
	P99Max  float64    `json:"p99_limit_ms"`
	Steps   []JoinStep `json:"steps"`
	MaxRate float64    `json:"max_rate"` // highest target rate of an OK step (0: none)
}

// joinUser is one user of a join step; written by its goroutine, read by
// runJoins after the step's goroutines ended.
type joinUser struct {
	t        sigTiming
	stage    string
	err      error
	total    time.Duration // start -> join reply
	joinedAt time.Time
}

// runJoins executes a join-rate run: one step per rate in cfg.JoinRates.
// It stops early after a step that is not OK, or when ctx ends.
func (r *runner) runJoins(ctx context.Context, mon *monitor) (*JoinRate, bool) {
	cfg := r.cfg
	jr := &JoinRate{StepS: cfg.JoinStep.Seconds(), P99Max: float64(cfg.JoinP99Limit.Microseconds()) / 1000}
	uid := cfg.UIDBase + 100_001
	for i, rate := range cfg.JoinRates {
		mon.setPhase(fmt.Sprintf("%.0f/s", rate))
		st, interrupted := r.joinStep(ctx, rate, &uid, i)
		jr.Steps = append(jr.Steps, st)
		if st.OK {
			jr.MaxRate = max(jr.MaxRate, rate)
		}
		if interrupted {
			return jr, true
		}
		if !st.OK {
			break
		}
	}
	return jr, false
}

// joinStep starts users at rate for cfg.JoinStep; each joins and stays
// until the step ends, then all leave.
func (r *runner) joinStep(ctx context.Context, rate float64, uid *uint32, step int) (JoinStep, bool) {
	cfg := r.cfg
	n := max(1, int(rate*cfg.JoinStep.Seconds()+0.5))
	st := JoinStep{TargetRate: rate, Users: n, Errors: map[string]int{}}
	users := make([]joinUser, n)
	// Tokens are built before the clock starts: building one costs the
	// bench more CPU than the join costs the server.
	ids := make([]sigUser, n)
	for i := range ids {
		ch := cfg.Channel
		if cfg.Channels > 1 {
			ch = fmt.Sprintf("%s-%d", cfg.Channel, i%cfg.Channels)
		}
		u, err := r.user(ch, *uid, "audience")
		*uid++
		if err != nil {
			users[i].stage, users[i].err = "token", err
		}
		ids[i] = u
	}
	stepCtx, endStep := context.WithCancel(context.Background())
	defer endStep()
	var wg sync.WaitGroup
	settled := make(chan struct{}, n) // one token per user whose join ended
	cpu0, self0 := r.serverCPU(), selfCPU()
	start := time.Now()
	tick := time.NewTimer(0)
	defer tick.Stop()
	interrupted := false
	for i := range n {
		tick.Reset(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
		select {
		case <-ctx.Done():
			interrupted = true
		case <-tick.C:
		}
		if interrupted {
			st.Users = i
			break
		}
		u := &users[i]
		r.joinsStarted.Add(1)
		if u.err != nil {
			settled <- struct{}{}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			sc, err := r.signalUser(stepCtx, ids[i], &u.t, &u.stage)
			if err != nil {
				u.err = err
				settled <- struct{}{}
				return
			}
			u.joinedAt = time.Now()
			u.total = u.joinedAt.Sub(t0)
			r.joinsDone.Add(1)
			settled <- struct{}{}
			defer sc.close()
			<-stepCtx.Done()
		}()
	}
	// Wait for the last joins (each is bounded by cfg.Timeout), then end
	// the step: everyone leaves.
	for i := 0; i < st.Users && !interrupted; i++ {
		select {
		case <-ctx.Done():
			interrupted = true
		case <-settled:
		}
	}
	cpu1, self1 := r.serverCPU(), selfCPU()
	wall := time.Since(start)
	endStep()
	wg.Wait()
	if cpu0 >= 0 && cpu1 >= cpu0 && wall > 0 {
		st.ServerCPU = 100 * (cpu1 - cpu0).Seconds() / wall.Seconds()
	}
	if self0 >= 0 && self1 >= self0 && wall > 0 {
		st.BenchCPU = 100 * (self1 - self0).Seconds() / wall.Seconds()
	}
	var total, rtt, alloc, ws stats.Samples
	var last time.Time
	for i := range users[:st.Users] {
		u := &users[i]
		if u.err != nil {
			st.Failed++
			st.Errors[fmt.Sprintf("step %d %s: %s", step, u.stage, addrRE.ReplaceAllString(u.err.Error(), "ADDR"))]++
			continue
		}
		if u.joinedAt.IsZero() {
			st.Failed++ // interrupted before its join completed
			continue
		}
		st.Joined++
		total.Add(u.total)
		rtt.Add(u.t.join)
		alloc.Add(u.t.alloc)
		ws.Add(u.t.ws)
		if u.joinedAt.After(last) {
			last = u.joinedAt
		}
	}
	if st.Joined > 0 {
		if d := last.Sub(start).Seconds(); d > 0 {
			st.AchievedRate = float64(st.Joined) / d
		}
	}
	st.Join, st.JoinRTT = total.Summary(), rtt.Summary()
	st.Allocation, st.WSConnect = alloc.Summary(), ws.Summary()
	st.OK = !interrupted && st.judge(cfg.JoinP99Limit)
	if len(st.Errors) == 0 {
		st.Errors = nil
	}
	return st, interrupted
}

// selfCPU returns the bench's own CPU time so far, or -1.
func selfCPU() time.Duration {
	s, err := stats.ReadProc(os.Getpid())
	if err != nil {
		return -1
	}
	return s.CPU
}

// serverCPU returns the server's CPU time so far, or -1 without a pid.
func (r *runner) serverCPU() time.Duration {
	if r.cfg.ServerPID <= 0 {
		return -1
	}
	s, err := stats.ReadProc(r.cfg.ServerPID)
	if err != nil {
		return -1
	}
	return s.CPU
}

// judge reports whether a finished step stayed within the limits: join p99
// within limit, at most 1 % failed, and at least 90 % of the target rate
// achieved.
func (st *JoinStep) judge(limit time.Duration) bool {
	return st.Users > 0 &&
		float64(st.Failed) <= joinFailLimit*float64(st.Users) &&
		st.Join.P99 <= float64(limit.Microseconds())/1000 &&
		st.AchievedRate >= 0.9*st.TargetRate
}
