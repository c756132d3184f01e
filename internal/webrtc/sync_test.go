package webrtc

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func TestSenderReportSync(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var s senderSync
	s.add(&rtcp.SenderReport{SSRC: 1, NTPTime: ntpTime(t0), RTPTime: 1000})                             // video
	s.add(&rtcp.SenderReport{SSRC: 2, NTPTime: ntpTime(t0.Add(100 * time.Millisecond)), RTPTime: 5000}) // audio
	s.add(&rtcp.SenderReport{SSRC: 3, NTPTime: ntpTime(t0.Add(time.Hour)), RTPTime: 0})                 // bogus

	video := tsClock{rate: 90000}
	audio := tsClock{rate: 48000}
	bogus := tsClock{rate: 48000}
	steps := []struct {
		name  string
		clock *tsClock
		ssrc  uint32
		ts    uint32
		since time.Duration
		want  time.Duration
	}{
		{"video anchors the clock", &video, 1, 1000, 0, 0},
		{"video follows its RTP clock", &video, 1, 1000 + 9000, 0, 100 * time.Millisecond},
		{"audio arrives 10 ms later but was captured 100 ms later", &audio, 2, 5000, 10 * time.Millisecond, 100 * time.Millisecond},
		{"audio follows its RTP clock", &audio, 2, 5000 + 480, 0, 110 * time.Millisecond},
		{"a bogus report is ignored", &bogus, 3, 0, 20 * time.Millisecond, 20 * time.Millisecond},
		{"unknown SSRC keeps arrival time", &tsClock{rate: 48000}, 9, 7, 30 * time.Millisecond, 30 * time.Millisecond},
	}
	for _, st := range steps {
		pts := st.clock.pts(st.ts, st.since)
		pts = st.clock.sync(&s, st.ssrc, st.ts, pts)
		if d := pts - st.want; d > time.Microsecond || d < -time.Microsecond {
			t.Errorf("%s: pts %v, want %v", st.name, pts, st.want)
		}
	}
}

func TestTSClockUnwraps(t *testing.T) {
	c := tsClock{rate: 90000}
	c.pts(0xffffff00, 0)
	if got := c.pts(0x00000100, 0); got != time.Duration(0x200)*time.Second/90000 {
		t.Fatalf("pts after wrap %v", got)
	}
}

// A publisher running for days: the clock follows the RTP timestamps one
// hour at a time (each step well under the int32 unwrap range) and must
// stay exact. ticks*time.Second overflowed int64 after 28.5 hours at
// 90 kHz (53 at 48 kHz) and the pts jumped back by about 213 days.
func TestTSClockLongSession(t *testing.T) {
	for _, rate := range []int64{90000, 48000} {
		c := tsClock{rate: rate}
		since := 5 * time.Second
		ts := uint32(0xfff00000)
		c.pts(ts, since)
		for h := 1; h <= 72; h++ {
			ts += uint32(rate * 3600)
			if got, want := c.pts(ts, 0), since+time.Duration(h)*time.Hour; got != want {
				t.Fatalf("rate %d: pts after %d hours %v, want %v", rate, h, got, want)
			}
		}
	}
}

// WHEP timestamps: rtpTicks is pts on the RTP clock modulo 2^32, exact for
// any pts (checked against math/big); around the old overflow point (2^63
// ns of ticks: 28.5 hours at 90 kHz, 53 at 48 kHz) one frame later is one
// frame of ticks later.
func TestRTPTicksLongStream(t *testing.T) {
	exact := func(d time.Duration, rate int64) uint32 {
		v := new(big.Int).Mul(big.NewInt(int64(d)), big.NewInt(rate))
		v.Quo(v, big.NewInt(int64(time.Second)))
		v.Mod(v, new(big.Int).Lsh(big.NewInt(1), 32))
		return uint32(v.Uint64())
	}
	cases := []struct {
		name  string
		rate  int64
		pts   time.Duration
		frame time.Duration
		ticks uint32 // ticks of one frame
	}{
		{"video at start", 90000, 0, 40 * time.Millisecond, 3600},
		{"video at 1 hour", 90000, time.Hour + 7*time.Millisecond, 40 * time.Millisecond, 3600},
		{"video at 28 hours", 90000, 28 * time.Hour, 40 * time.Millisecond, 3600},
		{"video at the old overflow", 90000, time.Duration(math.MaxInt64/90000) - 20*time.Millisecond, 40 * time.Millisecond, 3600},
		{"video at 30 hours", 90000, 30*time.Hour + 123*time.Millisecond, 40 * time.Millisecond, 3600},
		{"video at 10 days", 90000, 240 * time.Hour, 40 * time.Millisecond, 3600},
		{"audio at 52 hours", 48000, 52 * time.Hour, 20 * time.Millisecond, 960},
		{"audio at the old overflow", 48000, time.Duration(math.MaxInt64/48000) - 10*time.Millisecond, 20 * time.Millisecond, 960},
		{"audio at 60 hours", 48000, 60 * time.Hour, 20 * time.Millisecond, 960},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, d := range []time.Duration{tc.pts, tc.pts + tc.frame, tc.pts + 1, tc.pts + 999_999_999} {
				if got, want := rtpTicks(d, tc.rate), exact(d, tc.rate); got != want {
					t.Errorf("rtpTicks(%v, %d) = %d, want %d", d, tc.rate, got, want)
				}
			}
			if step := rtpTicks(tc.pts+tc.frame, tc.rate) - rtpTicks(tc.pts, tc.rate); step != tc.ticks {
				t.Errorf("one frame after %v: %d ticks, want %d", tc.pts, step, tc.ticks)
			}
		})
	}
}
