package webrtc

import (
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
