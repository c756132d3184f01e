package bench

import (
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/bench/synth"
)

// TestSinkAudioLatency checks the audio latency estimate: a stamped video
// frame maps the stream's timeline to the publisher's clock, and each audio
// frame received afterwards is timed against the most recent mapping.
func TestSinkAudioLatency(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	// t0 is the reader's start; event times are offsets from it.
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type event struct {
		kind string        // "video" (stamped), "plain" (video without stamp), "audio"
		ts   time.Duration // timestamp on the reader's timeline, or noTS
		sent time.Duration // video: the stamp's send time, from t0
		recv time.Duration // receipt, from t0
	}
	v := func(ts, sent, recv int) event { return event{"video", ms(ts), ms(sent), ms(recv)} }
	a := func(ts, recv int) event { return event{kind: "audio", ts: ms(ts), recv: ms(recv)} }
	cases := []struct {
		name   string
		events []event
		want   []time.Duration // audio latencies counted
	}{
		{"audio waits for the next video frame", []event{
			v(1000, 100, 102),
			a(1021, 142), // sent at 121, held until the frame sent at 140: 21 ms
			v(1040, 140, 142),
			a(1042, 182), // sent at 142: 40 ms
			a(1064, 182), // sent at 164: 18 ms
			v(1080, 180, 182),
		}, []time.Duration{ms(21), ms(40), ms(18)}},
		{"audio before any video is not counted", []event{
			a(980, 90), a(1001, 101),
			v(1000, 100, 105),
			a(1021, 126), // 5 ms
		}, []time.Duration{ms(5)}},
		{"a video frame without stamp sets no mapping", []event{
			{kind: "plain", ts: ms(1000), recv: ms(101)},
			a(1021, 130),
		}, nil},
		{"the most recent video frame gives the mapping", []event{
			v(1000, 100, 101),
			v(1040, 143, 144), // written 3 ms late: the mapping moves with it
			a(1042, 150),      // estimated sent 145: 5 ms
		}, []time.Duration{ms(5)}},
		{"rebased timestamps: any common offset", []event{
			v(7, 100, 101),
			a(28, 130), // sent 121: 9 ms
		}, []time.Duration{ms(9)}},
		{"audio sent before the reader started (a cache) is not counted", []event{
			v(1000, -200, 20), // from the server's GOP cache
			a(1021, 21),       // sent at -179
			a(1201, 22),       // sent at 1: 21 ms
		}, []time.Duration{ms(21)}},
		{"no timestamps (WHEP): nothing counted", []event{
			{kind: "video", ts: noTS, sent: ms(100), recv: ms(101)},
			{kind: "audio", ts: noTS, recv: ms(130)},
		}, nil},
		{"video with a timestamp, audio without", []event{
			v(1000, 100, 101),
			{kind: "audio", ts: noTS, recv: ms(130)},
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vid, err := synth.NewVideo(synth.VideoConfig{Width: 32, Height: 32, FPS: 25, GOP: 25})
			if err != nil {
				t.Fatal(err)
			}
			s := newSink(t0)
			for _, e := range tc.events {
				switch e.kind {
				case "video":
					au := vid.Next(t0.Add(e.sent)).AppendAVCC(nil)
					s.video(au, len(au), e.ts, t0.Add(e.recv))
				case "plain":
					s.video(plainAU, len(plainAU), e.ts, t0.Add(e.recv))
				case "audio":
					s.audio(10, e.ts, t0.Add(e.recv))
				}
			}
			h := s.audioLatency
			if h.Count() != uint64(len(tc.want)) {
				t.Fatalf("%d audio latencies counted, want %d (%v)", h.Count(), len(tc.want), tc.want)
			}
			if len(tc.want) == 0 {
				return
			}
			// The histogram keeps the minimum and maximum exactly.
			sum := h.Summary()
			lo, hi := tc.want[0], tc.want[0]
			for _, w := range tc.want {
				lo, hi = min(lo, w), max(hi, w)
			}
			if sum.Min != float64(lo.Milliseconds()) || sum.Max != float64(hi.Milliseconds()) {
				t.Fatalf("audio latency min %v max %v ms, want %v and %v", sum.Min, sum.Max, lo, hi)
			}
		})
	}
}

// plainAU is an AVCC access unit with one non-IDR slice and no stamp.
var plainAU = []byte{0, 0, 0, 2, 0x41, 0x9a}
