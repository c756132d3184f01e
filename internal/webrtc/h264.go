package webrtc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// H.264 NAL unit types used here (ITU-T H.264 Table 7-1, RFC 6184 §5.2).
const (
	naluNonIDR = 1
	naluIDR    = 5
	naluSEI    = 6
	naluSPS    = 7
	naluPPS    = 8
	naluAUD    = 9
	naluSTAPA  = 24
	naluFUA    = 28
)

// Limits on what the depacketizer accepts from a publisher.
const (
	maxAUSize   = 4 << 20 // bytes in one access unit
	maxAUNALUs  = 256     // NAL units in one access unit
	maxParamSet = 1024    // bytes in one SPS or PPS
)

var errAVCC = errors.New("webrtc: malformed AVCC access unit")

// forEachNALU calls f for each NAL unit of an AVCC (4-byte length-prefixed)
// access unit. The slices alias au.
func forEachNALU(au []byte, f func(nalu []byte)) error {
	for len(au) > 0 {
		if len(au) < 4 {
			return errAVCC
		}
		n := binary.BigEndian.Uint32(au)
		if int64(n) > int64(len(au))-4 {
			return errAVCC
		}
		if n > 0 {
			f(au[4 : 4+n])
		}
		au = au[4+n:]
	}
	return nil
}

// h264Payloads splits one AVCC access unit into RTP payloads (RFC 6184,
// packetization-mode 1: single NAL unit packets, STAP-A and FU-A), none
// longer than mtu. When the access unit holds an IDR slice, the parameter
// sets are sent first in one STAP-A: the track's sps/pps when known,
// otherwise the ones found in the access unit. In-band parameter sets and
// access unit delimiters are not forwarded otherwise. All payloads share one
// allocation. The boolean reports whether the unit is a keyframe.
func h264Payloads(au []byte, sps, pps [][]byte, mtu int) ([][]byte, bool, error) {
	if mtu < 64 {
		return nil, false, fmt.Errorf("webrtc: mtu %d too small", mtu)
	}
	// Pass 1: classify and size.
	var idr bool
	var inSPS, inPPS [][]byte
	size, count := 0, 0
	addNALU := func(n int) {
		if n <= mtu {
			size += n
			count++
			return
		}
		// FU-A: 2 header bytes per fragment replace the 1-byte NAL header.
		body := n - 1
		per := mtu - 2
		frags := (body + per - 1) / per
		size += body + 2*frags
		count += frags
	}
	err := forEachNALU(au, func(nalu []byte) {
		switch nalu[0] & 0x1f {
		case naluSPS:
			inSPS = append(inSPS, nalu)
		case naluPPS:
			inPPS = append(inPPS, nalu)
		case naluAUD:
		case naluIDR:
			idr = true
			addNALU(len(nalu))
		default:
			addNALU(len(nalu))
		}
	})
	if err != nil {
		return nil, false, err
	}
	var params [][]byte
	if idr {
		if len(sps) > 0 && len(pps) > 0 {
			params = append(append(params, sps...), pps...)
		} else {
			params = append(append(params, inSPS...), inPPS...)
		}
	}
	stap := 1
	for _, p := range params {
		stap += 2 + len(p)
	}
	useSTAP := len(params) > 1 && stap <= mtu && stap <= math.MaxUint16
	if useSTAP {
		size += stap
		count++
	} else {
		for _, p := range params {
			addNALU(len(p))
		}
	}
	if count == 0 {
		return nil, idr, nil
	}
	// Pass 2: write.
	buf := make([]byte, 0, size)
	out := make([][]byte, 0, count)
	emit := func(nalu []byte) {
		if len(nalu) <= mtu {
			start := len(buf)
			buf = append(buf, nalu...)
			out = append(out, buf[start:len(buf):len(buf)])
			return
		}
		hdr := nalu[0]
		body := nalu[1:]
		first := true
		for len(body) > 0 {
			n := min(len(body), mtu-2)
			fuh := hdr & 0x1f
			if first {
				fuh |= 0x80
				first = false
			}
			if n == len(body) {
				fuh |= 0x40
			}
			start := len(buf)
			buf = append(buf, hdr&0xe0|naluFUA, fuh)
			buf = append(buf, body[:n]...)
			out = append(out, buf[start:len(buf):len(buf)])
			body = body[n:]
		}
	}
	if useSTAP {
		start := len(buf)
		var nri byte
		for _, p := range params {
			nri = max(nri, p[0]&0x60)
		}
		buf = append(buf, nri|naluSTAPA)
		for _, p := range params {
			buf = binary.BigEndian.AppendUint16(buf, uint16(len(p))) //nolint:gosec // G115: useSTAP: the whole STAP-A is under 64 KiB
			buf = append(buf, p...)
		}
		out = append(out, buf[start:len(buf):len(buf)])
	} else {
		for _, p := range params {
			emit(p)
		}
	}
	_ = forEachNALU(au, func(nalu []byte) {
		switch nalu[0] & 0x1f {
		case naluSPS, naluPPS, naluAUD:
		default:
			emit(nalu)
		}
	})
	return out, idr, nil
}

// h264AU is one depacketized access unit.
type h264AU struct {
	timestamp uint32 // RTP timestamp (90 kHz)
	avcc      []byte // NAL units without parameter sets, 4-byte length-prefixed
	sps, pps  []byte // parameter sets seen in this access unit (nil if none)
	idr       bool
}

// h264Depacketizer reassembles RTP payloads (RFC 6184 modes 0 and 1) into
// access units. Feed it packets in sequence order; tell it about gaps.
type h264Depacketizer struct {
	ts      uint32
	active  bool // a unit with timestamp ts is being collected
	broken  bool // a packet of the current unit was lost or malformed
	nalus   int
	avcc    []byte
	sps     []byte
	pps     []byte
	idr     bool
	fu      []byte // FU-A reassembly: NAL header + body so far
	inFU    bool
	dropped int // units discarded because they were incomplete
}

// push consumes one RTP payload. lost reports that packets before this one
// are missing. marker is the RTP marker bit. It returns a completed access
// unit, if this packet completed one (the returned unit's slices are fresh).
func (d *h264Depacketizer) push(payload []byte, ts uint32, marker, lost bool) *h264AU {
	var done *h264AU
	if d.active && ts != d.ts {
		// The previous unit ended without a marker (or its last packet was lost).
		done = d.finish()
	}
	if !d.active {
		d.active = true
		d.ts = ts
	}
	if lost {
		d.broken = true
		d.inFU = false
		d.fu = d.fu[:0]
	}
	d.parse(payload)
	if marker {
		if done != nil {
			// Two units completed by one packet: return the later, count the earlier.
			d.dropped++
		}
		done = d.finish()
	}
	return done
}

func (d *h264Depacketizer) parse(p []byte) {
	if len(p) < 1 {
		d.broken = true
		return
	}
	switch t := p[0] & 0x1f; t {
	case naluSTAPA:
		p = p[1:]
		for len(p) > 0 {
			if len(p) < 2 {
				d.broken = true
				return
			}
			n := int(binary.BigEndian.Uint16(p))
			if n == 0 || n > len(p)-2 {
				d.broken = true
				return
			}
			d.addNALU(p[2 : 2+n])
			p = p[2+n:]
		}
	case naluFUA:
		if len(p) < 3 {
			d.broken = true
			return
		}
		start, end := p[1]&0x80 != 0, p[1]&0x40 != 0
		if start {
			d.fu = append(d.fu[:0], p[0]&0xe0|p[1]&0x1f)
			d.inFU = true
		} else if !d.inFU {
			d.broken = true // the start fragment was lost
			return
		}
		if len(d.fu)+len(p)-2 > maxAUSize {
			d.broken = true
			d.inFU = false
			return
		}
		d.fu = append(d.fu, p[2:]...)
		if end {
			d.inFU = false
			d.addNALU(d.fu)
		}
	case 0, 25, 26, 27, 29, 30, 31:
		// STAP-B, MTAP, FU-B are not allowed in mode 1; 0 and 30/31 are undefined.
		d.broken = true
	default:
		d.addNALU(p)
	}
}

func (d *h264Depacketizer) addNALU(n []byte) {
	switch n[0] & 0x1f {
	case naluSPS:
		if len(n) <= maxParamSet {
			d.sps = append(d.sps[:0], n...)
		}
		return
	case naluPPS:
		if len(n) <= maxParamSet {
			d.pps = append(d.pps[:0], n...)
		}
		return
	case naluAUD:
		return
	case naluIDR:
		d.idr = true
	}
	if d.nalus >= maxAUNALUs || len(d.avcc)+4+len(n) > maxAUSize {
		d.broken = true
		return
	}
	d.nalus++
	d.avcc = binary.BigEndian.AppendUint32(d.avcc, uint32(len(n))) //nolint:gosec // G115: len(n) <= maxAUSize (4 MiB), checked above
	d.avcc = append(d.avcc, n...)
}

// finish closes the current unit; nil when it was broken or empty.
func (d *h264Depacketizer) finish() *h264AU {
	var au *h264AU
	if d.inFU {
		d.broken = true // the unit ended inside a fragmented NAL unit
	}
	switch {
	case d.broken && (d.nalus > 0 || len(d.sps) > 0):
		d.dropped++
	case d.nalus > 0 || len(d.sps) > 0 || len(d.pps) > 0:
		au = &h264AU{timestamp: d.ts, idr: d.idr}
		au.avcc = append([]byte(nil), d.avcc...)
		if len(d.sps) > 0 {
			au.sps = append([]byte(nil), d.sps...)
		}
		if len(d.pps) > 0 {
			au.pps = append([]byte(nil), d.pps...)
		}
	}
	d.active, d.broken, d.inFU, d.idr = false, false, false, false
	d.nalus = 0
	d.avcc = d.avcc[:0]
	d.sps, d.pps = d.sps[:0], d.pps[:0]
	d.fu = d.fu[:0]
	return au
}
