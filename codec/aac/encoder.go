package aac

import (
	"errors"
	"fmt"
	"math"
)

// EncoderConfig selects the stream an Encoder produces.
type EncoderConfig struct {
	// SampleRate in Hz: 16000, 22050, 24000, 32000, 44100 or 48000.
	SampleRate int
	// Channels is 1 (one single_channel_element) or 2 (one
	// channel_pair_element with a common window and per-band M/S).
	Channels int
	// Bitrate is the target in bit/s for all channels together. It must lie
	// within 8000 bit/s per channel and the largest rate the per-channel
	// access unit limit allows (6144 bits per 1024 samples).
	Bitrate int
}

// Encoder limits and constants.
const (
	// encMaxChannelBits is the largest access unit per channel: the decoder
	// input buffer of ISO/IEC 14496-3 §4.5.3 is 6144 bits per channel, and an
	// access unit must fit into it.
	encMaxChannelBits = 6144
	// encMinChannelRate is the lowest bitrate per channel we accept; below it
	// AAC-LC has too few bits per frame for even the frame overhead plus a
	// useful bandwidth.
	encMinChannelRate = 8000
	// encMaxQuant is the largest quantized magnitude (escape limit, §4.6.3).
	encMaxQuant = 8191
	// encQuantRound is the rounding offset of the quantizer (informative in
	// the standard, which suggests 0.4054). Rounding down more often saves
	// the bits of many small values; on our speech and music tests 0.35 gave
	// a slightly better SNR and noise-to-mask ratio than 0.4054 or 0.5.
	encQuantRound = 0.35
	// encAttackRatio: a 128-sample segment whose high-pass energy exceeds
	// the energy before it (see detectAttack) by this factor is an attack.
	encAttackRatio = 15.0
	// encAttackFloor is the smallest segment energy (16-bit scale, after the
	// first-difference filter) that counts as an attack, so that noise in
	// near silence does not switch windows.
	encAttackFloor = 2e4
	encInf         = 1 << 28 // "impossible" bit cost in the section search
	// encMaxInput bounds input samples (full scale is 1): 4 leaves room for
	// overshoot of float sources while keeping the spectrum well inside what
	// scalefactor 255 with magnitude 8191 can represent.
	encMaxInput = 4.0
	maxBands    = 8 * 16 // virtual bands: groups x bands, room for 8x15 short
	inBufLen    = 3 * FrameLength
)

// Encoder is an AAC-LC encoder (ISO/IEC 14496-3 subpart 4). It turns PCM
// into raw access units (raw_data_block, §4.4.2.1), one per 1024 samples
// per channel, to be carried in ADTS, MP4, FLV/RTMP or RTP with the
// AudioSpecificConfig from AudioSpecificConfig.
//
// The stream is delayed: the decoded audio of access unit k corresponds
// to input samples (k-1)*1024 .. k*1024-1, so the decoder's output starts
// with EncoderDelay (1024) samples of silence. Block switching needs one
// frame of look-ahead, so the first access unit is returned once 2048
// samples per channel have been given; Flush returns the rest.
//
// Tools used: long and short windows with block switching and window
// grouping (sine window shape), per-band M/S in a common-window channel pair,
// scalefactors and spectral Huffman codebooks 1-11 with sections chosen by
// bit cost. Not used: TNS, PNS, intensity stereo, pulse data.
//
// An Encoder must be used by one goroutine at a time.
type Encoder struct {
	cfg      EncoderConfig
	nch      int
	rateIdx  int
	asc      []byte
	swbLong  []int
	swbShort []int
	maxSfbL  int // bandwidth limit in long bands
	maxSfbS  int // bandwidth limit in short bands

	in            [2][inBufLen]float64 // per channel: previous, current, next frame
	fill          int                  // valid samples in in[ch]
	inputSamples  int64                // samples per channel given since start
	blocksEncoded int64

	longWin  [2048]float64
	shortWin [256]float64
	mdctL    *mdctPlan
	mdctS    *mdctPlan
	z        [2048]float64

	psyL, psyS psyBands

	nextShort  bool
	nextAttack int
	prevSeq    int

	lay frameLayout
	ch  [2]chanState
	ms  [maxBands]bool
	msN int // bands with M/S on

	quantScale [256]float64 // 2^(-3/16*(sf-100))

	meanBits  float64 // target bits per frame
	reservoir float64 // bits saved below the mean so far
	resMax    float64
	maxBits   int // hard limit per access unit
	lastDelta [2]int
	evalDelta int // offset of the last evalFrame

	tune encTuning

	w     bitWriter
	arena []byte
	aus   [][]byte
}

// encTuning holds the encoder's tuning constants (one place to change
// them, and tests can compare settings).
type encTuning struct {
	// psyWeight blends the psychoacoustic threshold with a flat noise floor
	// (log domain): 1 follows the model only, 0 gives white noise. 0.35 was
	// chosen on speech and music: it keeps the SNR within about 1 dB of
	// flat noise and gives the lowest noise-to-mask ratio of the settings
	// tried (0, 0.25, 0.35, 0.5, 0.6, 1).
	psyWeight   float64
	attackRatio float64
	noMS        bool // code every band as L/R
}

func defaultTuning() encTuning {
	return encTuning{psyWeight: 0.35, attackRatio: encAttackRatio}
}

// frameLayout describes the bands of the current frame, shared by both
// channels (common window). Bands are "virtual": index g*maxSfb+b for
// window group g and scalefactor band b, each a contiguous range of the
// coefficients in transmission order (for short windows the lines of a
// group are interleaved band by band, §4.6.2.3.3).
type frameLayout struct {
	seq       int
	numGroups int
	groupLen  [8]int
	grouping  uint32 // scale_factor_grouping, 7 bits
	maxSfb    int
	nvb       int
	start     [maxBands]int
	width     [maxBands]int
}

// chanState is the per-channel working state of one frame.
type chanState struct {
	spec   [FrameLength]float64 // MDCT output, natural (window) order
	coef   [FrameLength]float64 // transmission order, after M/S
	xpow   [FrameLength]float64 // |coef|^(3/4)
	q      [FrameLength]int32
	energy [maxBands]float64
	thr    [maxBands]float64
	baseSf [maxBands]int
	minSf  [maxBands]int
	sf     [maxBands]int
	qmax   [maxBands]int32
	cost   [maxBands][12]int
	cb     [maxBands]uint8
	start  [maxBands]uint16 // bit set per codebook: DP started a section here
	bestCb [maxBands]uint8
	global int
}

// NewEncoder checks cfg and returns an encoder for it.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	idx := -1
	for i, r := range sampleRates {
		if r == cfg.SampleRate {
			idx = i
		}
	}
	switch cfg.SampleRate {
	case 16000, 22050, 24000, 32000, 44100, 48000:
	default:
		return nil, fmt.Errorf("%w: encoder sample rate %d (want 16000, 22050, 24000, 32000, 44100 or 48000)", ErrUnsupported, cfg.SampleRate)
	}
	if cfg.Channels != 1 && cfg.Channels != 2 {
		return nil, fmt.Errorf("%w: encoder with %d channels (want 1 or 2)", ErrUnsupported, cfg.Channels)
	}
	maxRate := encMaxChannelBits * cfg.SampleRate / FrameLength * cfg.Channels
	if cfg.Bitrate < encMinChannelRate*cfg.Channels || cfg.Bitrate > maxRate {
		return nil, fmt.Errorf("%w: encoder bitrate %d outside %d..%d bit/s", ErrUnsupported, cfg.Bitrate, encMinChannelRate*cfg.Channels, maxRate)
	}
	asc, err := Config{ObjectType: ObjectTypeLC, SampleRate: cfg.SampleRate, SampleRateIndex: idx,
		ChannelConfig: cfg.Channels, Channels: cfg.Channels, FrameLength: FrameLength}.Marshal()
	if err != nil {
		return nil, fmt.Errorf("aac: encoder config: %w", err)
	}
	e := &Encoder{cfg: cfg, nch: cfg.Channels, rateIdx: idx, asc: asc}
	for _, o := range swbOffsetLong[idx] {
		e.swbLong = append(e.swbLong, int(o))
	}
	for _, o := range swbOffsetShort[idx] {
		e.swbShort = append(e.swbShort, int(o))
	}
	// Audio bandwidth: wider with more bits per channel, never above 20 kHz.
	cut := math.Min(3000+float64(cfg.Bitrate/cfg.Channels)/5, math.Min(20000, float64(cfg.SampleRate)/2))
	e.maxSfbL = bandsBelow(e.swbLong, cut/(float64(cfg.SampleRate)/2)*1024)
	e.maxSfbS = bandsBelow(e.swbShort, cut/(float64(cfg.SampleRate)/2)*128)
	for i := range e.longWin {
		e.longWin[i] = math.Sin(math.Pi / 2048 * (float64(i) + 0.5))
	}
	for i := range e.shortWin {
		e.shortWin[i] = math.Sin(math.Pi / 256 * (float64(i) + 0.5))
	}
	e.mdctL = newMDCTPlan(2048)
	e.mdctS = newMDCTPlan(256)
	e.psyL = newPsyBands(e.swbLong, cfg.SampleRate, 1024)
	e.psyS = newPsyBands(e.swbShort, cfg.SampleRate, 128)
	for sf := range e.quantScale {
		e.quantScale[sf] = math.Pow(2, -0.1875*float64(sf-100))
	}
	e.tune = defaultTuning()
	e.meanBits = float64(cfg.Bitrate) * FrameLength / float64(cfg.SampleRate)
	e.maxBits = encMaxChannelBits * e.nch
	e.resMax = float64(e.maxBits) - e.meanBits
	e.w.buf = make([]byte, 0, e.maxBits/8+64)
	e.arena = make([]byte, 0, 8*(e.maxBits/8+64))
	e.aus = make([][]byte, 0, 8)
	e.resetStream()
	return e, nil
}

// bandsBelow returns how many bands start below line `lines`.
func bandsBelow(off []int, lines float64) int {
	n := 0
	for b := 0; b+1 < len(off); b++ {
		if float64(off[b]) < lines {
			n = b + 1
		}
	}
	return max(n, 1)
}

func (e *Encoder) resetStream() {
	e.in = [2][inBufLen]float64{}
	e.fill = FrameLength // the block before the first one is silence
	e.inputSamples = 0
	e.blocksEncoded = 0
	e.nextShort = false
	e.nextAttack = -1
	e.prevSeq = onlyLongSequence
	e.reservoir = 0
	e.lastDelta = [2]int{}
}

// AudioSpecificConfig returns the AudioSpecificConfig (ISO/IEC 14496-3
// §1.6.2.1) of the stream: AAC-LC, the sample rate and channel count.
func (e *Encoder) AudioSpecificConfig() []byte {
	return append([]byte(nil), e.asc...)
}

// EncoderDelay is the number of samples per channel by which the decoded
// stream lags the encoder's input: decoded sample n+EncoderDelay is input
// sample n. Containers that signal priming (MP4 edit lists, iTunSMPB) can
// use it to trim the start.
const EncoderDelay = FrameLength

// errPCMLength is returned for input that does not hold whole sample frames.
var errPCMLength = errors.New("aac: PCM length is not a multiple of the channel count")

// Encode takes interleaved PCM samples in [-1, 1] (any number of sample
// frames) and returns the access units completed by them, possibly none.
//
// The returned slices alias buffers owned by the encoder: they stay valid
// only until the next call to Encode or Flush. Copy them to keep them.
func (e *Encoder) Encode(pcm []float32) ([][]byte, error) {
	if len(pcm)%e.nch != 0 {
		return nil, fmt.Errorf("%w: %d samples for %d channels", errPCMLength, len(pcm), e.nch)
	}
	e.aus = e.aus[:0]
	e.arena = e.arena[:0]
	for len(pcm) > 0 {
		n := min(len(pcm)/e.nch, inBufLen-e.fill)
		if e.nch == 1 {
			dst := e.in[0][e.fill : e.fill+n]
			for i, v := range pcm[:n] {
				dst[i] = pcmSample(v)
			}
		} else {
			l, r := e.in[0][e.fill:e.fill+n], e.in[1][e.fill:e.fill+n]
			for i := range l {
				l[i] = pcmSample(pcm[2*i])
				r[i] = pcmSample(pcm[2*i+1])
			}
		}
		e.fill += n
		e.inputSamples += int64(n)
		pcm = pcm[n*e.nch:]
		if e.fill == inBufLen {
			e.encodeBlock()
		}
	}
	return e.aus, nil
}

// pcmSample scales an input sample to the 16-bit range the MDCT works in.
// Samples beyond encMaxInput (and NaN) cannot be meaningful audio; they are
// clipped (NaN becomes 0) so that no arithmetic downstream overflows.
func pcmSample(v float32) float64 {
	x := float64(v)
	if !(x > -encMaxInput) { // also catches NaN
		if x != x {
			return 0
		}
		x = -encMaxInput
	} else if x > encMaxInput {
		x = encMaxInput
	}
	return x * 32768
}

// Flush encodes the remaining input, padded with silence, so that every
// sample given to Encode appears in the decoded output, and returns the
// final access units (aliasing encoder buffers like Encode's result). The
// encoder is then reset and may start a new stream.
func (e *Encoder) Flush() ([][]byte, error) {
	e.aus = e.aus[:0]
	e.arena = e.arena[:0]
	if e.inputSamples > 0 {
		need := (e.inputSamples+FrameLength-1)/FrameLength + 1
		for e.blocksEncoded < need {
			for c := 0; c < e.nch; c++ {
				clear(e.in[c][e.fill:])
			}
			e.fill = inBufLen
			e.encodeBlock()
		}
	}
	e.resetStream()
	return e.aus, nil
}

// encodeBlock codes in[ch][0:2048] (look-ahead in[ch][2048:3072]) into one
// access unit and shifts the input by one frame.
func (e *Encoder) encodeBlock() {
	seq, attack := e.chooseWindow()
	e.buildLayout(seq, attack)
	for c := 0; c < e.nch; c++ {
		e.transform(c, seq)
		e.analyze(c)
	}
	if e.nch == 2 && !e.tune.noMS {
		e.decideMS()
	}
	for c := 0; c < e.nch; c++ {
		e.prepareQuant(&e.ch[c])
	}
	e.rateControl()
	e.writeFrame()
	e.prevSeq = seq
	e.blocksEncoded++
	for c := 0; c < e.nch; c++ {
		copy(e.in[c][:2*FrameLength], e.in[c][FrameLength:])
	}
	e.fill = 2 * FrameLength
}

// chooseWindow decides the window sequence of the current block from the
// attack decision made one frame earlier and looks for an attack in the
// next block, so that a LONG_START can precede every EIGHT_SHORT
// (§4.6.11.3.2 window sequence rules).
func (e *Encoder) chooseWindow() (seq, attack int) {
	curShort, curAttack := e.nextShort, e.nextAttack
	e.nextShort, e.nextAttack = e.detectAttack()
	leftShort := e.prevSeq == longStartSequence || e.prevSeq == eightShortSequence
	switch {
	case curShort:
		return eightShortSequence, curAttack
	case leftShort && e.nextShort:
		// A block cannot both stop and start short windows: stay short.
		return eightShortSequence, -1
	case leftShort:
		return longStopSequence, -1
	case e.nextShort:
		return longStartSequence, -1
	}
	return onlyLongSequence, -1
}

// detectAttack looks at the next block (in[ch][1024:3072]) and reports
// whether it needs short windows, and in which short window the attack is.
// Segments of 128 samples starting at block offset 448 line up with the
// short windows; the segments before each one are its reference.
// The first-difference filter keeps low-frequency swells from counting.
func (e *Encoder) detectAttack() (bool, int) {
	var seg [12]float64
	for c := 0; c < e.nch; c++ {
		x := e.in[c][FrameLength:]
		for k := range seg {
			s := 64 + 128*k
			en := 0.0
			for i := s; i < s+128; i++ {
				d := x[i] - x[i-1]
				en += d * d
			}
			seg[k] = max(seg[k], en)
		}
	}
	for j := 0; j <= 8; j++ {
		k := j + 3
		// Against the three segments before it, or, for an attack that
		// starts within the previous segment, the pair against the two
		// before that.
		ref := (seg[k-1] + seg[k-2] + seg[k-3]) / 3
		pair, ref2 := seg[k]+seg[k-1], seg[k-2]+seg[k-3]
		if seg[k] > encAttackFloor && (seg[k] > e.tune.attackRatio*ref || pair > e.tune.attackRatio*ref2) {
			return true, min(j, 7)
		}
	}
	return false, -1
}

// buildLayout sets up groups and virtual bands for the window sequence.
// Short windows are grouped around the attack: the windows before it, the
// attack window, and the windows after it.
func (e *Encoder) buildLayout(seq, attack int) {
	L := &e.lay
	L.seq = seq
	if seq != eightShortSequence {
		L.numGroups = 1
		L.groupLen[0] = 1
		L.maxSfb = e.maxSfbL
		L.grouping = 0
		for b := 0; b < L.maxSfb; b++ {
			L.start[b] = e.swbLong[b]
			L.width[b] = e.swbLong[b+1] - e.swbLong[b]
		}
		L.nvb = L.maxSfb
		return
	}
	L.numGroups = 0
	add := func(n int) {
		if n > 0 {
			L.groupLen[L.numGroups] = n
			L.numGroups++
		}
	}
	if attack < 0 {
		add(8)
	} else {
		add(attack)
		add(1)
		add(7 - attack)
	}
	// Grouping bits: window w (1..7) joins the previous group when it is not
	// the first window of a group.
	L.grouping = 0
	w := 0
	for g := 0; g < L.numGroups; g++ {
		for j := 0; j < L.groupLen[g]; j++ {
			if w > 0 {
				L.grouping <<= 1
				if j > 0 {
					L.grouping |= 1
				}
			}
			w++
		}
	}
	L.maxSfb = e.maxSfbS
	L.nvb = L.numGroups * L.maxSfb
	w0 := 0
	for g := 0; g < L.numGroups; g++ {
		glen := L.groupLen[g]
		for b := 0; b < L.maxSfb; b++ {
			vb := g*L.maxSfb + b
			L.start[vb] = 128*w0 + e.swbShort[b]*glen
			L.width[vb] = (e.swbShort[b+1] - e.swbShort[b]) * glen
		}
		w0 += glen
	}
}

// transform windows the current block of channel c for the window
// sequence (§4.6.11.3.2) and runs the MDCT into ch[c].spec.
func (e *Encoder) transform(c, seq int) {
	x := e.in[c][:2048]
	z := e.z[:]
	spec := e.ch[c].spec[:]
	wl, ws := e.longWin[:], e.shortWin[:]
	switch seq {
	case onlyLongSequence:
		for n := range z {
			z[n] = x[n] * wl[n]
		}
	case longStartSequence:
		for n := 0; n < 1024; n++ {
			z[n] = x[n] * wl[n]
		}
		copy(z[1024:1472], x[1024:1472])
		for n := 1472; n < 1600; n++ {
			z[n] = x[n] * ws[n-1344]
		}
		clear(z[1600:])
	case longStopSequence:
		clear(z[:448])
		for n := 448; n < 576; n++ {
			z[n] = x[n] * ws[n-448]
		}
		copy(z[576:1024], x[576:1024])
		for n := 1024; n < 2048; n++ {
			z[n] = x[n] * wl[n]
		}
	case eightShortSequence:
		for j := 0; j < 8; j++ {
			s := x[448+128*j : 448+128*j+256]
			for n := range 256 {
				z[n] = s[n] * ws[n]
			}
			e.mdctS.forward(z[:256], spec[128*j:128*j+128])
		}
		return
	}
	e.mdctL.forward(z, spec)
}

// analyze runs the psychoacoustic model on channel c and puts its
// coefficients into transmission order.
func (e *Encoder) analyze(c int) {
	L := &e.lay
	cs := &e.ch[c]
	if L.seq != eightShortSequence {
		e.psyL.analyze(cs.spec[:], 1024, 1, L.maxSfb, cs.energy[:], cs.thr[:])
		copy(cs.coef[:], cs.spec[:])
		clear(cs.coef[e.swbLong[L.maxSfb]:])
		return
	}
	clear(cs.coef[:])
	w0 := 0
	for g := 0; g < L.numGroups; g++ {
		glen := L.groupLen[g]
		base := g * L.maxSfb
		e.psyS.analyze(cs.spec[128*w0:], 128, glen, L.maxSfb, cs.energy[base:], cs.thr[base:])
		for b := 0; b < L.maxSfb; b++ {
			lo := e.swbShort[b]
			wd := e.swbShort[b+1] - lo
			dst := cs.coef[L.start[base+b]:]
			for j := 0; j < glen; j++ {
				copy(dst[j*wd:(j+1)*wd], cs.spec[128*(w0+j)+lo:128*(w0+j)+lo+wd])
			}
		}
		w0 += glen
	}
}

// decideMS chooses M/S per band (§4.6.8.1) by comparing a perceptual
// entropy estimate of L/R and M/S coding, and transforms the chosen bands.
// M = (L+R)/2 and S = (L-R)/2; since the decoder's L = M+S and R = M-S carry
// the noise of both, M and S each get half the smaller L/R threshold.
func (e *Encoder) decideMS() {
	L := &e.lay
	l, r := &e.ch[0], &e.ch[1]
	e.msN = 0
	for vb := 0; vb < L.nvb; vb++ {
		e.ms[vb] = false
		s, n := L.start[vb], L.width[vb]
		el, er := l.energy[vb], r.energy[vb]
		tl, tr := l.thr[vb], r.thr[vb]
		em, es := 0.0, 0.0
		for i := s; i < s+n; i++ {
			m := (l.coef[i] + r.coef[i]) * 0.5
			d := (l.coef[i] - r.coef[i]) * 0.5
			em += m * m
			es += d * d
		}
		tms := math.Min(tl, tr) * 0.5
		peLR := math.Log2((1 + el/tl) * (1 + er/tr))
		peMS := math.Log2((1 + em/tms) * (1 + es/tms))
		if peMS >= peLR {
			continue
		}
		e.ms[vb] = true
		e.msN++
		for i := s; i < s+n; i++ {
			a, b := l.coef[i], r.coef[i]
			l.coef[i] = (a + b) * 0.5
			r.coef[i] = (a - b) * 0.5
		}
		l.energy[vb], r.energy[vb] = em, es
		l.thr[vb], r.thr[vb] = tms, tms
	}
}

// prepareQuant computes |x|^(3/4), the scalefactor each band would need to
// meet its threshold, and the smallest scalefactor that keeps the band's
// quantized values within encMaxQuant.
//
// With step g = 2^((sf-100)/4) the quantizer's noise is about
// (4/27) * g^(3/2) * sum(sqrt|x|) per band (uniform rounding error in the
// |x|^(3/4) domain carried back through the 4/3 power), so the scalefactor
// meeting threshold T is 100 + 8/3*log2(6.75*T/sum(sqrt|x|)).
func (e *Encoder) prepareQuant(cs *chanState) {
	L := &e.lay
	for vb := 0; vb < L.nvb; vb++ {
		s, n := L.start[vb], L.width[vb]
		sq, mx := 0.0, 0.0
		for i := s; i < s+n; i++ {
			a := math.Abs(cs.coef[i])
			r := math.Sqrt(a)
			p := math.Sqrt(a * r) // a^(3/4)
			cs.xpow[i] = p
			sq += r
			mx = max(mx, p)
		}
		if mx == 0 {
			cs.baseSf[vb] = encInf
			cs.minSf[vb] = 0
			continue
		}
		a := e.tune.psyWeight
		flat := math.Log2(float64(n))
		if e.nch == 2 && e.ms[vb] {
			flat-- // M and S noise both reach L and R: half each (see decideMS)
		}
		thr := a*math.Log2(cs.thr[vb]) + (1-a)*flat
		cs.baseSf[vb] = int(math.Floor(100 + 8.0/3*(thr+math.Log2(6.75/sq)) + 0.5))
		ms := 0
		if mx > encMaxQuant-encQuantRound {
			ms = int(math.Ceil(100 + 16.0/3*math.Log2(mx/(encMaxQuant-encQuantRound))))
		}
		cs.minSf[vb] = min(ms, 255)
	}
}
