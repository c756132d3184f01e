package aac

import "math"

// A deliberately small psychoacoustic model (the model is informative in
// ISO/IEC 14496-3; this one is our own). Per scalefactor band it computes
// the signal energy and an allowed noise energy ("threshold"):
//
//  1. band energies of the MDCT spectrum (summed over the windows of a group
//     for short blocks);
//  2. spreading across bands with the masking slopes of the ear, evaluated
//     on the Bark scale: a masker's energy decays by psySlopeUp dB per Bark
//     towards higher bands and by psySlopeDown dB per Bark towards lower
//     ones (max-of-contributions instead of a sum, which is cheaper and
//     keeps tonal peaks from inflating their neighbours);
//  3. a signal-to-mask offset that is larger for tonal bands (a peaky band
//     hides less noise than a noise-like one);
//  4. the absolute threshold of hearing as a floor.
//
// Only the shape of the thresholds across bands matters: the encoder blends
// it (in the log domain, weight encTuning.psyWeight) with a flat noise floor
// and its rate control then scales all thresholds by one common factor per
// frame. Used alone, the model's shape spends too many bits on the wide
// high bands at the bitrates we target; the blend beats both the model
// alone and flat noise on a noise-to-mask measure (TestEncodePsyBeatsFlat).

const (
	psySlopeUp   = 15.0 // dB per Bark, masking towards higher frequencies
	psySlopeDown = 27.0 // dB per Bark, masking towards lower frequencies
	psyNoiseSMR  = 6.0  // dB below the spread energy for noise-like bands
	psyToneSMR   = 18.0 // dB below the spread energy for tonal bands
	// psyFullScaleLine is the MDCT line energy of a full-scale sine in a long
	// window (amplitude 32768, window gain about 2048*2/pi, two lines),
	// which we take as 96 dB SPL for the hearing threshold.
	psyFullScaleLine = 1.1e15
)

// psyBands holds the per-band constants of one window length.
type psyBands struct {
	n    int
	off  []int     // band offsets within one window
	up   []float64 // spreading factor from band b-1 into band b
	down []float64 // spreading factor from band b+1 into band b
	ath  []float64 // hearing threshold energy of the band (one window)
	logW []float64 // log of the band width, for the tonality measure
}

func newPsyBands(off []int, sampleRate int, lines int) psyBands {
	n := len(off) - 1
	p := psyBands{
		n: n, off: off,
		up: make([]float64, n), down: make([]float64, n),
		ath: make([]float64, n), logW: make([]float64, n),
	}
	binHz := float64(sampleRate) / 2 / float64(lines)
	bark := make([]float64, n)
	// A long window has 8 times the lines of a short one: a sine's energy per
	// line scales with the square of the window length.
	scale := float64(lines) / 1024
	lineFS := psyFullScaleLine * scale * scale
	for b := 0; b < n; b++ {
		lo, hi := off[b], off[b+1]
		fc := (float64(lo+hi) / 2) * binHz
		bark[b] = hzToBark(fc)
		athMin := math.Inf(1)
		for k := lo; k < hi; k++ {
			f := math.Max((float64(k)+0.5)*binHz, 50)
			athMin = math.Min(athMin, athDB(f))
		}
		p.ath[b] = float64(hi-lo) * lineFS * math.Pow(10, (athMin-96)/10)
		p.logW[b] = math.Log(float64(hi - lo))
	}
	for b := 1; b < n; b++ {
		d := bark[b] - bark[b-1]
		p.up[b] = math.Pow(10, -psySlopeUp*d/10)
		p.down[b-1] = math.Pow(10, -psySlopeDown*d/10)
	}
	return p
}

// hzToBark is Traunmueller's approximation of the critical band rate.
func hzToBark(f float64) float64 { return 26.81*f/(1960+f) - 0.53 }

// athDB is Terhardt's absolute threshold of hearing in dB SPL.
func athDB(f float64) float64 {
	k := f / 1000
	return 3.64*math.Pow(k, -0.8) - 6.5*math.Exp(-0.6*(k-3.3)*(k-3.3)) + 1e-3*k*k*k*k
}

// analyze fills energy and thr for the bands of one window group: spec holds
// the group's windows one after another (natural order, stride `lines`),
// glen windows, and only bands below maxSfb are evaluated (the rest are cut
// by the bandwidth limit).
func (p *psyBands) analyze(spec []float64, lines, glen, maxSfb int, energy, thr []float64) {
	for b := 0; b < maxSfb; b++ {
		lo, hi := p.off[b], p.off[b+1]
		e, peak := 0.0, 0.0
		for w := 0; w < glen; w++ {
			for _, x := range spec[w*lines+lo : w*lines+hi] {
				x2 := x * x
				e += x2
				peak = max(peak, x2)
			}
		}
		energy[b] = e
		// Tonality from the peak-to-mean ratio of the band: about 1 for a
		// flat band, up to the band width for a single line.
		t := 0.0
		if e > 0 && hi-lo > 1 {
			mean := e / float64((hi-lo)*glen)
			t = math.Log(peak/mean) / p.logW[b]
			t = min(max(t*1.5-0.3, 0), 1)
		}
		smr := psyNoiseSMR + (psyToneSMR-psyNoiseSMR)*t
		thr[b] = e * math.Pow(10, -smr/10)
	}
	// Spreading, upwards then downwards, on the thresholds.
	for b := 1; b < maxSfb; b++ {
		thr[b] = max(thr[b], thr[b-1]*p.up[b])
	}
	for b := maxSfb - 2; b >= 0; b-- {
		thr[b] = max(thr[b], thr[b+1]*p.down[b])
	}
	for b := 0; b < maxSfb; b++ {
		thr[b] = max(thr[b], p.ath[b]*float64(glen))
	}
}
