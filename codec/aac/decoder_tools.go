package aac

import "math"

// reconstruct dequantizes cs.q into cs.spec (§4.6.1.3: sign(q)*|q|^(4/3)
// times 2^((sf-100)/4)) and fills PNS bands with scaled noise (§4.6.13).
func (d *Decoder) reconstruct(cs *channelStream) {
	info := &cs.info
	clear(cs.spec[:])
	pow43 := &d.tab.pow43
	win := 0
	for g := range info.numGroups {
		base := g * maxBandsPerWin
		for sfb := range info.maxSfb {
			bt := cs.bandType[base+sfb]
			lo, hi := int(info.swb[sfb]), int(info.swb[sfb+1])
			switch bt {
			case zeroHCB, intensityHCB, intensityHCB2:
				// Zero, or filled in from the left channel by stereo().
			case noiseHCB:
				d.stats.pnsBands++
				amp := math.Exp2(0.25 * float64(clampInt(int(cs.bandVal[base+sfb]), -100, 155)))
				for j := range info.groupLen[g] {
					d.fillNoise(cs.spec[(win+j)*shortLines+lo:(win+j)*shortLines+hi], amp)
				}
			default:
				gain := d.tab.sfGain[cs.bandVal[base+sfb]]
				for j := range info.groupLen[g] {
					off := (win + j) * shortLines
					q := cs.q[off+lo : off+hi]
					s := cs.spec[off+lo : off+hi]
					s = s[:len(q)]
					for i, v := range q {
						if v == 0 {
							continue
						}
						m := v >> 31
						a := min((v^m)-m, maxPow43) // |v|
						s[i] = math.Copysign(pow43[a]*gain, float64(v))
					}
				}
			}
		}
		win += info.groupLen[g]
	}
}

// fillNoise writes uniform noise with total energy amp^2 into s.
func (d *Decoder) fillNoise(s []float64, amp float64) {
	energy := 0.0
	x := d.rng
	for i := range s {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		v := float64(int32(x))
		s[i] = v
		energy += v * v
	}
	d.rng = x
	if energy == 0 {
		return
	}
	scale := amp / math.Sqrt(energy)
	for i := range s {
		s[i] *= scale
	}
}

func clampInt(v, lo, hi int) int { return max(lo, min(v, hi)) }

// stereo applies M/S (§4.6.8.1) and intensity stereo (§4.6.8.2) to a
// channel pair.
func (d *Decoder) stereo(left, right *channelStream) {
	info := &right.info
	win := 0
	for g := range info.numGroups {
		base := g * maxBandsPerWin
		for sfb := range info.maxSfb {
			lo, hi := int(info.swb[sfb]), int(info.swb[sfb+1])
			bl, br := left.bandType[base+sfb], right.bandType[base+sfb]
			ms := d.msMode != 0 && d.msUsed[base+sfb]
			switch {
			case br == intensityHCB || br == intensityHCB2:
				d.stats.isBands++
				scale := math.Exp2(-0.25 * float64(clampInt(int(right.bandVal[base+sfb]), -155, 100)))
				if br == intensityHCB2 {
					scale = -scale
				}
				if ms {
					// ms_used inverts the intensity sign. Like FFmpeg we also
					// do so under ms_mask_present == 2 (all bands used).
					scale = -scale
				}
				for j := range info.groupLen[g] {
					off := (win + j) * shortLines
					l := left.spec[off+lo : off+hi]
					r := right.spec[off+lo : off+hi]
					for i := range r {
						r[i] = l[i] * scale
					}
				}
			case ms && bl == noiseHCB && br == noiseHCB:
				// Both channels are noise and M/S is on: the right channel
				// reuses the left's random vector at its own energy (§4.6.13.3).
				ratio := math.Exp2(0.25 * float64(clampInt(int(right.bandVal[base+sfb]), -100, 155)-clampInt(int(left.bandVal[base+sfb]), -100, 155)))
				for j := range info.groupLen[g] {
					off := (win + j) * shortLines
					l := left.spec[off+lo : off+hi]
					r := right.spec[off+lo : off+hi]
					for i := range r {
						r[i] = l[i] * ratio
					}
				}
			case ms && bl < noiseHCB && br < noiseHCB:
				d.stats.msBands++
				for j := range info.groupLen[g] {
					off := (win + j) * shortLines
					l := left.spec[off+lo : off+hi]
					r := right.spec[off+lo : off+hi]
					for i := range r {
						m, s := l[i], r[i]
						l[i], r[i] = m+s, m-s
					}
				}
			}
		}
		win += info.groupLen[g]
	}
}

// applyTNS runs the TNS synthesis (all-pole) filters over cs.spec (§4.6.9.3).
func (d *Decoder) applyTNS(cs *channelStream) {
	d.tnsFilters(&cs.info, &cs.tnsNFilt, &cs.tns, cs.spec[:], false)
}

// tnsFilters runs the TNS filters of one channel stream over spec: the
// decoder's all-pole filters, or with analysis their exact inverse (the
// encoder's all-zero filters).
func (d *Decoder) tnsFilters(info *icsInfo, nFilt *[maxWindows]int, filters *[maxWindows][maxTNSFilters]tnsFilter, spec []float64, analysis bool) {
	tnsMax := d.tnsMaxLong
	if info.seq == eightShortSequence {
		tnsMax = d.tnsMaxShort
	}
	lim := min(tnsMax, info.maxSfb)
	var lpc [maxTNSOrderLC + 1]float64
	var tmp [maxTNSOrderLC + 1]float64
	for w := range info.numWindows {
		s := spec[w*shortLines:]
		top := info.numSwb
		for f := range nFilt[w] {
			flt := &filters[w][f]
			bottom := max(top-flt.length, 0)
			p := flt.order
			start := int(info.swb[min(bottom, lim)])
			end := int(info.swb[min(top, lim)])
			top = bottom
			if p == 0 || end <= start {
				continue
			}
			d.stats.tnsFilter++
			// Reflection coefficients to direct-form LPC, a[0] = 1.
			lpc[0] = 1
			for m := 1; m <= p; m++ {
				k := flt.refl[m-1]
				for i := 1; i < m; i++ {
					tmp[i] = lpc[i] + k*lpc[m-i]
				}
				copy(lpc[1:m], tmp[1:m])
				lpc[m] = k
			}
			a := lpc[1 : p+1]
			switch {
			case !analysis && !flt.down:
				for n := start; n < end; n++ {
					v := s[n]
					for i := 0; i < p && n-1-i >= start; i++ {
						v -= a[i] * s[n-1-i]
					}
					s[n] = v
				}
			case !analysis:
				for n := end - 1; n >= start; n-- {
					v := s[n]
					for i := 0; i < p && n+1+i < end; i++ {
						v -= a[i] * s[n+1+i]
					}
					s[n] = v
				}
			case !flt.down:
				// FIR on the unfiltered past: run backwards so it is intact.
				for n := end - 1; n >= start; n-- {
					v := s[n]
					for i := 0; i < p && n-1-i >= start; i++ {
						v += a[i] * s[n-1-i]
					}
					s[n] = v
				}
			default:
				for n := start; n < end; n++ {
					v := s[n]
					for i := 0; i < p && n+1+i < end; i++ {
						v += a[i] * s[n+1+i]
					}
					s[n] = v
				}
			}
		}
	}
}

// synthesize runs the IMDCT, windowing and overlap-add of one channel
// (§4.6.11) and writes 1024 samples to out[n*channels+ch].
func (d *Decoder) synthesize(cs *channelStream, st *channelState, out []float32, ch int) {
	info := &cs.info
	prev, cur := st.prevShape, info.shape
	buf := &d.buf
	lw := &d.tab.long
	sw := &d.tab.short
	if cur == kbdShape {
		d.stats.kbdFrames++
	}
	switch info.seq {
	case eightShortSequence:
		d.stats.shortFrames++
		clear(buf[:])
		y := d.tmp[:shortWindowLen]
		for w := range maxWindows {
			d.short.transform(cs.spec[w*shortLines:(w+1)*shortLines], y)
			rise := &sw[cur]
			if w == 0 {
				rise = &sw[prev]
			}
			fall := &sw[cur]
			o := buf[448+w*shortLines:]
			for n := range shortLines {
				o[n] += y[n] * rise[n]
			}
			for n := shortLines; n < shortWindowLen; n++ {
				o[n] += y[n] * fall[n]
			}
		}
	default:
		d.long.transform(cs.spec[:], buf[:])
		if info.seq == longStopSequence {
			clear(buf[:448])
			s := &sw[prev]
			for n := 448; n < 576; n++ {
				buf[n] *= s[n-448]
			}
		} else {
			l := &lw[prev]
			for n := range FrameLength {
				buf[n] *= l[n]
			}
		}
		if info.seq == longStartSequence {
			s := &sw[cur]
			for n := 1472; n < 1600; n++ {
				buf[n] *= s[n-1344]
			}
			clear(buf[1600:])
		} else {
			l := &lw[cur]
			for n := FrameLength; n < longWindowLen; n++ {
				buf[n] *= l[n]
			}
		}
	}
	nch := d.channels
	for n := range FrameLength {
		out[n*nch+ch] = float32((buf[n] + st.overlap[n]) * pcmScale)
	}
	copy(st.overlap[:], buf[FrameLength:])
	st.prevShape = cur
}
