package aac

// Quantization, codebook sectioning and rate control of the encoder.
//
// For a frame, every band has a "base" scalefactor that puts its
// quantization noise at its allowed level (prepareQuant: the psychoacoustic
// threshold blended with a flat noise floor). The
// rate control adds one common offset to all of them (in scalefactor steps
// of 1.5 dB) and searches the smallest offset, i.e. the finest quantization,
// whose exact bit count fits the frame's budget. The budget is the mean
// bits per frame plus a share of the bit reservoir.

// quantizeBand quantizes one band with scalefactor sf into q and returns
// the largest magnitude.
func (e *Encoder) quantizeBand(cs *chanState, s, n, sf int) int32 {
	scale := e.quantScale[sf]
	var mx int32
	xp := cs.xpow[s : s+n]
	co := cs.coef[s : s+n]
	q := cs.q[s : s+n]
	for i, p := range xp {
		v := int32(min(p*scale+encQuantRound, encMaxQuant))
		mx = max(mx, v)
		if co[i] < 0 {
			v = -v
		}
		q[i] = v
	}
	return mx
}

// evalChannel quantizes channel cs with offset delta, chooses the
// codebooks and sections, and returns the exact number of bits of its
// individual_channel_stream without ics_info.
func (e *Encoder) evalChannel(cs *chanState, delta int) int {
	L := &e.lay
	hc := huffCosts()
	prev := -1
	first := -1
	for vb := 0; vb < L.nvb; vb++ {
		s, n := L.start[vb], L.width[vb]
		cost := &cs.cost[vb]
		var mx int32
		if cs.baseSf[vb] < encInf {
			sf := min(max(cs.baseSf[vb]+delta, cs.minSf[vb]), 255)
			if prev >= 0 {
				sf = min(max(sf, prev-60), prev+60)
			}
			mx = e.quantizeBand(cs, s, n, sf)
			cs.sf[vb] = sf
		} else {
			clear(cs.q[s : s+n])
		}
		cs.qmax[vb] = mx
		if mx == 0 {
			cost[0] = 0
			for cb := 1; cb <= 11; cb++ {
				h := &hc[cb]
				cost[cb] = h.zeroBits*n/h.dim + 1
			}
			continue
		}
		prev = cs.sf[vb]
		if first < 0 {
			first = prev
		}
		for cb := range cost {
			cost[cb] = encInf
		}
		q := cs.q[s : s+n]
		mb := minBookFor(mx)
		last := mb + 1
		if mb <= 7 {
			last = mb + 3
		} else if mb == 9 {
			last = 11
		}
		for cb := mb; cb <= min(last, 11); cb++ {
			cost[cb] = hc[cb].bookBits(q, cb)
		}
	}
	if first < 0 {
		first = 100
	}
	cs.global = first
	bits := 8 + 3 // global_gain, pulse/tns/gain_control flags
	bits += e.chooseSections(cs)
	// Scalefactor differences along the transmitted bands. Zero bands that
	// ended up in a non-zero section repeat the previous value (1 bit, already
	// in their cost).
	prev = first
	for vb := 0; vb < L.nvb; vb++ {
		if cs.cb[vb] == 0 || cs.qmax[vb] == 0 {
			continue
		}
		bits += sfBits(cs.sf[vb] - prev)
		prev = cs.sf[vb]
	}
	return bits
}

// chooseSections picks a codebook per band minimizing spectral bits plus
// section side info, by dynamic programming over the bands of each group:
// for every codebook it keeps the cheapest cost of a coding that ends with
// an open section of that book. It fills cs.cb and returns the bits of
// section_data and spectral_data.
func (e *Encoder) chooseSections(cs *chanState) int {
	L := &e.lay
	sectBits, esc := 5, 31
	if L.seq == eightShortSequence {
		sectBits, esc = 3, 7
	}
	hdr := 4 + sectBits
	total := 0
	for g := 0; g < L.numGroups; g++ {
		base := g * L.maxSfb
		n := L.maxSfb
		var open [12]int
		for cb := range open {
			open[cb] = encInf
		}
		best := 0
		for i := 0; i < n; i++ {
			vb := base + i
			cost := &cs.cost[vb]
			nb, nbcb := encInf, 0
			var starts uint16
			for cb := 0; cb < 12; cb++ {
				if cost[cb] >= encInf {
					open[cb] = encInf
					continue
				}
				if st := best + hdr; st <= open[cb] {
					open[cb] = st
					starts |= 1 << cb
				}
				open[cb] += cost[cb]
				if open[cb] < nb {
					nb, nbcb = open[cb], cb
				}
			}
			cs.start[vb] = starts
			cs.bestCb[vb] = uint8(nbcb)
			best = nb
		}
		total += best
		cb := int(cs.bestCb[base+n-1])
		run := 0
		for i := n - 1; i >= 0; i-- {
			vb := base + i
			cs.cb[vb] = uint8(cb)
			run++
			if cs.start[vb]&(1<<cb) != 0 {
				// Long sections need extra length fields (escape values).
				total += run / esc * sectBits
				run = 0
				if i > 0 {
					cb = int(cs.bestCb[vb-1])
				}
			}
		}
	}
	return total
}

// frameOverhead is the number of bits outside the channel streams:
// element headers, ics_info, M/S mask, the END element (byte alignment is
// added by the caller).
func (e *Encoder) frameOverhead() int {
	L := &e.lay
	info := 1 + 2 + 1 + 6 + 1
	if L.seq == eightShortSequence {
		info = 1 + 2 + 1 + 4 + 7
	}
	bits := 3 + 4 + info + 3 // id, tag, ics_info, END
	if e.nch == 2 {
		bits += 1 + 2 // common_window, ms_mask_present
		if e.msN > 0 && e.msN < L.nvb {
			bits += L.nvb
		}
	}
	return bits
}

// evalFrame returns the bits of the whole frame at offset delta, leaving
// the quantized state of every channel at that offset.
func (e *Encoder) evalFrame(delta int) int {
	e.evalDelta = delta
	bits := e.frameOverhead()
	for c := 0; c < e.nch; c++ {
		bits += e.evalChannel(&e.ch[c], delta)
	}
	return bits
}

// Offsets the search may use; beyond them every band is either at its
// finest useful or coarsest (all zero) quantization.
const (
	encMinDelta = -120
	encMaxDelta = 255
)

// rateControl sets the frame's budget from the reservoir and searches the
// offset; it leaves the channel states quantized with the chosen offset.
func (e *Encoder) rateControl() {
	share := 0.2
	short := 0
	if e.lay.seq == eightShortSequence {
		share, short = 0.5, 1
	}
	budget := e.meanBits + share*e.reservoir
	budget = min(budget, e.meanBits+e.reservoir, float64(e.maxBits-64))
	target := int(budget) - 7 // room for byte alignment

	d := e.lastDelta[short]
	bits := e.evalFrame(d)
	var lo, hi int // lo: too many bits (or bound), hi: fits
	if bits > target {
		lo, hi = d, d
		step := 2
		for {
			hi = min(hi+step, encMaxDelta)
			if e.evalFrame(hi) <= target || hi == encMaxDelta {
				break
			}
			lo = hi
			step *= 2
		}
	} else {
		lo, hi = d, d
		step := 2
		for {
			lo = max(lo-step, encMinDelta)
			if e.evalFrame(lo) > target {
				break
			}
			hi = lo
			if lo == encMinDelta {
				break
			}
			step *= 2
		}
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if e.evalFrame(mid) <= target {
			hi = mid
		} else {
			lo = mid
		}
	}
	e.lastDelta[short] = hi
	if e.evalDelta != hi {
		e.evalFrame(hi)
	}
}
