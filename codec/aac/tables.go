package aac

// huffRootBits is the width of the first level of every huffTable
// (internal/gen uses the same value).
const huffRootBits = 9

// huffTable is a multi-level lookup table for one Huffman code, built by
// internal/gen. The first level has 2^huffRootBits entries. An entry is
//
//	leaf: 1<<31 | symbol<<8 | bits consumed at this level
//	link: start<<8 | index width of the next level
//	0:    no codeword has this prefix (a bitstream error)
type huffTable struct {
	entries []uint32
}

// spectralBook describes one spectral Huffman codebook (1..11), ISO/IEC
// 14496-3 §4.6.3 and shared/data/aac/README.md section 1.
type spectralBook struct {
	dim      int  // values per codeword: 4 (books 1-4) or 2 (books 5-11)
	unsigned bool // magnitudes in the codeword, sign bits follow
	lav      int  // largest absolute value (16 = escape flag in book 11)
	mod      int  // index = sum of (v+offset)*mod^k
	offset   int
	escape   bool     // book 11 only
	codes    []uint32 // codeword per index, right-aligned
	lengths  []uint8  // codeword length per index, in bits
	values   []int8   // dim values per index, lowest-frequency line first
	decode   huffTable
}

// Codebook numbers with a special meaning (ISO/IEC 14496-3 table 4.155).
const (
	zeroHCB       = 0
	escHCB        = 11
	reservedHCB   = 12
	noiseHCB      = 13
	intensityHCB2 = 14 // out of phase
	intensityHCB  = 15 // in phase
)

// Window sequences (ics_info window_sequence).
const (
	onlyLongSequence   = 0
	longStartSequence  = 1
	eightShortSequence = 2
	longStopSequence   = 3
)

// Window shapes (ics_info window_shape).
const (
	sineShape = 0
	kbdShape  = 1
)
