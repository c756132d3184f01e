package transcode

import (
	"math"
	"testing"
	"time"

	"github.com/minirtc/minirtc/codec/aac"
	"github.com/thesyncim/gopus"
)

// sine returns n interleaved frames of a tone at freq Hz, amplitude amp.
func sine(n, rate, channels int, freq, amp float64, start int) []float32 {
	out := make([]float32, n*channels)
	for i := 0; i < n; i++ {
		v := float32(amp * math.Sin(2*math.Pi*freq*float64(start+i)/float64(rate)))
		for c := 0; c < channels; c++ {
			out[i*channels+c] = v
		}
	}
	return out
}

// toneStats measures the dominant frequency (by zero crossings) and the RMS
// of the first channel of interleaved pcm.
func toneStats(pcm []float32, rate, channels int) (freq, rms float64) {
	n := len(pcm) / channels
	crossings := 0
	first, last := -1, -1
	var sum float64
	for i := 0; i < n; i++ {
		v := float64(pcm[i*channels])
		sum += v * v
		if i > 0 && pcm[(i-1)*channels] < 0 && pcm[i*channels] >= 0 {
			if first < 0 {
				first = i
			} else {
				crossings++
			}
			last = i
		}
	}
	if crossings == 0 {
		return 0, math.Sqrt(sum / float64(n))
	}
	return float64(crossings) * float64(rate) / float64(last-first), math.Sqrt(sum / float64(n))
}

func TestResamplerKeepsFrequencyAndLevel(t *testing.T) {
	cases := []struct {
		in, out, ch int
		freq        float64
	}{
		{44100, 48000, 1, 1000},
		{16000, 48000, 1, 440},
		{22050, 48000, 2, 700},
		{48000, 44100, 1, 1000},
		{32000, 48000, 2, 3000},
		{48000, 48000, 1, 1000},
	}
	for _, c := range cases {
		r, err := NewResampler(c.in, c.out, c.ch)
		if err != nil {
			t.Fatal(err)
		}
		var out []float32
		// Feed in odd-sized chunks to exercise the streaming state.
		total := c.in // one second
		for pos := 0; pos < total; {
			n := min(333, total-pos)
			out = r.Process(out, sine(n, c.in, c.ch, c.freq, 0.5, pos))
			pos += n
		}
		frames := len(out) / c.ch
		if d := frames - c.out; d > resampleHalfTaps*2 || d < -resampleHalfTaps*2*c.out/c.in-2 {
			t.Errorf("%d->%d: %d output frames for one second", c.in, c.out, frames)
		}
		skip := 64 * c.ch
		f, rms := toneStats(out[skip:], c.out, c.ch)
		if math.Abs(f-c.freq) > c.freq*0.005 {
			t.Errorf("%d->%d: frequency %.1f, want %.1f", c.in, c.out, f, c.freq)
		}
		if want := 0.5 / math.Sqrt2; math.Abs(rms-want) > 0.02 {
			t.Errorf("%d->%d: rms %.3f, want %.3f", c.in, c.out, rms, want)
		}
		if c.ch == 2 {
			for i := skip; i < len(out); i += 2 {
				if out[i] != out[i+1] {
					t.Fatalf("%d->%d: channels differ at %d", c.in, c.out, i)
				}
			}
		}
	}
}

func TestResamplerRejectsBadRates(t *testing.T) {
	for _, c := range [][3]int{{0, 48000, 1}, {44100, -1, 1}, {44100, 48000, 0}, {44101, 48000, 1}} {
		if _, err := NewResampler(c[0], c[1], c[2]); err == nil {
			t.Errorf("NewResampler(%v) accepted", c)
		}
	}
}

// encodeAAC makes AAC access units of a tone.
func encodeAAC(t testing.TB, rate, ch int, freq float64, seconds float64) (asc []byte, aus [][]byte) {
	t.Helper()
	enc, err := aac.NewEncoder(aac.EncoderConfig{SampleRate: rate, Channels: ch, Bitrate: 64000 * ch})
	if err != nil {
		t.Fatal(err)
	}
	n := int(float64(rate) * seconds)
	got, err := enc.Encode(sine(n, rate, ch, freq, 0.4, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range got {
		aus = append(aus, append([]byte(nil), au...))
	}
	return enc.AudioSpecificConfig(), aus
}

func TestAACToOpusTone(t *testing.T) {
	cases := []struct {
		rate, ch int
		freq     float64
	}{
		{44100, 1, 1000},
		{48000, 2, 440},
		{16000, 1, 600},
	}
	for _, c := range cases {
		asc, aus := encodeAAC(t, c.rate, c.ch, c.freq, 2)
		tr, err := NewAACToOpus(asc, AACToOpusConfig{})
		if err != nil {
			t.Fatal(err)
		}
		var frames []Frame
		for i, au := range aus {
			pts := samplesDur(i*aac.FrameLength, c.rate) + 5*time.Second
			frames, err = tr.Push(frames, au, pts)
			if err != nil {
				t.Fatal(err)
			}
		}
		wantFrames := int(2*time.Second/OpusFrame) - 8
		if len(frames) < wantFrames {
			t.Fatalf("%d Hz: %d Opus frames, want >= %d", c.rate, len(frames), wantFrames)
		}
		for i := 1; i < len(frames); i++ {
			if d := frames[i].PTS - frames[i-1].PTS; d != OpusFrame {
				t.Fatalf("%d Hz: frame %d step %v", c.rate, i, d)
			}
		}
		if frames[0].PTS != 5*time.Second {
			t.Errorf("first Opus frame at %v, want 5s", frames[0].PTS)
		}
		dec, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(48000, 2))
		if err != nil {
			t.Fatal(err)
		}
		var pcm []float32
		buf := make([]float32, 5760*2)
		for _, f := range frames {
			n, err := dec.Decode(f.Payload, buf)
			if err != nil {
				t.Fatal(err)
			}
			pcm = append(pcm, buf[:n*2]...)
		}
		f, rms := toneStats(pcm[len(pcm)/4:], 48000, 2)
		if math.Abs(f-c.freq) > c.freq*0.01 {
			t.Errorf("%d Hz AAC -> Opus: tone at %.1f Hz, want %.1f", c.rate, f, c.freq)
		}
		if rms < 0.15 {
			t.Errorf("%d Hz AAC -> Opus: rms %.3f, tone lost", c.rate, rms)
		}
	}
}

func TestAACToOpusResyncsOnJump(t *testing.T) {
	asc, aus := encodeAAC(t, 48000, 1, 500, 0.5)
	tr, err := NewAACToOpus(asc, AACToOpusConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var frames []Frame
	for i, au := range aus {
		pts := samplesDur(i*aac.FrameLength, 48000)
		if i >= len(aus)/2 {
			pts += 10 * time.Second
		}
		if frames, err = tr.Push(frames, au, pts); err != nil {
			t.Fatal(err)
		}
	}
	jumped := false
	for i := 1; i < len(frames); i++ {
		d := frames[i].PTS - frames[i-1].PTS
		if d > time.Second {
			jumped = true
		} else if d != OpusFrame {
			t.Fatalf("step %v at %d", d, i)
		}
	}
	if !jumped {
		t.Fatal("timeline did not follow the jump")
	}
	if _, err := tr.Push(nil, []byte{0xff, 0xff, 0xff}, 11*time.Second); err == nil {
		t.Error("corrupt access unit accepted")
	}
}

func encodeOpus(t testing.TB, ch int, freq float64, seconds float64) [][]byte {
	t.Helper()
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: 48000, Channels: ch, Application: gopus.ApplicationAudio})
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	buf := make([]byte, 4000)
	for pos := 0; pos < int(48000*seconds); pos += 960 {
		n, err := enc.Encode(sine(960, 48000, ch, freq, 0.4, pos), buf)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, append([]byte(nil), buf[:n]...))
	}
	return pkts
}

func TestOpusToAACTone(t *testing.T) {
	for _, ch := range []int{1, 2} {
		pkts := encodeOpus(t, 2, 880, 2)
		tr, err := NewOpusToAAC(OpusToAACConfig{Channels: ch})
		if err != nil {
			t.Fatal(err)
		}
		var aus []Frame
		for i, p := range pkts {
			if i == 30 || i == 31 {
				continue // lost packets: concealed
			}
			if aus, err = tr.Push(aus, p, time.Duration(i)*OpusFrame+time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		want := 2*48000/aac.FrameLength - 3
		if len(aus) < want {
			t.Fatalf("%d AAC access units, want >= %d", len(aus), want)
		}
		step := samplesDur(aac.FrameLength, 48000)
		for i := 1; i < len(aus); i++ {
			if d := aus[i].PTS - aus[i-1].PTS; d != step {
				t.Fatalf("access unit %d step %v", i, d)
			}
		}
		dec, err := aac.NewDecoder(tr.AudioSpecificConfig())
		if err != nil {
			t.Fatal(err)
		}
		if got := dec.Config(); got.SampleRate != 48000 || got.Channels != ch {
			t.Fatalf("config %+v", got)
		}
		var pcm []float32
		for _, au := range aus {
			out, err := dec.Decode(au.Payload)
			if err != nil {
				t.Fatal(err)
			}
			pcm = append(pcm, out...)
		}
		f, rms := toneStats(pcm[len(pcm)/2:], 48000, ch)
		if math.Abs(f-880) > 9 {
			t.Errorf("%d ch: tone at %.1f Hz, want 880", ch, f)
		}
		if rms < 0.15 {
			t.Errorf("%d ch: rms %.3f, tone lost", ch, rms)
		}
	}
}

func BenchmarkAACToOpus(b *testing.B) {
	for _, rate := range []int{44100, 48000} {
		b.Run(rateName(rate), func(b *testing.B) {
			asc, aus := encodeAAC(b, rate, 1, 440, 2)
			tr, err := NewAACToOpus(asc, AACToOpusConfig{})
			if err != nil {
				b.Fatal(err)
			}
			var frames []Frame
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				frames, err = tr.Push(frames[:0], aus[i%len(aus)], samplesDur(i*aac.FrameLength, rate))
				if err != nil {
					b.Fatal(err)
				}
			}
			// One op is one AAC access unit; report streams per core.
			perAU := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(aac.FrameLength)/float64(rate)/perAU, "streams/core")
		})
	}
}

func BenchmarkOpusToAAC(b *testing.B) {
	pkts := encodeOpus(b, 1, 440, 2)
	tr, err := NewOpusToAAC(OpusToAACConfig{})
	if err != nil {
		b.Fatal(err)
	}
	var aus []Frame
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		aus, err = tr.Push(aus[:0], pkts[i%len(pkts)], time.Duration(i)*OpusFrame)
		if err != nil {
			b.Fatal(err)
		}
	}
	perPkt := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(OpusFrame.Seconds()/perPkt, "streams/core")
}

func BenchmarkResample44100To48000(b *testing.B) {
	r, _ := NewResampler(44100, 48000, 1)
	in := sine(1024, 44100, 1, 440, 0.5, 0)
	var out []float32
	for i := 0; i < b.N; i++ {
		out = r.Process(out[:0], in)
	}
}

func rateName(r int) string {
	if r == 44100 {
		return "44100Hz"
	}
	return "48000Hz"
}
