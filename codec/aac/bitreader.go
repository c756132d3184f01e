package aac

import "encoding/binary"

// bitReader reads MSB-first bit fields from a byte slice. Reads past the end
// yield zero bits and set the overrun state (checked with overrun), so the
// parser never indexes outside the buffer and every loop still terminates.
type bitReader struct {
	buf  []byte
	pos  int // bit position
	size int // bits in buf
}

func (r *bitReader) reset(b []byte) {
	r.buf = b
	r.pos = 0
	r.size = len(b) * 8
}

// peek returns the next n bits (n <= 32) without consuming them.
func (r *bitReader) peek(n uint) uint32 {
	if n == 0 {
		return 0
	}
	i := r.pos >> 3
	var w uint64
	if i+8 <= len(r.buf) {
		w = binary.BigEndian.Uint64(r.buf[i:])
	} else {
		for k := 0; k < 8; k++ {
			w <<= 8
			if i+k < len(r.buf) && i+k >= 0 {
				w |= uint64(r.buf[i+k])
			}
		}
	}
	w <<= uint(r.pos & 7)
	return uint32(w >> (64 - n))
}

func (r *bitReader) skip(n int) { r.pos += n }

// read consumes and returns n bits (n <= 32).
func (r *bitReader) read(n uint) uint32 {
	v := r.peek(n)
	r.pos += int(n)
	return v
}

func (r *bitReader) readBit() bool { return r.read(1) != 0 }

func (r *bitReader) overrun() bool { return r.pos > r.size }

func (r *bitReader) bitsLeft() int { return r.size - r.pos }

// byteAlign skips to the next byte boundary.
func (r *bitReader) byteAlign() { r.pos = (r.pos + 7) &^ 7 }

// decodeHuff reads one codeword of table t and returns its symbol, or -1 for
// a bit pattern that is no codeword.
func (r *bitReader) decodeHuff(t *huffTable) int {
	start, bits := 0, uint(huffRootBits)
	for range 4 { // codewords are at most 19 bits: two levels suffice
		e := t.entries[start+int(r.peek(bits))]
		if e&(1<<31) != 0 {
			r.pos += int(e & 0x1f)
			return int(e>>8) & 0xffff
		}
		if e == 0 {
			return -1
		}
		r.pos += int(bits)
		start, bits = int(e>>8), uint(e&0x1f)
	}
	return -1
}
