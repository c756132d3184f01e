package synth

// bitWriter appends bits MSB first, the order of H.264 syntax elements
// (§7.2). It writes the RBSP; emulation prevention is added by escapeRBSP.
type bitWriter struct {
	buf  []byte
	cur  byte // bits not yet flushed, left-aligned at bit 7
	nCur uint // number of bits in cur
}

// u writes the n low bits of v (n <= 64), u(n) in §7.2.
func (w *bitWriter) u(n uint, v uint64) {
	for n > 0 {
		n--
		w.cur |= byte((v>>n)&1) << (7 - w.nCur)
		w.nCur++
		if w.nCur == 8 {
			w.buf = append(w.buf, w.cur)
			w.cur, w.nCur = 0, 0
		}
	}
}

// flag writes one bit.
func (w *bitWriter) flag(b bool) {
	if b {
		w.u(1, 1)
	} else {
		w.u(1, 0)
	}
}

// ue writes an unsigned Exp-Golomb code, ue(v) in §9.1.
func (w *bitWriter) ue(v uint32) {
	x := uint64(v) + 1
	n := uint(0)
	for t := x; t > 1; t >>= 1 {
		n++
	}
	w.u(n, 0)
	w.u(n+1, x)
}

// se writes a signed Exp-Golomb code, se(v) in §9.1.1.
func (w *bitWriter) se(v int32) {
	if v > 0 {
		w.ue(uint32(2*v - 1))
	} else {
		w.ue(uint32(-2 * v))
	}
}

// alignZero writes zero bits up to the next byte boundary
// (pcm_alignment_zero_bit, §7.3.5).
func (w *bitWriter) alignZero() {
	if w.nCur > 0 {
		w.u(8-w.nCur, 0)
	}
}

// bytes appends whole bytes; the writer must be aligned.
func (w *bitWriter) bytes(b []byte) {
	if w.nCur != 0 {
		panic("synth: bitWriter.bytes on an unaligned writer") // internal invariant
	}
	w.buf = append(w.buf, b...)
}

// trailing writes rbsp_trailing_bits (§7.3.2.11) and returns the RBSP.
func (w *bitWriter) trailing() []byte {
	w.u(1, 1)
	w.alignZero()
	return w.buf
}

// escapeRBSP appends the NAL unit payload for rbsp to dst, inserting
// emulation_prevention_three_byte where 0x000000..0x000003 would appear
// (§7.4.1).
func escapeRBSP(dst, rbsp []byte) []byte {
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			dst = append(dst, 3)
			zeros = 0
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}

// unescapeRBSP removes emulation prevention bytes from a NAL unit payload.
func unescapeRBSP(dst, nal []byte) []byte {
	zeros := 0
	for _, b := range nal {
		if zeros >= 2 && b == 3 {
			zeros = 0
			continue
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}
