package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// FLV tag types (FLV 10.1, Annex E.4.1).
const (
	flvTagAudio  = 8
	flvTagVideo  = 9
	flvTagScript = 18
)

// maxFLVTag bounds a tag body; DataSize is 24 bits, so this is the format's
// own limit (16 MiB), stated to make the allocation bound explicit.
const maxFLVTag = 1<<24 - 1

var errFLVSignature = errors.New("not an FLV stream (no FLV signature)")

// flvTag is one tag; Body aliases the reader's buffer until the next Next.
type flvTag struct {
	Type      byte
	Timestamp uint32 // ms, with the extended byte applied
	Body      []byte
}

// flvReader is a minimal FLV tag reader for HTTP-FLV viewers: the header,
// then tags. It checks sizes and never allocates more than one tag body.
type flvReader struct {
	r   *bufio.Reader
	buf []byte
	hdr [15]byte
}

func newFLVReader(r io.Reader) *flvReader {
	return &flvReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// readHeader reads the FLV header (E.2) and PreviousTagSize0.
func (f *flvReader) readHeader() error {
	var h [9]byte
	if _, err := io.ReadFull(f.r, h[:]); err != nil {
		return fmt.Errorf("FLV header: %w", err)
	}
	if h[0] != 'F' || h[1] != 'L' || h[2] != 'V' {
		return errFLVSignature
	}
	off := binary.BigEndian.Uint32(h[5:9])
	if off < 9 || off > 1024 {
		return fmt.Errorf("FLV header: DataOffset %d, want 9..1024", off)
	}
	// Skip any header extension and PreviousTagSize0.
	if _, err := f.r.Discard(int(off-9) + 4); err != nil {
		return fmt.Errorf("FLV header: %w", err)
	}
	return nil
}

// next reads one tag (E.4.1) and its trailing PreviousTagSize.
func (f *flvReader) next() (flvTag, error) {
	h := f.hdr[:11]
	if _, err := io.ReadFull(f.r, h); err != nil {
		return flvTag{}, err
	}
	if h[0]&0x20 != 0 {
		return flvTag{}, fmt.Errorf("FLV tag: encrypted tags (Filter=1) are not supported")
	}
	size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	ts := uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
	if size > maxFLVTag {
		return flvTag{}, fmt.Errorf("FLV tag: DataSize %d over %d", size, maxFLVTag)
	}
	if cap(f.buf) < size+4 {
		f.buf = make([]byte, size+4)
	}
	b := f.buf[:size+4]
	if _, err := io.ReadFull(f.r, b); err != nil {
		return flvTag{}, fmt.Errorf("FLV tag body (%d bytes): %w", size, err)
	}
	if prev := binary.BigEndian.Uint32(b[size:]); prev != uint32(size+11) { //nolint:gosec // G115: size is a 24-bit field (checked against maxFLVTag above)
		return flvTag{}, fmt.Errorf("FLV PreviousTagSize %d, want %d", prev, size+11)
	}
	return flvTag{Type: h[0] & 0x1f, Timestamp: ts, Body: b[:size]}, nil
}
