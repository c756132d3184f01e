package aac

import "fmt"

// Limits of the AAC-LC syntax that size the decoder's fixed arrays.
const (
	maxWindows     = 8  // EIGHT_SHORT_SEQUENCE has 8 windows
	maxBandsPerWin = 64 // max_sfb is at most 6 bits (and num_swb_long <= 51)
	shortLines     = 128
	maxTNSFilters  = 3  // n_filt is 2 bits for long windows (and 1 bit for short)
	maxTNSOrderLC  = 12 // AAC-LC long windows (§4.6.9.3); the field allows 31
	maxTNSOrderSh  = 7  // short windows
	maxEscPrefix   = 8  // escape magnitudes stop at 8191 (§4.6.3.3)
	maxPulses      = 4
)

// icsInfo is the parsed ics_info() (§4.4.2.1), shared by both channels of a
// CPE with common_window.
type icsInfo struct {
	seq        int // window_sequence
	shape      int // window_shape
	maxSfb     int
	numWindows int
	numGroups  int
	groupLen   [maxWindows]int
	swb        []uint16 // band offsets of this window type
	numSwb     int
}

// tnsFilter is one TNS filter of one window.
type tnsFilter struct {
	length, order int
	down          bool
	refl          [maxTNSOrderLC]float64 // reflection coefficients
}

// channelStream holds one individual_channel_stream of the current frame.
type channelStream struct {
	info       icsInfo
	globalGain int
	bandType   [maxWindows * maxBandsPerWin]uint8 // [g*maxBandsPerWin+sfb]
	bandVal    [maxWindows * maxBandsPerWin]int32 // scalefactor, is_position or noise energy
	tnsPresent bool
	tnsNFilt   [maxWindows]int
	tns        [maxWindows][maxTNSFilters]tnsFilter
	q          [FrameLength]int32   // quantized values, window order (w*128 + line)
	spec       [FrameLength]float64 // reconstructed spectrum, window order
}

func errInvalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// parseICSInfo reads ics_info().
func (d *Decoder) parseICSInfo(info *icsInfo) error {
	r := &d.br
	if r.readBit() {
		return errInvalid("ics_reserved_bit set")
	}
	info.seq = int(r.read(2))
	info.shape = int(r.read(1))
	if info.seq == eightShortSequence {
		info.maxSfb = int(r.read(4))
		grouping := r.read(7)
		info.numWindows = maxWindows
		info.numGroups = 1
		info.groupLen = [maxWindows]int{1}
		for w := 1; w < maxWindows; w++ {
			if grouping&(1<<(6-(w-1))) != 0 {
				info.groupLen[info.numGroups-1]++
			} else {
				info.groupLen[info.numGroups] = 1
				info.numGroups++
			}
		}
		info.swb = d.swbShort
		info.numSwb = d.numSwbShort
	} else {
		info.maxSfb = int(r.read(6))
		info.numWindows = 1
		info.numGroups = 1
		info.groupLen = [maxWindows]int{1}
		info.swb = d.swbLong
		info.numSwb = d.numSwbLong
		if r.readBit() {
			return fmt.Errorf("%w: predictor_data_present (AAC Main prediction)", ErrUnsupported)
		}
	}
	if info.maxSfb > info.numSwb {
		return errInvalid("max_sfb %d exceeds %d bands (window sequence %d)", info.maxSfb, info.numSwb, info.seq)
	}
	return nil
}

// parseICS reads individual_channel_stream(); with commonWindow the ics_info
// has already been stored in cs.info.
func (d *Decoder) parseICS(cs *channelStream, commonWindow bool) error {
	r := &d.br
	cs.globalGain = int(r.read(8))
	if !commonWindow {
		if err := d.parseICSInfo(&cs.info); err != nil {
			return err
		}
	}
	if err := d.parseSections(cs); err != nil {
		return err
	}
	if err := d.parseScalefactors(cs); err != nil {
		return err
	}
	clear(cs.q[:])
	pulsePresent := r.readBit()
	var pulseStart, numPulses int
	var pulseOff, pulseAmp [maxPulses]int
	if pulsePresent {
		if cs.info.seq == eightShortSequence {
			return errInvalid("pulse data in a short window")
		}
		numPulses = int(r.read(2)) + 1
		pulseStart = int(r.read(6))
		if pulseStart >= cs.info.numSwb {
			return errInvalid("pulse_start_sfb %d of %d bands", pulseStart, cs.info.numSwb)
		}
		for i := range numPulses {
			pulseOff[i] = int(r.read(5)) //nolint:gosec // G602: numPulses is a 2-bit field + 1, at most maxPulses (4)
			pulseAmp[i] = int(r.read(4)) //nolint:gosec // G602: as above
		}
	}
	cs.tnsPresent = r.readBit()
	if cs.tnsPresent {
		if err := d.parseTNS(cs); err != nil {
			return err
		}
	}
	if r.readBit() {
		return fmt.Errorf("%w: gain control data (AAC SSR)", ErrUnsupported)
	}
	if err := d.parseSpectralData(cs); err != nil {
		return err
	}
	if pulsePresent {
		k := int(cs.info.swb[pulseStart])
		for i := range numPulses {
			k += pulseOff[i]
			if k >= FrameLength {
				return errInvalid("pulse position %d beyond the frame", k)
			}
			if cs.q[k] > 0 {
				cs.q[k] += int32(pulseAmp[i])
			} else {
				cs.q[k] -= int32(pulseAmp[i])
			}
		}
	}
	if r.overrun() {
		return errInvalid("channel stream runs past the end of the access unit")
	}
	return nil
}

// parseSections reads section_data().
func (d *Decoder) parseSections(cs *channelStream) error {
	r := &d.br
	info := &cs.info
	sectBits := uint(5)
	if info.seq == eightShortSequence {
		sectBits = 3
	}
	esc := uint32(1)<<sectBits - 1
	for g := range info.numGroups {
		bt := cs.bandType[g*maxBandsPerWin:]
		k := 0
		for k < info.maxSfb {
			cb := uint8(r.read(4))
			if cb == reservedHCB {
				return errInvalid("reserved codebook 12 in section data")
			}
			n := 0
			for {
				incr := r.read(sectBits)
				n += int(incr)
				if incr != esc {
					break
				}
				if r.overrun() {
					return errInvalid("section data truncated")
				}
			}
			if k+n > info.maxSfb {
				return errInvalid("section of %d bands from band %d passes max_sfb %d", n, k, info.maxSfb)
			}
			for i := k; i < k+n; i++ {
				bt[i] = cb
			}
			k += n
			if r.overrun() {
				return errInvalid("section data truncated")
			}
		}
	}
	return nil
}

// parseScalefactors reads scale_factor_data() (§4.6.2.3.2) into bandVal.
func (d *Decoder) parseScalefactors(cs *channelStream) error {
	r := &d.br
	info := &cs.info
	sf := cs.globalGain
	isPos := 0
	nrg := cs.globalGain - 90
	firstNoise := true
	for g := range info.numGroups {
		base := g * maxBandsPerWin
		for sfb := range info.maxSfb {
			switch cs.bandType[base+sfb] {
			case zeroHCB:
				cs.bandVal[base+sfb] = 0
			case intensityHCB, intensityHCB2:
				v := r.decodeHuff(&scalefactorDecode)
				if v < 0 {
					return errInvalid("bad intensity position codeword")
				}
				isPos += v - 60
				cs.bandVal[base+sfb] = int32(isPos)
			case noiseHCB:
				if firstNoise {
					nrg += int(r.read(9)) - 256
					firstNoise = false
				} else {
					v := r.decodeHuff(&scalefactorDecode)
					if v < 0 {
						return errInvalid("bad noise energy codeword")
					}
					nrg += v - 60
				}
				cs.bandVal[base+sfb] = int32(nrg)
			default:
				v := r.decodeHuff(&scalefactorDecode)
				if v < 0 {
					return errInvalid("bad scalefactor codeword")
				}
				sf += v - 60
				if sf < 0 || sf > 255 {
					return errInvalid("scalefactor %d out of range 0..255", sf)
				}
				cs.bandVal[base+sfb] = int32(sf)
			}
		}
	}
	return nil
}

// parseTNS reads tns_data() (§4.6.9).
func (d *Decoder) parseTNS(cs *channelStream) error {
	r := &d.br
	short := cs.info.seq == eightShortSequence
	nFiltBits, lenBits, orderBits, maxOrder := uint(2), uint(6), uint(5), maxTNSOrderLC
	if short {
		nFiltBits, lenBits, orderBits, maxOrder = 1, 4, 3, maxTNSOrderSh
	}
	for w := range cs.info.numWindows {
		n := int(r.read(nFiltBits))
		cs.tnsNFilt[w] = n
		if n == 0 {
			continue
		}
		coefRes := 3 + int(r.read(1))
		for f := range n {
			flt := &cs.tns[w][f]
			flt.length = int(r.read(lenBits))
			flt.order = int(r.read(orderBits))
			if flt.order > maxOrder {
				return errInvalid("TNS order %d exceeds %d", flt.order, maxOrder)
			}
			if flt.order == 0 {
				continue
			}
			flt.down = r.readBit()
			bits := uint(coefRes) - uint(r.read(1))
			for i := range flt.order {
				v := int(r.read(bits))
				if v >= 1<<(bits-1) { // two's complement
					v -= 1 << bits
				}
				if coefRes == 3 {
					flt.refl[i] = tnsCoef3[v+4]
				} else {
					flt.refl[i] = tnsCoef4[v+8]
				}
			}
		}
	}
	return nil
}

// parseSpectralData reads spectral_data() into cs.q, de-interleaving short
// windows into window order.
func (d *Decoder) parseSpectralData(cs *channelStream) error {
	r := &d.br
	info := &cs.info
	swb := info.swb
	win := 0
	for g := range info.numGroups {
		base := g * maxBandsPerWin
		for sfb := 0; sfb < info.maxSfb; sfb++ {
			cb := cs.bandType[base+sfb]
			if cb == zeroHCB || cb >= noiseHCB {
				continue
			}
			book := &spectralBooks[cb]
			lo, hi := int(swb[sfb]), int(swb[sfb+1])
			for j := range info.groupLen[g] {
				line := cs.q[(win+j)*shortLines:]
				for k := lo; k < hi; k += book.dim {
					sym := r.decodeHuff(&book.decode)
					if sym < 0 {
						return errInvalid("bad spectral codeword (book %d)", cb)
					}
					vals := book.values[sym*book.dim : sym*book.dim+book.dim]
					out := line[k : k+book.dim]
					if !book.unsigned {
						for i, v := range vals {
							out[i] = int32(v)
						}
						continue
					}
					for i, v := range vals {
						m := int32(v)
						if m != 0 && r.readBit() {
							m = -m
						}
						out[i] = m
					}
					if book.escape {
						for i := range out {
							if out[i] != 16 && out[i] != -16 {
								continue
							}
							n := 0
							for r.readBit() {
								n++
								if n > maxEscPrefix {
									return errInvalid("escape prefix longer than %d", maxEscPrefix)
								}
							}
							d.stats.escapes++
							m := int32(1)<<(n+4) + int32(r.read(uint(n+4)))
							if out[i] < 0 {
								m = -m
							}
							out[i] = m
						}
					}
				}
				if r.overrun() {
					return errInvalid("spectral data truncated")
				}
			}
		}
		win += info.groupLen[g]
	}
	return nil
}
