package aac

// bitWriter appends MSB-first bit fields to a byte buffer that it owns.
// The buffer is allocated once (by the encoder, sized for the largest access
// unit) and reused: reset keeps the capacity, so steady-state writing does
// not allocate. Writing beyond the capacity grows the buffer like append.
type bitWriter struct {
	buf   []byte
	acc   uint64 // pending bits, right-aligned
	nacc  uint   // number of pending bits in acc (< 32 between calls)
	total int    // bits written since reset
}

// reset empties the writer, keeping its buffer.
func (w *bitWriter) reset() {
	w.buf = w.buf[:0]
	w.acc = 0
	w.nacc = 0
	w.total = 0
}

// writeBits appends the low n bits of v (n <= 32), most significant first.
func (w *bitWriter) writeBits(v uint32, n uint) {
	if n == 0 {
		return
	}
	w.acc = w.acc<<n | uint64(v)&(1<<n-1)
	w.nacc += n
	w.total += int(n)
	for w.nacc >= 8 {
		w.nacc -= 8
		w.buf = append(w.buf, byte(w.acc>>w.nacc))
	}
}

// writeBit appends one bit.
func (w *bitWriter) writeBit(b bool) {
	if b {
		w.writeBits(1, 1)
	} else {
		w.writeBits(0, 1)
	}
}

// bitCount returns the number of bits written since reset.
func (w *bitWriter) bitCount() int { return w.total }

// byteAlign pads with zero bits up to the next byte boundary.
func (w *bitWriter) byteAlign() {
	if r := w.total & 7; r != 0 {
		w.writeBits(0, uint(8-r))
	}
}

// bytes returns the written bytes; the writer must be byte aligned. The slice
// aliases the writer's buffer and is valid until the next reset.
func (w *bitWriter) bytes() []byte { return w.buf }
