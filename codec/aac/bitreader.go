package aac

import "encoding/binary"

// bitReader reads MSB-first bit fields from a byte slice. Reads past the end
// yield zero bits and set the overrun state (checked with overrun), so the
// parser never indexes outside the buffer and every loop still terminates.
//
// Up to 64 upcoming bits are kept in cache (MSB first); avail of them are
// counted as loaded. Bits below those are either zero or already the right
// stream bits, so a refill can OR new bytes in.
type bitReader struct {
	buf   []byte
	pos   int // bits consumed
	size  int // bits in buf
	cache uint64
	avail uint
	next  int // next byte of buf to load into the cache
}

func (r *bitReader) reset(b []byte) {
	*r = bitReader{buf: b, size: len(b) * 8}
}

// fill loads bytes until at least 57 bits are available.
func (r *bitReader) fill() {
	if r.next >= 0 && r.next+8 <= len(r.buf) {
		r.cache |= binary.BigEndian.Uint64(r.buf[r.next:]) >> r.avail
		k := (63 - r.avail) >> 3
		r.next += int(k)
		r.avail += k * 8
		return
	}
	for r.avail <= 56 {
		var b byte
		if r.next < len(r.buf) {
			b = r.buf[r.next]
		}
		r.next++
		r.cache |= uint64(b) << (56 - r.avail)
		r.avail += 8
	}
}

// peek returns the next n bits (n <= 32) without consuming them.
func (r *bitReader) peek(n uint) uint32 {
	if n == 0 {
		return 0
	}
	if r.avail < n {
		r.fill()
	}
	return uint32(r.cache >> (64 - n))
}

// skip consumes n bits (n >= 0).
func (r *bitReader) skip(n int) {
	if n <= int(r.avail) {
		r.cache <<= uint(n)
		r.avail -= uint(n)
		r.pos += n
		return
	}
	// Jump: reload the cache at the new position.
	r.pos += n
	r.next = r.pos >> 3
	r.cache, r.avail = 0, 0
	r.fill()
	drop := uint(r.pos & 7)
	r.cache <<= drop
	r.avail -= drop
}

// read consumes and returns n bits (n <= 32).
func (r *bitReader) read(n uint) uint32 {
	v := r.peek(n)
	r.cache <<= n
	r.avail -= n
	r.pos += int(n)
	return v
}

func (r *bitReader) readBit() bool { return r.read(1) != 0 }

func (r *bitReader) overrun() bool { return r.pos > r.size }

func (r *bitReader) bitsLeft() int { return r.size - r.pos }

// byteAlign skips to the next byte boundary.
func (r *bitReader) byteAlign() { r.skip((8 - r.pos&7) & 7) }

// decodeHuff reads one codeword of table t and returns its symbol, or -1 for
// a bit pattern that is no codeword.
func (r *bitReader) decodeHuff(t *huffTable) int {
	if r.avail < 32 { // codewords are at most 19 bits
		r.fill()
	}
	start, bits := 0, uint(huffRootBits)
	for range 4 { // two levels suffice; the bound only guards the loop
		e := t.entries[start+int(r.cache>>(64-bits))]
		if e&(1<<31) != 0 {
			n := uint(e & 0x1f)
			r.cache <<= n
			r.avail -= n
			r.pos += int(n)
			return int(e>>8) & 0xffff
		}
		if e == 0 {
			return -1
		}
		r.cache <<= bits
		r.avail -= bits
		r.pos += int(bits)
		start, bits = int(e>>8), uint(e&0x1f)
	}
	return -1
}
