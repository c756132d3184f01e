package aac

import (
	"math/bits"
	"sync"
)

// Encoder-side view of the spectral and scalefactor Huffman codes
// (ISO/IEC 14496-3 §4.6.3, tables 4.A.2-4.A.13). The decoder's tables in
// tables_gen.go hold codeword and length per codebook index; the encoder
// adds per-index bit costs that already include the sign bits of the
// unsigned books, so that counting the bits of a band is one table lookup
// per tuple.

// huffCost holds derived, read-only tables for spectral codebook 1..11.
type huffCost struct {
	dim      int
	unsigned bool
	lav      int
	mod      int
	offset   int
	bits     []uint8  // codeword length + sign bits, per index
	codes    []uint32 // codeword per index
	lens     []uint8  // codeword length per index
	zeroBits int      // bits of one all-zero tuple
}

// huffCosts returns the derived tables, built once on first use and never
// modified afterwards.
var huffCosts = sync.OnceValue(func() *[12]huffCost {
	var t [12]huffCost
	for cb := 1; cb <= 11; cb++ {
		b := &spectralBooks[cb]
		h := &t[cb]
		h.dim, h.unsigned, h.lav, h.mod, h.offset = b.dim, b.unsigned, b.lav, b.mod, b.offset
		h.codes, h.lens = b.codes, b.lengths
		h.bits = make([]uint8, len(b.lengths))
		for i, l := range b.lengths {
			n := int(l)
			if b.unsigned {
				for _, v := range b.values[i*b.dim : (i+1)*b.dim] {
					if v != 0 {
						n++
					}
				}
			}
			h.bits[i] = uint8(n)
		}
		zi := 0
		for range b.dim {
			zi = zi*b.mod + b.offset
		}
		h.zeroBits = int(h.bits[zi])
	}
	return &t
})

// escBits returns the length of the escape sequence for magnitude m >= 16
// (book 11): N prefix ones, a zero, and an N+4 bit word.
func escBits(m int32) int {
	n := bits.Len32(uint32(m)) - 5 // floor(log2 m) - 4
	return 2*n + 5
}

// minBookFor returns the smallest-numbered codebook whose LAV covers maxAbs
// (1, 3, 5, 7, 9 or 11), or 0 for an all-zero band.
func minBookFor(maxAbs int32) int {
	switch {
	case maxAbs == 0:
		return 0
	case maxAbs <= 1:
		return 1
	case maxAbs <= 2:
		return 3
	case maxAbs <= 4:
		return 5
	case maxAbs <= 7:
		return 7
	case maxAbs <= 12:
		return 9
	}
	return 11
}

// bookBits counts the bits of coding q (length a multiple of the book's
// dimension, every |value| within the book's LAV unless cb is 11) with
// spectral codebook cb.
func (h *huffCost) bookBits(q []int32, cb int) int {
	n := 0
	if h.dim == 4 {
		if h.unsigned {
			for i := 0; i+3 < len(q); i += 4 {
				idx := abs32(q[i])*27 + abs32(q[i+1])*9 + abs32(q[i+2])*3 + abs32(q[i+3])
				n += int(h.bits[idx])
			}
		} else {
			for i := 0; i+3 < len(q); i += 4 {
				idx := (q[i]+1)*27 + (q[i+1]+1)*9 + (q[i+2]+1)*3 + (q[i+3] + 1)
				n += int(h.bits[idx])
			}
		}
		return n
	}
	mod, off := int32(h.mod), int32(h.offset)
	if !h.unsigned {
		for i := 0; i+1 < len(q); i += 2 {
			n += int(h.bits[(q[i]+off)*mod+q[i+1]+off])
		}
		return n
	}
	if cb != escHCB {
		for i := 0; i+1 < len(q); i += 2 {
			n += int(h.bits[abs32(q[i])*mod+abs32(q[i+1])])
		}
		return n
	}
	for i := 0; i+1 < len(q); i += 2 {
		a, b := abs32(q[i]), abs32(q[i+1])
		if a >= 16 {
			n += escBits(a)
			a = 16
		}
		if b >= 16 {
			n += escBits(b)
			b = 16
		}
		n += int(h.bits[a*17+b])
	}
	return n
}

// writeBook writes q with spectral codebook cb: codewords, sign bits of the
// unsigned books, and escape sequences for book 11. A codeword and its sign
// bits go out in one write (at most 16 + 4 bits).
func (h *huffCost) writeBook(w *bitWriter, q []int32, cb int) {
	if h.dim == 4 {
		for i := 0; i+3 < len(q); i += 4 {
			if !h.unsigned {
				idx := (q[i]+1)*27 + (q[i+1]+1)*9 + (q[i+2]+1)*3 + (q[i+3] + 1)
				w.writeBits(h.codes[idx], uint(h.lens[idx]))
				continue
			}
			idx := abs32(q[i])*27 + abs32(q[i+1])*9 + abs32(q[i+2])*3 + abs32(q[i+3])
			code, n := signBits(h.codes[idx], uint(h.lens[idx]), q[i:i+4])
			w.writeBits(code, n)
		}
		return
	}
	mod, off := int32(h.mod), int32(h.offset)
	for i := 0; i+1 < len(q); i += 2 {
		if !h.unsigned {
			idx := (q[i]+off)*mod + q[i+1] + off
			w.writeBits(h.codes[idx], uint(h.lens[idx]))
			continue
		}
		a, b := abs32(q[i]), abs32(q[i+1])
		if cb != escHCB {
			idx := a*mod + b
			code, n := signBits(h.codes[idx], uint(h.lens[idx]), q[i:i+2])
			w.writeBits(code, n)
			continue
		}
		idx := min(a, 16)*mod + min(b, 16)
		code, n := signBits(h.codes[idx], uint(h.lens[idx]), q[i:i+2])
		w.writeBits(code, n)
		if a >= 16 {
			writeEscape(w, a)
		}
		if b >= 16 {
			writeEscape(w, b)
		}
	}
}

// signBits appends to a codeword one sign bit per non-zero value of q
// (1 = negative).
func signBits(code uint32, n uint, q []int32) (uint32, uint) {
	for _, v := range q {
		if v != 0 {
			code = code<<1 | uint32(v)>>31
			n++
		}
	}
	return code, n
}

// writeEscape writes the book 11 escape sequence of magnitude m (16..8191).
func writeEscape(w *bitWriter, m int32) {
	n := uint(bits.Len32(uint32(m)) - 5)
	w.writeBits(1<<n-1, n) // n ones
	w.writeBits(0, 1)
	w.writeBits(uint32(m)-1<<(n+4), n+4)
}

// sfBits is the length of the scalefactor codeword for difference d
// (-60..60).
func sfBits(d int) int { return int(scalefactorLengths[d+60]) }

func writeSF(w *bitWriter, d int) {
	w.writeBits(scalefactorCodes[d+60], uint(scalefactorLengths[d+60]))
}

func abs32(v int32) int32 {
	m := v >> 31
	return (v ^ m) - m
}
