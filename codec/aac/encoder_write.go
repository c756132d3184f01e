package aac

// Bitstream writing of the encoder: raw_data_block (ISO/IEC 14496-3
// §4.4.2.1) with one SCE or CPE, optional FIL elements and END.

// Element ids idSCE, idCPE, idFIL and idEND are the decoder's constants.

// writeFrame writes the access unit of the current frame, pads it with
// fill elements when the reservoir is full, appends it to the output and
// updates the reservoir.
func (e *Encoder) writeFrame() {
	w := &e.w
	w.reset()
	L := &e.lay
	if e.nch == 1 {
		w.writeBits(idSCE, 3)
		w.writeBits(0, 4) // element_instance_tag
		e.writeICS(&e.ch[0], false)
	} else {
		w.writeBits(idCPE, 3)
		w.writeBits(0, 4)
		w.writeBits(1, 1) // common_window
		e.writeICSInfo()
		switch e.msN {
		case 0:
			w.writeBits(0, 2)
		case L.nvb:
			w.writeBits(2, 2)
		default:
			w.writeBits(1, 2)
			for vb := 0; vb < L.nvb; vb++ {
				w.writeBit(e.ms[vb])
			}
		}
		e.writeICS(&e.ch[0], true)
		e.writeICS(&e.ch[1], true)
	}
	// Bits the frame would take with END and alignment, and what is left
	// to save in the reservoir.
	used := w.bitCount() + 3
	used = (used + 7) &^ 7
	excess := e.reservoir + e.meanBits - float64(used) - e.resMax
	if excess > 0 {
		room := e.maxBits - used - 8 // the fill may move the byte alignment
		e.writeFill(min(int(excess+7), room))
	}
	w.writeBits(idEND, 3)
	w.byteAlign()
	out := w.bytes()
	e.reservoir += e.meanBits - float64(len(out)*8)
	start := len(e.arena)
	e.arena = append(e.arena, out...)
	e.aus = append(e.aus, e.arena[start:len(e.arena):len(e.arena)])
}

// writeFill writes FIL elements (§4.4.2.7) of about n bits in total (never
// more than n), each carrying an EXT_FILL extension_payload.
func (e *Encoder) writeFill(n int) {
	w := &e.w
	for n >= 3+4+8 {
		// 7 bits of header plus 8 per byte, plus 8 more for an escaped count.
		count := (n - 7) / 8
		if count >= 15 {
			count = min((n-15)/8, 15+255-1)
		}
		if count < 1 {
			return
		}
		w.writeBits(idFIL, 3)
		if count >= 15 {
			w.writeBits(15, 4)
			w.writeBits(uint32(count-15+1), 8)
			n -= 15
		} else {
			w.writeBits(uint32(count), 4)
			n -= 7
		}
		w.writeBits(0, 4) // extension_type EXT_FILL
		w.writeBits(0, 4) // fill_nibble
		for i := 1; i < count; i++ {
			w.writeBits(0xa5, 8) // fill_byte
		}
		n -= 8 * count
	}
}

func (e *Encoder) writeICSInfo() {
	w := &e.w
	L := &e.lay
	w.writeBits(0, 1) // ics_reserved_bit
	w.writeBits(uint32(L.seq), 2)
	w.writeBits(sineShape, 1)
	if L.seq == eightShortSequence {
		w.writeBits(uint32(L.maxSfb), 4)
		w.writeBits(L.grouping, 7)
	} else {
		w.writeBits(uint32(L.maxSfb), 6)
		w.writeBits(0, 1) // predictor_data_present
	}
}

// writeICS writes one individual_channel_stream (§4.4.2.7).
func (e *Encoder) writeICS(cs *chanState, common bool) {
	w := &e.w
	L := &e.lay
	w.writeBits(uint32(cs.global), 8)
	if !common {
		e.writeICSInfo()
	}
	sectBits, esc := uint(5), 31
	if L.seq == eightShortSequence {
		sectBits, esc = 3, 7
	}
	// section_data
	for g := 0; g < L.numGroups; g++ {
		base := g * L.maxSfb
		for k := 0; k < L.maxSfb; {
			cb := cs.cb[base+k]
			n := 1
			for k+n < L.maxSfb && cs.cb[base+k+n] == cb {
				n++
			}
			w.writeBits(uint32(cb), 4)
			for l := n; ; l -= esc {
				if l < esc {
					w.writeBits(uint32(l), sectBits)
					break
				}
				w.writeBits(uint32(esc), sectBits)
			}
			k += n
		}
	}
	// scale_factor_data
	prev := cs.global
	for vb := 0; vb < L.nvb; vb++ {
		if cs.cb[vb] == 0 {
			continue
		}
		sf := prev
		if cs.qmax[vb] != 0 {
			sf = cs.sf[vb]
		}
		writeSF(w, sf-prev)
		prev = sf
	}
	w.writeBits(0, 3) // pulse_data_present, tns_data_present, gain_control_data_present
	// spectral_data
	hc := huffCosts()
	for vb := 0; vb < L.nvb; vb++ {
		if cb := int(cs.cb[vb]); cb != 0 {
			s := L.start[vb]
			hc[cb].writeBook(w, cs.q[s:s+L.width[vb]], cb)
		}
	}
}
