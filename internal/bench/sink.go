package bench

import (
	"sync/atomic"
	"time"

	"github.com/minirtc/minirtc/internal/bench/stats"
	"github.com/minirtc/minirtc/internal/bench/synth"
)

// sink accounts for what one reader receives. The reader goroutine calls
// video and audio; the sampler reads the atomic counters for the progress
// line; everything else is read by Run after the reader goroutine ended.
type sink struct {
	// start is when the reader was handed its play URL (subscribe reply, or
	// the start of the connection in media-only mode): first-frame time
	// and the latency cut-off count from here.
	start time.Time

	bytes       atomic.Int64 // media payload bytes (audio + video tag bodies)
	videoFrames atomic.Int64 // video access units after the first decodable one
	audioFrames atomic.Int64
	drops       atomic.Int64 // stamped frames missing from the sequence
	playing     atomic.Bool  // a decodable frame arrived

	haveSPS, havePPS bool
	firstFrame       time.Duration // start -> first decodable video frame
	firstFrameAt     time.Time
	lastSeq          uint64
	haveSeq          bool
	reordered        int64 // stamps at or below the last sequence number seen
	unstamped        int64 // video frames without our stamp
	latency          stats.Histogram
}

func newSink(start time.Time) *sink { return &sink{start: start} }

// config records an out-of-band decoder configuration (RTMP/FLV AVC
// sequence header) that carried both parameter sets.
func (s *sink) config() { s.haveSPS, s.havePPS = true, true }

// video accounts for one AVCC access unit received at now.
func (s *sink) video(au []byte, payloadBytes int, now time.Time) {
	s.bytes.Add(int64(payloadBytes))
	st, stamped, info := synth.ParseStampAVCC(au)
	s.haveSPS = s.haveSPS || info.SPS
	s.havePPS = s.havePPS || info.PPS
	if !s.playing.Load() {
		// Frames before the first decodable keyframe cannot be shown: they
		// count neither as frames nor for drops.
		if !info.IDR || !s.haveSPS || !s.havePPS {
			return
		}
		s.firstFrame = now.Sub(s.start)
		s.firstFrameAt = now
		s.playing.Store(true)
	}
	s.videoFrames.Add(1)
	if !stamped {
		s.unstamped++
		return
	}
	switch {
	case !s.haveSeq:
		s.haveSeq = true
	case st.Seq > s.lastSeq+1:
		s.drops.Add(int64(st.Seq - s.lastSeq - 1)) //nolint:gosec // G115: Seq counts frames the bench stamped itself from 0; a gap past 2^63 cannot occur
	case st.Seq <= s.lastSeq:
		s.reordered++
		return
	}
	s.lastSeq = st.Seq
	// Latency only for frames published after this reader started: frames
	// from a server's GOP cache are old by design and say nothing about
	// delivery delay.
	if !st.Sent.Before(s.start) {
		s.latency.Add(now.Sub(st.Sent))
	}
}

// audio accounts for one audio access unit.
func (s *sink) audio(payloadBytes int) {
	s.bytes.Add(int64(payloadBytes))
	if s.playing.Load() {
		s.audioFrames.Add(1)
	}
}
