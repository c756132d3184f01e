package bench

import (
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/bench/stats"
)

// addrRE matches host:port pairs (IPv4 and bracketed IPv6) in error texts.
var addrRE = regexp.MustCompile(`(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):\d+`)

// Report is the outcome of a run; it marshals to the --json output.
type Report struct {
	Mode        string    `json:"mode"`
	Target      string    `json:"target"`
	Proto       string    `json:"proto"`
	StartedAt   time.Time `json:"started_at"`
	DurationS   float64   `json:"duration_s"`
	RampS       float64   `json:"ramp_s"`
	HoldS       float64   `json:"hold_s"`
	Interrupted bool      `json:"interrupted"`
	Stream      Stream    `json:"stream"`

	Publishers        int `json:"publishers"`
	PublishersOK      int `json:"publishers_ok"`
	ReadersPlanned    int `json:"readers_planned"`
	ReadersStarted    int `json:"readers_started"`
	ReadersPlaying    int `json:"readers_playing"`     // got a decodable frame
	ReadersFailed     int `json:"readers_failed"`      // ended with an error, or never played
	ReadersSurvived   int `json:"readers_survived"`    // playing until the stop, no error
	SignallingUsersOK int `json:"signalling_users_ok"` // joined (signalling mode)

	// Signalling round trips (signalling mode): allocation POST, WebSocket
	// open, join/publish/subscribe request -> reply.
	Allocation stats.Summary `json:"allocation"`
	WSConnect  stats.Summary `json:"ws_connect"`
	Join       stats.Summary `json:"join_rtt"`
	Publish    stats.Summary `json:"publish_rtt"`
	Subscribe  stats.Summary `json:"subscribe_rtt"`
	// PlayConnect: play URL in hand -> RTMP play accepted / HTTP-FLV
	// response headers.
	PlayConnect stats.Summary `json:"play_connect"`
	// FirstFrame: play URL in hand (the subscribe reply) -> first decodable
	// video frame (a keyframe with SPS and PPS known).
	FirstFrame stats.Summary `json:"first_frame"`
	// Latency: publisher's send time (stamped in the frame) -> reader's
	// receive time, for frames published after the reader started.
	Latency stats.Summary `json:"e2e_latency"`
	// AudioLatency: the audio frames' estimated send time -> reader's
	// receive time (RTMP and HTTP-FLV readers; not WHEP, whose RTP audio
	// and video clocks are unrelated). Audio carries no stamp: its send time
	// is estimated from the last stamped video frame and the timestamps
	// audio and video share, within about ±1 ms (see sink.audio).
	AudioLatency stats.Summary `json:"audio_latency"`

	// PublishedKbps (mean per publisher) and ReaderKbps (delivered, per
	// reader) count media payload bytes over the hold phase (readers that
	// were playing all through it), else from the first frame to the end.
	PublishedKbps float64 `json:"published_kbps"`
	// PublisherLate counts frames the publishers wrote more than one frame
	// interval after their due time: the bench itself (or the server's
	// back-pressure) held them up, and latencies include that delay.
	PublisherLate int64 `json:"publisher_late_frames"`
	// PublishedBytes: media payload bytes all publishers wrote; the server's
	// acknowledgements and pings to the publishers (answered by the bench).
	PublishedBytes int64              `json:"published_bytes"`
	PublisherAcks  int64              `json:"publisher_acks"`
	PublisherPings int64              `json:"publisher_pings"`
	ReaderKbps     stats.FloatSummary `json:"reader_kbps"`
	Drops          Drops              `json:"drops"`

	// Joins: the join-rate steps (join-rate mode only).
	Joins *JoinRate `json:"joins,omitempty"`

	// LoadAvg: the machine's 1-minute load average at the start and the
	// end (other work on the machine shows here; CPU figures are process
	// CPU time from /proc, so they hold under load, wall-clock ones less).
	LoadAvg [2]float64 `json:"load_avg_1m"`

	Server   *ProcSummary `json:"server,omitempty"`
	Bench    ProcSummary  `json:"bench"`
	Timeline []TimePoint  `json:"timeline"`

	// ByProto breaks the reader figures down by protocol when readers of
	// more than one kind ran (Config.WHEPReaders).
	ByProto []ProtoSummary `json:"by_proto,omitempty"`

	Errors  map[string]int `json:"errors,omitempty"` // "stage: error" -> users
	Readers []ReaderResult `json:"readers"`
}

// Stream echoes the synthetic stream settings.
type Stream struct {
	Width        int  `json:"width"`
	Height       int  `json:"height"`
	FPS          int  `json:"fps"`
	GOP          int  `json:"gop"`
	VideoBitrate int  `json:"video_bitrate"`
	Audio        bool `json:"audio"`
}

// Drops sums the gaps in the frame sequence numbers readers received.
type Drops struct {
	Total            int64   `json:"total"`
	FramesExpected   int64   `json:"frames_expected"` // received + dropped
	Ratio            float64 `json:"ratio"`
	ReadersWithDrops int     `json:"readers_with_drops"`
	MaxPerReader     int64   `json:"max_per_reader"`
	Reordered        int64   `json:"reordered"`
	Unstamped        int64   `json:"unstamped"`
	// BenchUDPDrops is the number of datagrams the kernel dropped at the
	// bench process's own UDP sockets during the run because their receive
	// buffers were full (Linux; absent where unknown). They are the WHEP
	// clients' (and, when a test runs the server in the same process, the
	// server's): frames WHEP readers miss while it grows were lost at the
	// readers, which did not keep up, not by the server.
	BenchUDPDrops *uint64 `json:"bench_udp_drops,omitempty"`
}

// ProcSummary describes a process's CPU (percent of one core) and memory.
type ProcSummary struct {
	PID       int     `json:"pid"`
	CPUAvg    float64 `json:"cpu_avg_pct"`
	CPUMax    float64 `json:"cpu_max_pct"`
	CPUHold   float64 `json:"cpu_hold_avg_pct"` // average over the hold phase
	RSSMaxMB  float64 `json:"rss_max_mb"`
	RSSEndMB  float64 `json:"rss_end_mb"`
	LostError string  `json:"lost,omitempty"` // the process vanished during the run
}

// ProtoSummary is the readers' figures of one protocol.
type ProtoSummary struct {
	Proto          string             `json:"proto"`
	Readers        int                `json:"readers"`
	Playing        int                `json:"playing"`
	Failed         int                `json:"failed"`
	FirstFrame     stats.Summary      `json:"first_frame"`
	Latency        stats.Summary      `json:"e2e_latency"`
	AudioLatency   stats.Summary      `json:"audio_latency"` // none for WHEP (see Report.AudioLatency)
	Kbps           stats.FloatSummary `json:"reader_kbps"`
	Drops          int64              `json:"drops"`
	FramesExpected int64              `json:"frames_expected"`
}

// protoAcc accumulates one protocol's figures.
type protoAcc struct {
	ProtoSummary
	first stats.Samples
	lat   stats.Histogram
	alat  stats.Histogram
	kbps  []float64
}

// ReaderResult is one reader's outcome.
type ReaderResult struct {
	ID           int     `json:"id"`
	Proto        string  `json:"proto"`
	UID          uint32  `json:"uid,omitempty"`
	Playing      bool    `json:"playing"`
	FirstFrameMS float64 `json:"first_frame_ms,omitempty"`
	Kbps         float64 `json:"kbps"`
	Bytes        int64   `json:"bytes"` // media payload bytes received
	VideoFrames  int64   `json:"video_frames"`
	AudioFrames  int64   `json:"audio_frames"`
	Drops        int64   `json:"drops"`
	LatencyP50MS float64 `json:"latency_p50_ms,omitempty"`
	LatencyP99MS float64 `json:"latency_p99_ms,omitempty"`
	// Audio latency of this reader (RTMP and HTTP-FLV only).
	AudioLatencyP50MS float64 `json:"audio_latency_p50_ms,omitempty"`
	AudioLatencyP99MS float64 `json:"audio_latency_p99_ms,omitempty"`
	Error             string  `json:"error,omitempty"`
}

func (r *runner) report(mon *monitor, started, rampStart, rampEnd, stopAt time.Time, interrupted bool) *Report {
	cfg := r.cfg
	vc := cfg.Video
	rep := &Report{
		Mode: cfg.Mode(), Proto: cfg.Proto, StartedAt: started, Interrupted: interrupted,
		DurationS: time.Since(started).Seconds(), RampS: rampEnd.Sub(rampStart).Seconds(), HoldS: stopAt.Sub(rampEnd).Seconds(),
		Publishers: len(r.pubs), ReadersPlanned: cfg.Readers + cfg.WHEPReaders, ReadersStarted: len(r.readers),
		Errors: map[string]int{},
	}
	rep.Target = cfg.Server
	if rep.Mode == ModeJoins {
		rep.Proto = ""
	}
	if cfg.WHEPReaders > 0 && cfg.Proto != ProtoWHEP {
		rep.Proto += "+" + ProtoWHEP
	}
	if rep.Mode == ModeMediaOnly {
		rep.Target = redactQuery(cfg.RTMPURL)
	}
	if v, err := synthVideoConfig(vc); err == nil {
		rep.Stream = Stream{Width: v.Width, Height: v.Height, FPS: v.FPS, GOP: v.GOP, VideoBitrate: v.Bitrate, Audio: !cfg.NoAudio}
	}
	var alloc, ws, join, publish, subscribe, connect, first stats.Samples
	addSig := func(t sigTiming) {
		if !t.ok {
			return
		}
		rep.SignallingUsersOK++
		alloc.Add(t.alloc)
		ws.Add(t.ws)
		join.Add(t.join)
	}
	fail := func(stage string, err error) {
		// Group equal failures: local addresses differ per connection.
		msg := addrRE.ReplaceAllString(err.Error(), "ADDR")
		if len(msg) > 160 {
			msg = msg[:160] + "…"
		}
		rep.Errors[stage+": "+msg]++
	}
	holdS := stopAt.Sub(rampEnd).Seconds()
	hold := !interrupted && holdS >= 1
	var pubKbps []float64
	for _, p := range r.pubs {
		addSig(p.sigTiming)
		if p.sigTiming.publish > 0 {
			publish.Add(p.sigTiming.publish)
		}
		rep.PublisherLate += p.ps.late.Load()
		rep.PublishedBytes += p.ps.bytes.Load()
		rep.PublisherAcks += p.ps.acks.Load()
		rep.PublisherPings += p.ps.pings.Load()
		if !p.ps.started.IsZero() {
			rep.PublishersOK++
			if hold {
				pubKbps = append(pubKbps, float64(p.stopBytes-p.holdBytes)*8/1000/holdS)
			} else if d := p.ps.stopped.Sub(p.ps.started).Seconds(); d > 0 {
				pubKbps = append(pubKbps, float64(p.ps.bytes.Load())*8/1000/d)
			}
		}
		if p.err != nil {
			fail("publisher "+p.stage, p.err)
		}
	}
	rep.PublishedKbps = stats.SummarizeFloats(pubKbps).Mean

	var lat, alat stats.Histogram
	var kbps []float64
	byProto := map[string]*protoAcc{}
	for _, rd := range r.readers {
		pa := byProto[rd.proto]
		if pa == nil {
			pa = &protoAcc{ProtoSummary: ProtoSummary{Proto: rd.proto}}
			byProto[rd.proto] = pa
		}
		pa.Readers++
		addSig(rd.sigTiming)
		if rd.subscribe > 0 {
			subscribe.Add(rd.subscribe)
		}
		if rd.connected {
			connect.Add(rd.connect)
		}
		s := rd.sink
		res := ReaderResult{ID: rd.idx, Proto: rd.proto, UID: rd.uid, Playing: s.playing.Load(),
			VideoFrames: s.videoFrames.Load(), AudioFrames: s.audioFrames.Load(), Drops: s.drops.Load(), Bytes: s.bytes.Load()}
		if rep.Mode == ModeMediaOnly {
			res.UID = 0
		}
		if res.Playing {
			rep.ReadersPlaying++
			first.Add(s.firstFrame)
			res.FirstFrameMS = float64(s.firstFrame.Microseconds()) / 1000
			end := rd.endAt
			if end.After(stopAt) {
				end = stopAt
			}
			switch {
			case hold && rd.holdBytes >= 0 && !rd.endAt.Before(stopAt):
				res.Kbps = float64(rd.stopBytes-rd.holdBytes) * 8 / 1000 / holdS
			case end.Sub(s.firstFrameAt) > 500*time.Millisecond:
				res.Kbps = float64(s.bytes.Load()) * 8 / 1000 / end.Sub(s.firstFrameAt).Seconds()
			}
			if res.Kbps > 0 {
				kbps = append(kbps, res.Kbps)
				pa.kbps = append(pa.kbps, res.Kbps)
			}
			lat.Merge(&s.latency)
			alat.Merge(&s.audioLatency)
			pa.Playing++
			pa.first.Add(s.firstFrame)
			pa.lat.Merge(&s.latency)
			pa.alat.Merge(&s.audioLatency)
			pa.Drops += res.Drops
			pa.FramesExpected += res.VideoFrames - s.unstamped + res.Drops
			res.LatencyP50MS = float64(s.latency.Percentile(50).Microseconds()) / 1000
			res.LatencyP99MS = float64(s.latency.Percentile(99).Microseconds()) / 1000
			if s.audioLatency.Count() > 0 {
				res.AudioLatencyP50MS = float64(s.audioLatency.Percentile(50).Microseconds()) / 1000
				res.AudioLatencyP99MS = float64(s.audioLatency.Percentile(99).Microseconds()) / 1000
			}
			rep.Drops.Total += res.Drops
			rep.Drops.FramesExpected += res.VideoFrames - s.unstamped + res.Drops
			rep.Drops.Reordered += s.reordered
			rep.Drops.Unstamped += s.unstamped
			if res.Drops > 0 {
				rep.Drops.ReadersWithDrops++
				rep.Drops.MaxPerReader = max(rep.Drops.MaxPerReader, res.Drops)
			}
		}
		if rd.err != nil {
			rep.ReadersFailed++
			pa.Failed++
			res.Error = rd.stage + ": " + rd.err.Error()
			fail(rd.stage, rd.err)
		} else if res.Playing && !rd.endAt.Before(stopAt) {
			rep.ReadersSurvived++
		}
		rep.Readers = append(rep.Readers, res)
	}
	if len(byProto) > 1 {
		for _, k := range slices.Sorted(maps.Keys(byProto)) {
			pa := byProto[k]
			pa.FirstFrame, pa.Latency, pa.Kbps = pa.first.Summary(), pa.lat.Summary(), stats.SummarizeFloats(pa.kbps)
			pa.AudioLatency = pa.alat.Summary()
			rep.ByProto = append(rep.ByProto, pa.ProtoSummary)
		}
	}
	if rep.Drops.FramesExpected > 0 {
		rep.Drops.Ratio = float64(rep.Drops.Total) / float64(rep.Drops.FramesExpected)
	}
	rep.Allocation, rep.WSConnect, rep.Join = alloc.Summary(), ws.Summary(), join.Summary()
	rep.Publish, rep.Subscribe = publish.Summary(), subscribe.Summary()
	rep.PlayConnect, rep.FirstFrame, rep.Latency = connect.Summary(), first.Summary(), lat.Summary()
	rep.AudioLatency = alat.Summary()
	rep.ReaderKbps = stats.SummarizeFloats(kbps)

	timeline, srvErr := mon.result()
	rep.Timeline = timeline
	rep.Bench = procSummary(timeline, func(p TimePoint) (float64, float64, bool) { return p.BenchCPU, p.BenchRSS, true })
	if cfg.ServerPID > 0 {
		s := procSummary(timeline, func(p TimePoint) (float64, float64, bool) { return p.ServerCPU, p.ServerRSS, !p.ServerGone })
		s.PID = cfg.ServerPID
		if srvErr != nil {
			s.LostError = srvErr.Error()
		}
		rep.Server = &s
	}
	rep.Bench.PID = 0
	if len(rep.Errors) == 0 {
		rep.Errors = nil
	}
	return rep
}

// Failure is the run's verdict for an exit status: an error naming how many
// readers and publishers failed, or nil when none did. A reader fails when
// it ends with an error or never plays.
func (rep *Report) Failure() error {
	var parts []string
	if rep.ReadersFailed > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d readers failed", rep.ReadersFailed, rep.ReadersStarted))
	}
	if rep.Joins == nil && rep.PublishersOK < rep.Publishers {
		parts = append(parts, fmt.Sprintf("%d of %d publishers never streamed", rep.Publishers-rep.PublishersOK, rep.Publishers))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%s (the report lists the errors)", strings.Join(parts, ", "))
}

func procSummary(tl []TimePoint, get func(TimePoint) (cpu, rss float64, ok bool)) ProcSummary {
	var s ProcSummary
	var sum, holdSum float64
	var n, holdN int
	for _, p := range tl {
		cpu, rss, ok := get(p)
		if !ok {
			continue
		}
		sum += cpu
		n++
		if p.Phase == "hold" {
			holdSum += cpu
			holdN++
		}
		s.CPUMax = max(s.CPUMax, cpu)
		s.RSSMaxMB = max(s.RSSMaxMB, rss)
		s.RSSEndMB = rss
	}
	if n > 0 {
		s.CPUAvg = sum / float64(n)
	}
	if holdN > 0 {
		s.CPUHold = holdSum / float64(holdN)
	}
	return s
}

// WriteText writes the human summary.
func (rep *Report) WriteText(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	if rep.Joins != nil {
		rep.writeJoins(w)
		return
	}
	p("minirtc bench: %s mode, %s, %s readers\n", rep.Mode, rep.Target, rep.Proto)
	st := rep.Stream
	audio := "no audio"
	if st.Audio {
		audio = "AAC 48 kHz mono 64 kbit/s"
	}
	p("stream: H.264 %dx%d %d fps GOP %d, %d kbit/s video + %s\n", st.Width, st.Height, st.FPS, st.GOP, st.VideoBitrate/1000, audio)
	p("run: %.1f s (ramp %.1f s, hold %.1f s)", rep.DurationS, rep.RampS, rep.HoldS)
	if rep.Interrupted {
		p(" INTERRUPTED")
	}
	p("\n")
	p("publishers: %d/%d streaming, %.0f kbit/s each", rep.PublishersOK, rep.Publishers, rep.PublishedKbps)
	if rep.PublisherAcks > 0 || rep.PublisherPings > 0 {
		p("; server sent %d acknowledgements, %d pings", rep.PublisherAcks, rep.PublisherPings)
	}
	if rep.PublisherLate > 0 {
		p("; %d frames written late (bench short of CPU, or server back-pressure)", rep.PublisherLate)
	}
	p("\n")
	p("readers: %d planned, %d started, %d playing, %d played to the end, %d failed\n",
		rep.ReadersPlanned, rep.ReadersStarted, rep.ReadersPlaying, rep.ReadersSurvived, rep.ReadersFailed)
	p("\n%-24s %7s %9s %9s %9s %9s %9s\n", "(ms)", "count", "min", "p50", "p95", "p99", "max")
	row := func(name string, s stats.Summary) {
		if s.Count == 0 {
			return
		}
		p("%-24s %7d %9.1f %9.1f %9.1f %9.1f %9.1f\n", name, s.Count, s.Min, s.P50, s.P95, s.P99, s.Max)
	}
	row("allocation", rep.Allocation)
	row("websocket open", rep.WSConnect)
	row("join round trip", rep.Join)
	row("publish round trip", rep.Publish)
	row("subscribe round trip", rep.Subscribe)
	row("play connect", rep.PlayConnect)
	row("first frame", rep.FirstFrame)
	row("end-to-end latency", rep.Latency)
	row("audio end-to-end latency", rep.AudioLatency)
	p("  first frame: play URL in hand (subscribe reply; connect start in media-only and WHEP) -> first keyframe with SPS/PPS\n")
	p("  latency: publisher's stamp -> reader's receipt, for frames published after the reader started\n")
	if rep.Stream.Audio {
		p("  audio latency: AAC frame's send time, estimated from the last stamped video frame and the shared timestamps\n")
		p("    (within about 1 ms) -> reader's receipt; RTMP and HTTP-FLV readers only (WHEP's RTP audio and video clocks are unrelated)\n")
	}
	k := rep.ReaderKbps
	p("\ndelivered bitrate per reader (kbit/s): min %.0f  p5 %.0f  p50 %.0f  mean %.0f  max %.0f  (published %.0f)\n",
		k.Min, k.P5, k.P50, k.Mean, k.Max, rep.PublishedKbps)
	d := rep.Drops
	p("frame drops: %d of %d frames (%.3f%%), %d readers with drops, at most %d in one reader",
		d.Total, d.FramesExpected, 100*d.Ratio, d.ReadersWithDrops, d.MaxPerReader)
	if d.Reordered > 0 || d.Unstamped > 0 {
		p("; %d repeated/reordered, %d without stamp", d.Reordered, d.Unstamped)
	}
	p("\n")
	if d.BenchUDPDrops != nil && (*d.BenchUDPDrops > 0 || rep.Proto == ProtoWHEP) {
		p("  datagrams the kernel dropped at the bench's own UDP sockets (receive buffers full: the WHEP clients did not keep up): %d\n",
			*d.BenchUDPDrops)
	}
	if len(rep.ByProto) > 0 {
		p("\nby protocol     readers playing failed  first frame p50/p95/p99 ms  latency p50/p99 ms  audio p50/p99 ms  kbit/s p50 (min)  drops\n")
		for _, b := range rep.ByProto {
			audio := fmt.Sprintf("%8s %8s", "-", "-") // WHEP, or no audio
			if b.AudioLatency.Count > 0 {
				audio = fmt.Sprintf("%8.1f %8.1f", b.AudioLatency.P50, b.AudioLatency.P99)
			}
			p("  %-12s %7d %7d %6d  %8.1f %8.1f %8.1f  %8.1f %8.1f %s  %8.0f (%4.0f)  %d of %d\n", b.Proto, b.Readers, b.Playing, b.Failed,
				b.FirstFrame.P50, b.FirstFrame.P95, b.FirstFrame.P99, b.Latency.P50, b.Latency.P99, audio, b.Kbps.P50, b.Kbps.Min, b.Drops, b.FramesExpected)
		}
	}
	if s := rep.Server; s != nil {
		p("server pid %d: cpu avg %.0f%%, during hold %.0f%%, max %.0f%% (100%% = one core); rss max %.0f MB, end %.0f MB\n",
			s.PID, s.CPUAvg, s.CPUHold, s.CPUMax, s.RSSMaxMB, s.RSSEndMB)
		if s.LostError != "" {
			p("  server process lost: %s\n", s.LostError)
		}
	}
	if s := rep.Server; s != nil && s.CPUHold > 0 && rep.ReadersSurvived > 0 {
		per100 := s.CPUHold / float64(rep.ReadersSurvived) * 100
		kind := rep.Proto + " readers"
		if len(rep.ByProto) > 0 {
			kind = "readers of all protocols together"
		}
		p("  per 100 %s during hold: %.2f%% of a core (%.0f kbit/s each) -> ~%.0f per core\n",
			kind, per100, rep.ReaderKbps.P50, 100*100/per100)
	}
	b := rep.Bench
	p("bench itself: cpu avg %.0f%%, during hold %.0f%%, max %.0f%%; rss max %.0f MB\n", b.CPUAvg, b.CPUHold, b.CPUMax, b.RSSMaxMB)
	p("load average (1 min): %.2f at the start, %.2f at the end; cpu figures are process cpu time from /proc\n", rep.LoadAvg[0], rep.LoadAvg[1])
	if tl := rep.Timeline; len(tl) > 0 {
		p("\ntimeline %8s %7s %7s %9s %6s %10s %10s %9s\n", "t (s)", "readers", "playing", "in Mbit/s", "drops", "server cpu", "server rss", "bench cpu")
		step := max(1, (len(tl)+11)/12) // at most about a dozen rows
		for i := 0; i < len(tl); i += step {
			q := tl[i]
			if i+step >= len(tl) {
				q = tl[len(tl)-1]
			}
			srv := "         -          -"
			if rep.Server != nil && !q.ServerGone {
				srv = fmt.Sprintf("%9.0f%% %7.0f MB", q.ServerCPU, q.ServerRSS)
			}
			p("  %-6s %8.1f %7d %7d %9.1f %6d %s %8.0f%%\n", q.Phase, q.T, q.Readers, q.Playing, q.InKbps/1000, q.Drops, srv, q.BenchCPU)
		}
	}
	if len(rep.Errors) > 0 {
		p("\nerrors (users):\n")
		keys := slices.Sorted(maps.Keys(rep.Errors))
		slices.SortStableFunc(keys, func(a, b string) int { return rep.Errors[b] - rep.Errors[a] })
		for _, k := range keys {
			p("  %5d  %s\n", rep.Errors[k], strings.TrimSpace(k))
		}
	}
}

// writeJoins writes the summary of a join-rate run.
func (rep *Report) writeJoins(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	j := rep.Joins
	p("minirtc bench: join rate, %s\n", rep.Target)
	p("run: %.1f s, steps of %.0f s; a user: allocation + WebSocket open + join (as audience), stays until the step ends\n",
		rep.DurationS, j.StepS)
	if rep.Interrupted {
		p("INTERRUPTED\n")
	}
	p("\n%9s %6s %6s %6s %9s %9s %9s %9s %9s %9s %9s %10s %10s  %s\n", "target/s", "users", "joined", "failed", "achieved",
		"join p50", "join p99", "alloc p99", "ws p99", "rtt p50", "rtt p99", "server cpu", "bench cpu", "ok")
	for _, s := range j.Steps {
		cpu := "-"
		if s.ServerCPU > 0 {
			cpu = fmt.Sprintf("%.0f%%", s.ServerCPU)
		}
		ok := "yes"
		if !s.OK {
			ok = "no"
		}
		p("%9.0f %6d %6d %6d %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %10s %9.0f%%  %s\n", s.TargetRate, s.Users, s.Joined, s.Failed,
			s.AchievedRate, s.Join.P50, s.Join.P99, s.Allocation.P99, s.WSConnect.P99, s.JoinRTT.P50, s.JoinRTT.P99, cpu, s.BenchCPU, ok)
	}
	p("  (ms) join: user start -> join reply = allocation + WebSocket open + join rtt (request -> reply); cpu: process cpu time per second\n")
	p("  ok: p99 join <= %.0f ms, <= 1%% failed, >= 90%% of the rate\n", j.P99Max)
	if j.MaxRate > 0 {
		p("maximum join rate within the limit: %.0f joins/s\n", j.MaxRate)
	} else {
		p("no step stayed within the limit\n")
	}
	b := rep.Bench
	p("bench itself: cpu avg %.0f%%, max %.0f%%; rss max %.0f MB\n", b.CPUAvg, b.CPUMax, b.RSSMaxMB)
	if s := rep.Server; s != nil {
		p("server pid %d: rss max %.0f MB\n", s.PID, s.RSSMaxMB)
	}
	p("load average (1 min): %.2f at the start, %.2f at the end\n", rep.LoadAvg[0], rep.LoadAvg[1])
	errs := map[string]int{}
	for _, s := range j.Steps {
		for k, v := range s.Errors {
			errs[k] += v
		}
	}
	if len(errs) > 0 {
		p("\nerrors (users):\n")
		keys := slices.Sorted(maps.Keys(errs))
		slices.SortStableFunc(keys, func(a, b string) int { return errs[b] - errs[a] })
		for _, k := range keys {
			p("  %5d  %s\n", errs[k], k)
		}
	}
}

// redactQuery drops a URL's query (tokens, signatures) from what reports
// print: "rtmp://h/live/s?token=..." becomes "rtmp://h/live/s?…".
func redactQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}
