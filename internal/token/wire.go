package token

import (
	"encoding/binary"
	"errors"
	"fmt"
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

// packer appends the little-endian primitives of tokens.md.
type packer struct{ b []byte }

func (p *packer) u16(v uint16) { p.b = binary.LittleEndian.AppendUint16(p.b, v) }
func (p *packer) u32(v uint32) { p.b = binary.LittleEndian.AppendUint32(p.b, v) }
func (p *packer) str(s []byte) {
	p.u16(uint16(len(s)))
	p.b = append(p.b, s...)
}
func (p *packer) privileges(ps []Privilege) {
	p.u16(uint16(len(ps)))
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
