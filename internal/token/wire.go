package token

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Limits on decoded sizes. A token travels in a WebSocket message or URL, so
// nothing legitimate comes near these; they keep a hostile token from making
// the parser allocate much.
const (
	maxTokenLen    = 8 << 10 // bytes of token text
	maxInflatedLen = 16 << 10
	maxServices    = 16
	maxPrivileges  = 32
)

var errShort = errors.New("token: truncated")

// packer appends the little-endian primitives of tokens.md. A string or
// list longer than its 16-bit length prefix can say sets err (the first one
// sticks) instead of writing a wrapped length.
type packer struct {
	b   []byte
	err error
}

func (p *packer) u16(v uint16) { p.b = binary.LittleEndian.AppendUint16(p.b, v) }
func (p *packer) u32(v uint32) { p.b = binary.LittleEndian.AppendUint32(p.b, v) }

// count16 writes n as a 16-bit length prefix of what.
func (p *packer) count16(n int, what string) {
	if n > math.MaxUint16 {
		if p.err == nil {
			p.err = fmt.Errorf("token: %s of %d is over the format's limit of 65535", what, n)
		}
		n = 0
	}
	p.u16(uint16(n)) //nolint:gosec // G115: 0..MaxUint16 after the check above
}

func (p *packer) str(s []byte) {
	p.count16(len(s), "string length")
	p.b = append(p.b, s...)
}
func (p *packer) privileges(ps []Privilege) {
	p.count16(len(ps), "privilege count")
	for _, pr := range ps {
		p.u16(pr.ID)
		p.u32(pr.Expire)
	}
}

// reader consumes the primitives; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = errShort
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u16() uint16 {
	v := r.take(2)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(v)
}

func (r *reader) u32() uint32 {
	v := r.take(4)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(v)
}

func (r *reader) str() []byte {
	n := r.u16()
	return r.take(int(n))
}

func (r *reader) privileges() []Privilege {
	n := int(r.u16())
	if r.err != nil {
		return nil
	}
	if n > maxPrivileges {
		r.err = fmt.Errorf("token: %d privileges, at most %d allowed", n, maxPrivileges)
		return nil
	}
	ps := make([]Privilege, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		id := r.u16()
		exp := r.u32()
		ps = append(ps, Privilege{ID: id, Expire: exp})
	}
	return ps
}
