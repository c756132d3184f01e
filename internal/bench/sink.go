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

	// Audio end-to-end latency (RTMP and HTTP-FLV readers). Audio frames
	// carry no stamp; their send time is estimated from the stream's
	// timeline, which audio and video share as the reader receives it (a
	// server may rebase timestamps, but by one offset for both kinds). The
	// most recent stamped video frame, timestamp clockTS and send time
	// clockSent, maps a timestamp t to the publisher's clock:
	// sent(t) = clockSent + (t - clockTS). See audio for the error.
	clockTS      time.Duration
	clockSent    time.Time
	haveClock    bool
	audioLatency stats.Histogram
}

// noTS is the timestamp of a frame whose protocol gives none on a timeline
// shared by audio and video: WHEP readers get RTP, whose audio and video
// clocks have unrelated origins (mapping them needs RTCP sender reports),
// so they measure no audio latency.
const noTS time.Duration = -1

func newSink(start time.Time) *sink { return &sink{start: start} }

// config records an out-of-band decoder configuration (RTMP/FLV AVC
// sequence header) that carried both parameter sets.
func (s *sink) config() { s.haveSPS, s.havePPS = true, true }

// video accounts for one AVCC access unit received at now. ts is its
// timestamp on the stream's timeline (RTMP message / FLV tag timestamp, the
// DTS), or noTS.
func (s *sink) video(au []byte, payloadBytes int, ts time.Duration, now time.Time) {
	s.bytes.Add(int64(payloadBytes))
	st, stamped, info := synth.ParseStampAVCC(au)
	if stamped && ts >= 0 {
		s.clockTS, s.clockSent, s.haveClock = ts, st.Sent, true
	}
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

// audio accounts for one audio access unit (not a sequence header)
// received at now, with its timestamp ts on the stream's timeline or noTS.
//
// Its latency is receipt time minus its estimated send time, from the most
// recent stamped video frame (see sink.clockTS); audio before the reader's
// first stamped video frame has no estimate and is not counted. The
// estimate holds because the publisher (publishRTMP) sleeps until each
// frame is due at start + its timestamp and writes it then: a video frame
// stamped Sv with timestamp tv was written at start + tv + its lateness, so
// Sv - tv = start + lateness, and an audio frame is estimated to have been
// sent at start + ta + that video frame's lateness. Its error:
//   - RTMP/FLV timestamps are whole milliseconds (the publisher's RTMP
//     writer truncates): the 1024-sample AAC frames (21.33 ms at 48 kHz)
//     lose up to 1 ms, which overstates their latency by 0 to 1 ms (1/3 ms
//     on average); video timestamps lose up to 1 ms too when the frame
//     interval is not a whole millisecond (15 or 30 fps, not 25), which
//     understates it. The estimate is within ±1 ms;
//   - the two frames' lateness differs: timer wake-up jitter, normally
//     well under a millisecond, more when the bench is short of CPU (the
//     report's publisher_late_frames counts frames more than a frame
//     interval late).
//
// As for video, frames estimated to have been sent before the reader
// started (a server's cache) are not counted.
func (s *sink) audio(payloadBytes int, ts time.Duration, now time.Time) {
	s.bytes.Add(int64(payloadBytes))
	if s.playing.Load() {
		s.audioFrames.Add(1)
	}
	if !s.haveClock || ts < 0 {
		return
	}
	sent := s.clockSent.Add(ts - s.clockTS)
	if !sent.Before(s.start) {
		s.audioLatency.Add(now.Sub(sent))
	}
}
