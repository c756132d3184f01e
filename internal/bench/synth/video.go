package synth

import (
	"encoding/binary"
	"fmt"
	"time"
)

// NAL unit types used here (Table 7-1).
const (
	nalSlice = 1
	nalIDR   = 5
	nalSPS   = 7
	nalPPS   = 8
)

// Macroblock types (Tables 7-11 and 7-13).
const (
	mbI16x16DCNoResidual = 3  // I_16x16_2_0_0: Intra_16x16 DC prediction, no coded residual
	mbIPCM               = 25 // I_PCM in an I slice
	mbIPCMInP            = 30 // I_PCM in a P slice (intra types follow the 5 P types)
	pcmMBBytes           = 256 + 2*64
)

// Limits of the generator.
const (
	// MaxSide bounds width and height: level 4.0's largest frame (8192
	// macroblocks) covers 1920x1088, more than a bench needs.
	MaxSide = 1920
	// log2MaxFrameNum sizes frame_num (log2_max_frame_num_minus4 + 4).
	log2MaxFrameNum = 8
	// idrBorrow is how many frames' budget an IDR may take ahead, so that
	// keyframes are several times larger than P pictures as in real
	// streams.
	idrBorrow = 7
)

// VideoConfig selects the synthetic stream. Zero fields take the defaults
// noted on each.
type VideoConfig struct {
	// Width and Height in pixels, multiples of 16 (default 320x240).
	Width, Height int
	// FPS is the frame rate (default 30).
	FPS int
	// GOP is the distance between IDR pictures in frames (default 2*FPS).
	GOP int
	// Bitrate is the target video bitrate in bit/s, counted as AVCC bytes
	// (NAL units plus 4-byte length prefixes). 0 means no padding: the
	// smallest stream (a few kbit/s).
	Bitrate int
}

func (c VideoConfig) withDefaults() VideoConfig {
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = 320, 240
	}
	if c.FPS == 0 {
		c.FPS = 30
	}
	if c.GOP == 0 {
		c.GOP = 2 * c.FPS
	}
	return c
}

// Validate reports the first invalid field.
func (c VideoConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Width <= 0 || c.Height <= 0 || c.Width%16 != 0 || c.Height%16 != 0 || c.Width > MaxSide || c.Height > MaxSide:
		return fmt.Errorf("synth: picture %dx%d: width and height must be multiples of 16 in 16..%d", c.Width, c.Height, MaxSide)
	case c.FPS < 1 || c.FPS > 240:
		return fmt.Errorf("synth: fps %d: want 1..240", c.FPS)
	case c.GOP < 1:
		return fmt.Errorf("synth: gop %d: want at least 1 frame", c.GOP)
	case c.Bitrate < 0:
		return fmt.Errorf("synth: bitrate %d: must not be negative", c.Bitrate)
	}
	mbs := (c.Width / 16) * (c.Height / 16)
	if most := mbs * (pcmMBBytes + 2) * 8 * c.FPS; c.Bitrate > most {
		return fmt.Errorf("synth: bitrate %d bit/s: a %dx%d picture at %d fps carries at most %d bit/s", c.Bitrate, c.Width, c.Height, c.FPS, most)
	}
	return nil
}

// Frame is one access unit: NAL units without start codes or length
// prefixes. NALUs alias the Video's buffers and stay valid only until the
// next call to Next.
type Frame struct {
	NALUs [][]byte
	// Key is true for IDR access units (which also carry the SPS and PPS).
	Key bool
	// PTS is the presentation time from the stream start (DTS is the same:
	// there are no B pictures).
	PTS   time.Duration
	Stamp Stamp
}

// Video produces the synthetic H.264 stream. Not safe for concurrent use.
type Video struct {
	cfg       VideoConfig
	mbW, mbH  int
	sps, pps  []byte
	n         uint64 // frames produced
	budget    float64
	perFrame  float64
	w         bitWriter
	rbsp      []byte
	slices    [2][]byte
	sei       []byte
	nalus     [][]byte
	pcm       [pcmMBBytes]byte
	pcmCursor int
}

// NewVideo validates cfg and builds the parameter sets.
func NewVideo(cfg VideoConfig) (*Video, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	v := &Video{cfg: cfg, mbW: cfg.Width / 16, mbH: cfg.Height / 16}
	v.perFrame = float64(cfg.Bitrate) / 8 / float64(cfg.FPS)
	v.sps = v.buildSPS()
	v.pps = v.buildPPS()
	return v, nil
}

// Config returns the effective configuration (defaults applied).
func (v *Video) Config() VideoConfig { return v.cfg }

// SPS returns the sequence parameter set NAL unit.
func (v *Video) SPS() []byte { return v.sps }

// PPS returns the picture parameter set NAL unit.
func (v *Video) PPS() []byte { return v.pps }

// level picks the smallest level (Table A-1) whose frame size, macroblock
// rate and Baseline bitrate limits hold the stream.
func (v *Video) level() byte {
	levels := []struct {
		idc      byte
		fs, mbps int
		brKbits  int
	}{
		{10, 99, 1485, 64}, {11, 396, 3000, 192}, {12, 396, 6000, 384}, {13, 396, 11880, 768},
		{20, 396, 11880, 2000}, {21, 792, 19800, 4000}, {22, 1620, 20250, 4000},
		{30, 1620, 40500, 10000}, {31, 3600, 108000, 14000}, {32, 5120, 216000, 20000},
		{40, 8192, 245760, 20000}, {42, 8704, 522240, 50000}, {51, 36864, 983040, 240000},
	}
	fs := v.mbW * v.mbH
	for _, l := range levels {
		if fs <= l.fs && fs*v.cfg.FPS <= l.mbps && v.cfg.Bitrate <= l.brKbits*1000 {
			return l.idc
		}
	}
	return 52
}

// buildSPS writes seq_parameter_set_rbsp (§7.3.2.1.1) for Constrained
// Baseline: POC type 2 (output order = decode order), one reference frame,
// and VUI timing plus bitstream_restriction with max_num_reorder_frames 0 so
// that decoders output every picture at once.
func (v *Video) buildSPS() []byte {
	w := bitWriter{}
	w.u(8, 66)   // profile_idc: Baseline
	w.u(8, 0xc0) // constraint_set0_flag and constraint_set1_flag: Constrained Baseline
	w.u(8, uint64(v.level()))
	w.ue(0)                   // seq_parameter_set_id
	w.ue(log2MaxFrameNum - 4) // log2_max_frame_num_minus4
	w.ue(2)                   // pic_order_cnt_type
	w.ue(1)                   // max_num_ref_frames
	w.flag(false)             // gaps_in_frame_num_value_allowed_flag
	w.ue(uint32(v.mbW - 1))   //nolint:gosec // G115: pic_width_in_mbs_minus1; Validate keeps the side in 16..MaxSide
	w.ue(uint32(v.mbH - 1))   //nolint:gosec // G115: pic_height_in_map_units_minus1; same bound
	w.flag(true)              // frame_mbs_only_flag
	w.flag(true)              // direct_8x8_inference_flag
	w.flag(false)             // frame_cropping_flag
	w.flag(true)              // vui_parameters_present_flag
	// vui_parameters (§E.1.1)
	w.flag(false) // aspect_ratio_info_present_flag
	w.flag(false) // overscan_info_present_flag
	w.flag(false) // video_signal_type_present_flag
	w.flag(false) // chroma_loc_info_present_flag
	w.flag(true)  // timing_info_present_flag
	w.u(32, 1)    // num_units_in_tick
	//nolint:gosec // G115: time_scale; Validate keeps FPS in 1..240
	w.u(32, uint64(2*v.cfg.FPS))
	w.flag(true)  // fixed_frame_rate_flag
	w.flag(false) // nal_hrd_parameters_present_flag
	w.flag(false) // vcl_hrd_parameters_present_flag
	w.flag(false) // pic_struct_present_flag
	w.flag(true)  // bitstream_restriction_flag
	w.flag(true)  // motion_vectors_over_pic_boundaries_flag
	w.ue(0)       // max_bytes_per_pic_denom
	w.ue(0)       // max_bits_per_mb_denom
	w.ue(16)      // log2_max_mv_length_horizontal
	w.ue(16)      // log2_max_mv_length_vertical
	w.ue(0)       // max_num_reorder_frames
	w.ue(1)       // max_dec_frame_buffering
	return escapeRBSP([]byte{0x67}, w.trailing())
}

// buildPPS writes pic_parameter_set_rbsp (§7.3.2.2): CAVLC, one slice
// group, and deblocking control so slices can turn the filter off.
func (v *Video) buildPPS() []byte {
	w := bitWriter{}
	w.ue(0)       // pic_parameter_set_id
	w.ue(0)       // seq_parameter_set_id
	w.flag(false) // entropy_coding_mode_flag: CAVLC
	w.flag(false) // bottom_field_pic_order_in_frame_present_flag
	w.ue(0)       // num_slice_groups_minus1
	w.ue(0)       // num_ref_idx_l0_default_active_minus1
	w.ue(0)       // num_ref_idx_l1_default_active_minus1
	w.flag(false) // weighted_pred_flag
	w.u(2, 0)     // weighted_bipred_idc
	w.se(0)       // pic_init_qp_minus26
	w.se(0)       // pic_init_qs_minus26
	w.se(0)       // chroma_qp_index_offset
	w.flag(true)  // deblocking_filter_control_present_flag
	w.flag(false) // constrained_intra_pred_flag
	w.flag(false) // redundant_pic_cnt_present_flag
	return escapeRBSP([]byte{0x68}, w.trailing())
}

// Next returns the next access unit, stamped with seq = frame index and the
// given send time.
func (v *Video) Next(now time.Time) Frame {
	idx := v.n
	v.n++
	inGOP := int(idx % uint64(v.cfg.GOP)) //nolint:gosec // G115: Validate keeps GOP >= 1, so the remainder is below GOP (an int)
	key := inGOP == 0
	st := Stamp{Seq: idx, Sent: now}

	v.sei = AppendStampNAL(v.sei[:0], st)
	v.nalus = v.nalus[:0]
	overhead := 4 + len(v.sei)
	if key {
		v.nalus = append(v.nalus, v.sps, v.pps)
		overhead += 8 + len(v.sps) + len(v.pps)
	}
	v.nalus = append(v.nalus, v.sei)

	// Padding: how many I_PCM macroblocks this picture carries. The budget
	// is error-diffused so that the long-run bitrate matches; an IDR
	// borrows up to idrBorrow frames' worth, like a real encoder's large
	// keyframes, and the following P pictures pay it back.
	v.budget += v.perFrame
	avail := v.budget - float64(overhead) - 16 // slice headers and skip runs
	if key {
		avail += v.perFrame * float64(min(v.cfg.GOP-1, idrBorrow))
	}
	pcmMBs := 0
	if v.perFrame > 0 && avail > 0 {
		pcmMBs = min(int(avail/(pcmMBBytes+3)), v.mbW*v.mbH)
	}
	v.fillPCM(idx)
	if key {
		v.idrSlices(uint32(idx/uint64(v.cfg.GOP)), pcmMBs) //nolint:gosec // G115: IDR count; idrSlices keeps only 16 bits (idr_pic_id), wrapping is intended
	} else {
		v.nalus = append(v.nalus, v.pSlice(uint32(inGOP), pcmMBs)) //nolint:gosec // G115: 0 <= inGOP < GOP
	}
	for _, n := range v.nalus {
		v.budget -= float64(4 + len(n))
	}
	v.budget += float64(overhead) // counted in the loop above
	if v.budget < -v.perFrame*float64(v.cfg.GOP) {
		v.budget = -v.perFrame * float64(v.cfg.GOP) // do not starve forever
	}
	return Frame{
		NALUs: v.nalus,
		Key:   key,
		PTS:   time.Duration(idx) * time.Second / time.Duration(v.cfg.FPS), //nolint:gosec // G115: frame index; 2^63 frames is out of reach
		Stamp: st,
	}
}

// idrSlices appends the slices of an IDR picture (§7.3.3, §7.3.4) to
// v.nalus: a first I slice of pcm I_PCM macroblocks (when pcm > 0), then a
// second one of Intra_16x16 DC-predicted macroblocks without residual. The
// I_PCM macroblocks are in their own slice so that they are "not available"
// to the others: with no coded coefficients in its slice, every
// Intra16x16DCLevel coeff_token has nC = 0 and is the single bit "1"
// (Table 9-5), and DC prediction from unavailable or flat neighbours gives a
// flat grey.
func (v *Video) idrSlices(idrID uint32, pcm int) {
	total := v.mbW * v.mbH
	header := func(w *bitWriter, firstMB int) {
		w.buf, w.cur, w.nCur = v.rbsp[:0], 0, 0
		w.u(8, 0x65)            // nal_ref_idc 3, nal_unit_type 5
		w.ue(uint32(firstMB))   //nolint:gosec // G115: first_mb_in_slice, below the picture's macroblock count
		w.ue(7)                 // slice_type: I (all slices of the picture)
		w.ue(0)                 // pic_parameter_set_id
		w.u(log2MaxFrameNum, 0) // frame_num
		w.ue(idrID & 0xffff)    // idr_pic_id: differs between consecutive IDRs
		w.flag(false)           // no_output_of_prior_pics_flag
		w.flag(false)           // long_term_reference_flag
		w.se(0)                 // slice_qp_delta
		w.ue(1)                 // disable_deblocking_filter_idc: off
	}
	w := &v.w
	n := 0
	if pcm > 0 {
		header(w, 0)
		for range pcm {
			w.ue(mbIPCM)
			w.alignZero() // pcm_alignment_zero_bit
			w.bytes(v.pcm[:])
		}
		v.nalus = append(v.nalus, v.escapeSlice(n, w.trailing()))
		n++
	}
	if pcm < total {
		header(w, pcm)
		for range total - pcm {
			w.ue(mbI16x16DCNoResidual)
			w.ue(0)   // intra_chroma_pred_mode: DC
			w.se(0)   // mb_qp_delta
			w.u(1, 1) // coeff_token of Intra16x16DCLevel: TotalCoeff 0, nC 0
		}
		v.nalus = append(v.nalus, v.escapeSlice(n, w.trailing()))
	}
}

// pSlice writes a P picture: skipped macroblocks except for pcm I_PCM
// macroblocks at a position that moves every frame.
func (v *Video) pSlice(frameNum uint32, pcm int) []byte {
	w := &v.w
	w.buf, w.cur, w.nCur = v.rbsp[:0], 0, 0
	w.u(8, 0x41) // nal_ref_idc 2, nal_unit_type 1
	w.ue(0)      // first_mb_in_slice
	w.ue(5)      // slice_type: P (all slices of the picture)
	w.ue(0)      // pic_parameter_set_id
	w.u(log2MaxFrameNum, uint64(frameNum%(1<<log2MaxFrameNum)))
	w.flag(false) // num_ref_idx_active_override_flag
	w.flag(false) // ref_pic_list_modification_flag_l0
	w.flag(false) // adaptive_ref_pic_marking_mode_flag
	w.se(0)       // slice_qp_delta
	w.ue(1)       // disable_deblocking_filter_idc: off

	total := v.mbW * v.mbH
	start := 0
	if pcm > 0 && pcm < total {
		start = v.pcmCursor % total
		v.pcmCursor = (start + pcm) % total
	}
	isPCM := func(mb int) bool {
		d := mb - start
		if d < 0 {
			d += total
		}
		return d < pcm
	}
	skip := uint32(0)
	for mb := range total {
		if !isPCM(mb) {
			skip++
			continue
		}
		w.ue(skip) // mb_skip_run
		skip = 0
		w.ue(mbIPCMInP)
		w.alignZero() // pcm_alignment_zero_bit
		w.bytes(v.pcm[:])
	}
	if skip > 0 {
		w.ue(skip)
	}
	return v.escapeSlice(0, w.trailing())
}

// fillPCM draws the I_PCM samples for a frame: a luma ramp that shifts with
// the frame number and neutral chroma. All samples lie in 16..235, so the
// samples themselves never need emulation prevention.
func (v *Video) fillPCM(seq uint64) {
	for i := range 256 {
		v.pcm[i] = byte(16 + (uint64(i)+seq*3)%220)
	}
	for i := 256; i < pcmMBBytes; i++ {
		v.pcm[i] = 128
	}
}

// escapeSlice turns a slice RBSP (whose first byte is the NAL header) into
// a NAL unit in v.slices[i], reusing the buffers from frame to frame.
func (v *Video) escapeSlice(i int, rbsp []byte) []byte {
	v.rbsp = rbsp
	v.slices[i] = append(v.slices[i][:0], rbsp[0])
	v.slices[i] = escapeRBSP(v.slices[i], rbsp[1:])
	return v.slices[i]
}

// AppendAVCC appends the frame's NAL units as an AVCC access unit (4-byte
// big-endian lengths).
func (f Frame) AppendAVCC(dst []byte) []byte {
	for _, n := range f.NALUs {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(n))) //nolint:gosec // G115: a NAL unit of a picture of at most MaxSide^2 pixels
		dst = append(dst, n...)
	}
	return dst
}

// AppendAnnexB appends the frame's NAL units with 4-byte start codes
// (Annex B byte stream).
func (f Frame) AppendAnnexB(dst []byte) []byte {
	for _, n := range f.NALUs {
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, n...)
	}
	return dst
}
