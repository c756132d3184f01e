package transcode

import (
	"fmt"
	"math"
)

// resampleHalfTaps is the number of input samples on each side of an output
// instant that the interpolation filter looks at. 16 taps with a Blackman
// window keep aliasing and imaging well below what an AAC or Opus coder at
// voice bitrates preserves, at a cost of 16 multiply-adds per output sample.
const resampleHalfTaps = 8

// Resampler converts interleaved float32 PCM from one sample rate to another.
// It is a polyphase filter: the ratio out/in is reduced to L/M, and the L
// filter phases are computed once. The output is aligned with the input in
// time (output sample n stands for input time n*in/out); the converter holds
// back resampleHalfTaps input samples until their right-hand neighbours
// arrive, which is its latency (0.5 ms at 16 kHz, 0.2 ms at 44.1 kHz).
type Resampler struct {
	in, out, channels int
	l, m              int       // out/in = l/m, reduced
	coef              []float32 // l phases x 2*resampleHalfTaps taps
	buf               []float32 // pending input, interleaved
	pos               int       // index (in sample frames) into buf of the current output instant
	phase             int       // 0..l-1: sub-sample position of the current output instant
}

// NewResampler returns a converter from inRate to outRate for the given
// number of interleaved channels.
func NewResampler(inRate, outRate, channels int) (*Resampler, error) {
	if inRate <= 0 || outRate <= 0 || inRate > 384000 || outRate > 384000 {
		return nil, fmt.Errorf("transcode: resample %d -> %d Hz: rate out of range", inRate, outRate)
	}
	if channels < 1 || channels > 8 {
		return nil, fmt.Errorf("transcode: resample: %d channels", channels)
	}
	g := gcd(inRate, outRate)
	r := &Resampler{in: inRate, out: outRate, channels: channels, l: outRate / g, m: inRate / g}
	if r.l > 4096 {
		return nil, fmt.Errorf("transcode: resample %d -> %d Hz: ratio %d/%d too fine", inRate, outRate, r.l, r.m)
	}
	if r.l == r.m {
		return r, nil
	}
	// Cut off just below the lower of the two Nyquist frequencies.
	cutoff := 0.92 * math.Min(1, float64(r.l)/float64(r.m))
	const taps = 2 * resampleHalfTaps
	r.coef = make([]float32, r.l*taps)
	for p := 0; p < r.l; p++ {
		frac := float64(p) / float64(r.l) // output instant lies frac after input sample 0
		var sum float64
		row := r.coef[p*taps : (p+1)*taps]
		for k := 0; k < taps; k++ {
			x := float64(k-resampleHalfTaps+1) - frac // distance from the output instant, input samples
			w := blackman((x + resampleHalfTaps) / (2 * resampleHalfTaps))
			v := cutoff * sinc(cutoff*x) * w
			row[k] = float32(v)
			sum += v
		}
		// Normalize each phase to unit DC gain so that phases do not ripple.
		for k := range row {
			row[k] = float32(float64(row[k]) / sum)
		}
	}
	// Start with resampleHalfTaps-1 samples of silence before the first
	// input sample, so that the first output instant is input time 0.
	r.buf = make([]float32, (resampleHalfTaps-1)*channels, 4096)
	r.pos = resampleHalfTaps - 1
	return r, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// blackman is the Blackman window on [0, 1] (0 outside).
func blackman(t float64) float64 {
	if t <= 0 || t >= 1 {
		return 0
	}
	return 0.42 - 0.5*math.Cos(2*math.Pi*t) + 0.08*math.Cos(4*math.Pi*t)
}

// InRate is the converter's input rate.
func (r *Resampler) InRate() int { return r.in }

// OutRate is the converter's output rate.
func (r *Resampler) OutRate() int { return r.out }

// Process appends to dst the output samples that in (interleaved) completes
// and returns the extended slice.
func (r *Resampler) Process(dst, in []float32) []float32 {
	if r.l == r.m {
		return append(dst, in...)
	}
	ch := r.channels
	r.buf = append(r.buf, in...)
	frames := len(r.buf) / ch
	const taps = 2 * resampleHalfTaps
	for r.pos+resampleHalfTaps < frames {
		row := r.coef[r.phase*taps : (r.phase+1)*taps]
		base := (r.pos - resampleHalfTaps + 1) * ch
		if ch == 1 {
			x := r.buf[base : base+taps]
			var acc float32
			for k, c := range row {
				acc += c * x[k]
			}
			dst = append(dst, acc)
		} else {
			for c := 0; c < ch; c++ {
				var acc float32
				idx := base + c
				for _, k := range row {
					acc += k * r.buf[idx]
					idx += ch
				}
				dst = append(dst, acc)
			}
		}
		r.phase += r.m
		for r.phase >= r.l {
			r.phase -= r.l
			r.pos++
		}
	}
	// Drop the input no future output instant can reach.
	if keep := r.pos - resampleHalfTaps + 1; keep > 0 {
		n := copy(r.buf, r.buf[keep*ch:])
		r.buf = r.buf[:n]
		r.pos -= keep
	}
	return dst
}

// Reset forgets the pending input (a discontinuity in the source).
func (r *Resampler) Reset() {
	if r.l == r.m {
		return
	}
	r.buf = r.buf[:(resampleHalfTaps-1)*r.channels]
	clear(r.buf)
	r.pos = resampleHalfTaps - 1
	r.phase = 0
}
