package aac

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Test streams are made at test time by ffmpeg's native AAC encoder from
// lavfi sources (and espeak-ng for speech), decoded by ffmpeg's float
// decoder as the reference, and by this package.

const (
	minSNR       = 80.0 // dB, ours vs ffmpeg's decoder
	maxPNSDiffDB = 1.0  // band energy tolerance where noise is random
	testSeconds  = 2
)

// signal names a test input; src returns ffmpeg input arguments for it.
type signal struct {
	name     string
	channels int
	src      func(t *testing.T, dir string, rate int) []string
}

func lavfi(expr string) []string { return []string{"-f", "lavfi", "-i", expr} }

var (
	sigSine = signal{"sine", 1, func(_ *testing.T, _ string, rate int) []string {
		return lavfi(fmt.Sprintf("sine=frequency=997:sample_rate=%d:duration=%d", rate, testSeconds))
	}}
	// A linear chirp from 50 Hz to 90% of Nyquist.
	sigSweep = signal{"sweep", 1, func(_ *testing.T, _ string, rate int) []string {
		f1 := 0.45 * float64(rate)
		return lavfi(fmt.Sprintf("aevalsrc='0.5*sin(2*PI*(50*t+%g*t*t))':s=%d:d=%d", (f1-50)/(2*testSeconds), rate, testSeconds))
	}}
	sigNoise = signal{"noise", 1, func(_ *testing.T, _ string, rate int) []string {
		return lavfi(fmt.Sprintf("anoisesrc=color=white:amplitude=0.3:sample_rate=%d:duration=%d:seed=7", rate, testSeconds))
	}}
	// Sharp clicks four times a second over a quiet tone force short windows.
	sigClicks = signal{"clicks", 1, func(_ *testing.T, _ string, rate int) []string {
		return lavfi(fmt.Sprintf("aevalsrc='0.02*sin(2*PI*330*t)+0.8*lt(mod(t\\,0.25)\\,0.0015)*sin(2*PI*3000*t)':s=%d:d=%d", rate, testSeconds))
	}}
	// Stereo with different content per channel: chirp left, tone plus noise right.
	sigStereo = signal{"stereo", 2, func(_ *testing.T, _ string, rate int) []string {
		return lavfi(fmt.Sprintf("aevalsrc='0.4*sin(2*PI*(100*t+%g*t*t))|0.3*sin(2*PI*523*t)+0.05*(2*random(0)-1)':s=%d:d=%d",
			(0.4*float64(rate)-100)/(2*testSeconds), rate, testSeconds))
	}}
	// Nearly identical channels (a shared tone, a small difference) invite
	// M/S and intensity stereo.
	sigStereoNear = signal{"stereo-near", 2, func(_ *testing.T, _ string, rate int) []string {
		return lavfi(fmt.Sprintf("aevalsrc='0.4*sin(2*PI*440*t)+0.2*sin(2*PI*6100*t)+0.1*sin(2*PI*9300*t)|0.38*sin(2*PI*440*t)+0.15*sin(2*PI*6100*t)+0.12*sin(2*PI*9300*t+1)':s=%d:d=%d", rate, testSeconds))
	}}
	sigSpeech = signal{"speech", 1, func(t *testing.T, dir string, _ int) []string {
		wav := filepath.Join(dir, "speech.wav")
		if _, err := os.Stat(wav); err != nil {
			run(t, "espeak-ng", "-w", wav, "The quick brown fox jumps over the lazy dog. Audio codecs are fun to test.")
		}
		return []string{"-i", wav}
	}}
)

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// encodeWithFFmpeg makes an ADTS file and returns its bytes and ffmpeg's own
// decode of it (interleaved float32).
func encodeWithFFmpeg(t *testing.T, sig signal, rate, bitrate int, opts []string) (adts []byte, ref []float32) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "x.aac")
	args := []string{"-hide_banner", "-loglevel", "error", "-y"}
	args = append(args, sig.src(t, dir, rate)...)
	args = append(args, "-ac", strconv.Itoa(sig.channels), "-ar", strconv.Itoa(rate),
		"-c:a", "aac", "-b:a", strconv.Itoa(bitrate))
	args = append(args, opts...)
	args = append(args, "-f", "adts", out)
	run(t, "ffmpeg", args...)
	adts, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	raw := run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", out, "-f", "f32le", "-c:a", "pcm_f32le", "-")
	ref = make([]float32, len(raw)/4)
	for i := range ref {
		ref[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return adts, ref
}

// frameSnap records what the decoder did with one channel of one frame, for
// the MDCT-domain comparison of PNS streams.
type frameSnap struct {
	info      icsInfo
	prevShape int
	bandType  [maxWindows * maxBandsPerWin]uint8
	random    [maxWindows * maxBandsPerWin]bool // band holds PNS noise (or IS of noise)
	tns       bool
	tnsNFilt  [maxWindows]int
	tnsFilt   [maxWindows][maxTNSFilters]tnsFilter
	spec      [FrameLength]float64 // what went into the IMDCT
}

// decodeADTSStream decodes a whole ADTS stream with this package.
func decodeADTSStream(t *testing.T, adts []byte) ([]float32, *Decoder, [][]frameSnap) {
	t.Helper()
	frames, err := SplitADTS(adts)
	if err != nil {
		t.Fatalf("split ADTS: %v", err)
	}
	if len(frames) == 0 {
		t.Fatal("no ADTS frames")
	}
	d, err := NewDecoderConfig(frames[0].Header.Config())
	if err != nil {
		t.Fatal(err)
	}
	var pcm []float32
	var snaps [][]frameSnap
	for i := range frames {
		snap := make([]frameSnap, d.channels)
		for ch := range snap {
			snap[ch].prevShape = d.state[ch].prevShape
		}
		// Exercise both entry points: whole ADTS frames and raw AUs.
		var out []float32
		if i%2 == 0 {
			out, err = d.Decode(frames[i].Payload)
		} else {
			var frame []byte
			frame, err = AppendADTSHeader(nil, frames[i].Header, len(frames[i].Payload))
			if err == nil {
				out, err = d.DecodeADTS(append(frame, frames[i].Payload...))
			}
		}
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		pcm = append(pcm, out...)
		for ch := range snap {
			cs := &d.cs[ch]
			sn := &snap[ch]
			sn.info, sn.bandType, sn.tns, sn.spec = cs.info, cs.bandType, cs.tnsPresent, cs.spec
			sn.tnsNFilt, sn.tnsFilt = cs.tnsNFilt, cs.tns
			for b, bt := range cs.bandType {
				sn.random[b] = bt == noiseHCB
				if ch == 1 && (bt == intensityHCB || bt == intensityHCB2) {
					sn.random[b] = d.cs[0].bandType[b] == noiseHCB
				}
			}
		}
		snaps = append(snaps, snap)
	}
	return pcm, d, snaps
}

func snrDB(ref, got []float32) float64 {
	var sig, noise float64
	for i := range ref {
		r := float64(ref[i])
		e := r - float64(got[i])
		sig += r * r
		noise += e * e
	}
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(sig/noise)
}

// mdctResult is the outcome of compareMDCT.
type mdctResult struct {
	snr         float64 // over deterministic bands, dB
	worstDB     float64 // largest band energy difference in random (PNS) bands
	randomBands int
}

// compareMDCT recovers the spectrum behind ffmpeg's output by a forward MDCT
// with the window sequence our decoder saw (the filter bank reconstructs
// perfectly, so this gives back the coefficients ffmpeg fed to its IMDCT),
// then compares it with ours: energy per band where the band is noise, and
// SNR over the other bands. Both spectra are compared before TNS (its
// exact inverse is applied to both), where PNS sets the band energy.
func compareMDCT(d *Decoder, snaps [][]frameSnap, ref []float32) mdctResult {
	var res mdctResult
	nch := d.channels
	long, short := newIMDCT(longWindowLen), newIMDCT(shortWindowLen)
	block := make([]float64, longWindowLen)
	folded := make([]float64, FrameLength)
	got := make([]float64, FrameLength)
	var sig, noise float64
	for i := 0; i+1 < len(snaps) && (i+2)*FrameLength*nch <= len(ref); i++ {
		for ch := range nch {
			sn := &snaps[i][ch]
			for n := range block {
				block[n] = float64(ref[(i*FrameLength+n)*nch+ch]) * 32768
			}
			info := &sn.info
			if info.seq == eightShortSequence {
				for w := range maxWindows {
					win := d.tab.short[info.shape][:]
					rise := d.tab.short[info.shape][:]
					if w == 0 {
						rise = d.tab.short[sn.prevShape][:]
					}
					mdctForward(short, block[448+w*shortLines:], rise, win, folded[:shortLines], got[w*shortLines:])
				}
			} else {
				z := make([]float64, longWindowLen)
				lw := &d.tab.long
				sw := &d.tab.short
				for n := range z {
					switch {
					case n < FrameLength && info.seq == longStopSequence:
						switch {
						case n < 448:
						case n < 576:
							z[n] = sw[sn.prevShape][n-448]
						default:
							z[n] = 1
						}
					case n < FrameLength:
						z[n] = lw[sn.prevShape][n]
					case info.seq == longStartSequence:
						switch {
						case n < 1472:
							z[n] = 1
						case n < 1600:
							z[n] = sw[info.shape][n-1344]
						}
					default:
						z[n] = lw[info.shape][n]
					}
				}
				mdctForward(long, block, z[:FrameLength], z, folded, got)
			}
			// Undo TNS on both spectra: noise energy is set before TNS.
			if sn.tns {
				d.tnsFilters(info, &sn.tnsNFilt, &sn.tnsFilt, sn.spec[:], true)
				d.tnsFilters(info, &sn.tnsNFilt, &sn.tnsFilt, got, true)
			}
			w0 := 0
			for g := range info.numGroups {
				for j := range info.groupLen[g] {
					w := w0 + j
					off := w * shortLines
					for sfb := range info.maxSfb {
						lo, hi := off+int(info.swb[sfb]), off+int(info.swb[sfb+1])
						if sn.random[g*maxBandsPerWin+sfb] {
							var eo, er float64
							for k := lo; k < hi; k++ {
								eo += sn.spec[k] * sn.spec[k]
								er += got[k] * got[k]
							}
							if eo == 0 && er == 0 {
								continue
							}
							res.randomBands++
							res.worstDB = math.Max(res.worstDB, math.Abs(10*math.Log10(eo/er)))
							continue
						}
						for k := lo; k < hi; k++ {
							e := sn.spec[k] - got[k]
							sig += got[k] * got[k]
							noise += e * e
						}
					}
				}
				w0 += info.groupLen[g]
			}
		}
	}
	res.snr = 10 * math.Log10(sig/noise)
	return res
}

// mdctForward computes the forward MDCT (README section 5, X[k] = 2 sum
// z[n] cos(...)) of x[:2M] windowed by rise (first half) and fall (second
// half, indexed by n in [M, 2M)), using the decoder's DCT-IV.
func mdctForward(t *imdct, x, rise, fall, v, out []float64) {
	m := t.m
	h := m / 2
	z := func(n int) float64 {
		if n < m {
			return x[n] * rise[n]
		}
		return x[n] * fall[n]
	}
	for j := range h {
		v[j] = -z(3*h-1-j) - z(3*h+j)
	}
	for j := h; j < m; j++ {
		v[j] = z(j-h) - z(3*h-1-j)
	}
	t.dct4(v[:m], out[:m])
	for k := range m {
		out[k] *= 2 * float64(m)
	}
}

// tool says which coding tool a stream must exercise.
type tool string

const (
	toolNone  tool = ""
	toolMS    tool = "ms"
	toolIS    tool = "is"
	toolTNS   tool = "tns"
	toolPNS   tool = "pns"
	toolShort tool = "short"
	toolEsc   tool = "escape"
)

// Encoder options: everything off but what the row asks for.
var (
	optsPlain = []string{"-aac_pns", "0", "-aac_is", "0", "-aac_tns", "0"}
	optsMS    = []string{"-aac_ms", "1", "-aac_pns", "0", "-aac_is", "0", "-aac_tns", "0"}
	optsIS    = []string{"-aac_is", "1", "-aac_pns", "0", "-aac_tns", "0"}
	optsTNS   = []string{"-aac_tns", "1", "-aac_pns", "0", "-aac_is", "0"}
	optsPNS   = []string{"-aac_pns", "1", "-aac_is", "0", "-aac_tns", "0"}
	optsAll   = []string{"-aac_pns", "1", "-aac_is", "1", "-aac_tns", "1"}
)

type ffmpegCase struct {
	sig     signal
	rate    int
	bitrate int
	opts    []string
	tool    tool
}

func (c ffmpegCase) name() string {
	return fmt.Sprintf("%s/%d/%dk/%s", c.sig.name, c.rate, c.bitrate/1000, strings.Join(c.opts, ""))
}

func ffmpegCases() []ffmpegCase {
	var cs []ffmpegCase
	// Every standard sampling rate, sweep through the whole band.
	for _, rate := range []int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350} {
		cs = append(cs, ffmpegCase{sigSweep, rate, min(2*rate, 128000), optsPlain, toolNone})
	}
	cs = append(cs,
		ffmpegCase{sigSine, 44100, 64000, optsPlain, toolNone},
		ffmpegCase{sigNoise, 48000, 96000, optsPlain, toolNone},
		ffmpegCase{sigNoise, 32000, 256000, optsPlain, toolEsc},
		// Bitrate extremes: starved mono, and loud stereo at 96 kHz.
		ffmpegCase{sigSpeech, 8000, 8000, optsAll, toolNone},
		ffmpegCase{sigStereo, 96000, 512000, optsAll, toolEsc},
		ffmpegCase{sigStereo, 44100, 128000, append([]string{"-aac_coder", "fast"}, optsAll...), toolNone},
		ffmpegCase{sigClicks, 44100, 128000, optsPlain, toolShort},
		ffmpegCase{sigClicks, 16000, 32000, optsTNS, toolShort},
		ffmpegCase{sigSpeech, 22050, 48000, optsPlain, toolNone},
		ffmpegCase{sigSpeech, 16000, 24000, optsTNS, toolTNS},
		ffmpegCase{sigSpeech, 44100, 96000, optsTNS, toolTNS},
		ffmpegCase{sigSpeech, 48000, 128000, optsTNS, toolTNS},
		ffmpegCase{sigStereo, 48000, 160000, optsPlain, toolNone},
		// Channel layout from a program_config_element (ADTS channel
		// configuration 0).
		ffmpegCase{sigStereo, 44100, 128000, append([]string{"-aac_pce", "1"}, optsPlain...), toolNone},
		ffmpegCase{sigSpeech, 16000, 32000, append([]string{"-aac_pce", "1"}, optsPlain...), toolNone},
		ffmpegCase{sigStereo, 44100, 96000, optsMS, toolMS},
		ffmpegCase{sigStereoNear, 48000, 128000, optsMS, toolMS},
		ffmpegCase{sigStereoNear, 44100, 64000, optsIS, toolIS},
		ffmpegCase{sigStereo, 32000, 64000, optsIS, toolIS},
		ffmpegCase{sigNoise, 44100, 48000, optsPNS, toolPNS},
		ffmpegCase{sigStereo, 48000, 64000, optsPNS, toolPNS},
		ffmpegCase{sigSpeech, 24000, 32000, optsAll, toolPNS},
	)
	return cs
}

// TestDecodeMatchesFFmpeg compares this decoder with ffmpeg's on streams from
// ffmpeg's encoder: SNR >= 80 dB, or for streams with PNS, band energies
// within 1 dB (the noise itself is random).
func TestDecodeMatchesFFmpeg(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "espeak-ng"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required for this test: %v", tool, err)
		}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-56s %7s %8s %10s  %s\n", "stream", "frames", "SNR dB", "PNS dB", "tools seen")
	for _, c := range ffmpegCases() {
		t.Run(c.name(), func(t *testing.T) {
			adts, ref := encodeWithFFmpeg(t, c.sig, c.rate, c.bitrate, c.opts)
			got, d, snaps := decodeADTSStream(t, adts)
			if len(got) != len(ref) {
				t.Fatalf("decoded %d samples, ffmpeg %d", len(got), len(ref))
			}
			st := d.stats
			snr := snrDB(ref, got)
			pns := "-"
			if st.pnsBands > 0 {
				// The noise is random: compare in the MDCT domain instead,
				// band by band, frame by frame.
				cmp := compareMDCT(d, snaps, ref)
				pns = fmt.Sprintf("%.3f/%d", cmp.worstDB, cmp.randomBands)
				snr = cmp.snr
				if cmp.randomBands == 0 || cmp.worstDB > maxPNSDiffDB {
					t.Errorf("PNS stream: worst band energy difference %.2f dB over %d bands, want <= %.1f", cmp.worstDB, cmp.randomBands, maxPNSDiffDB)
				}
			}
			if snr < minSNR {
				t.Errorf("SNR %.1f dB, want >= %.0f", snr, minSNR)
			}
			seen := fmt.Sprintf("short=%d kbd=%d esc=%d ms=%d is=%d pns=%d tns=%d", st.shortFrames, st.kbdFrames, st.escapes, st.msBands, st.isBands, st.pnsBands, st.tnsFilter)
			fmt.Fprintf(&table, "%-56s %7d %8.1f %10s  %s\n", c.name(), st.frames, snr, pns, seen)
			var used int
			switch c.tool {
			case toolMS:
				used = st.msBands
			case toolIS:
				used = st.isBands
			case toolTNS:
				used = st.tnsFilter
			case toolPNS:
				used = st.pnsBands
			case toolShort:
				used = st.shortFrames
			case toolEsc:
				used = st.escapes
			default:
				used = 1
			}
			if used == 0 {
				t.Errorf("stream never used %s; the row tests nothing", c.tool)
			}
		})
	}
	t.Log(table.String())
}

// TestRejectsUnsupportedStreams feeds real ffmpeg streams this decoder does
// not handle: 5.1, and AAC Main profile signalled in ADTS.
func TestRejectsUnsupportedStreams(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "51.aac")
	run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
		"sine=frequency=440:sample_rate=48000:duration=0.2", "-af", "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0",
		"-c:a", "aac", "-b:a", "256k", "-f", "adts", out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := SplitADTS(data)
	if err != nil || len(frames) == 0 {
		t.Fatalf("split: %d frames, %v", len(frames), err)
	}
	if _, err := NewDecoderConfig(frames[0].Header.Config()); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("5.1 stream: %v, want ErrUnsupported", err)
	}
	// The same stream's frames fed to a stereo decoder are refused, not
	// misdecoded.
	d, _ := NewDecoderConfig(fuzzConfigs[1])
	if _, err := d.DecodeADTS(data[:frames[0].Header.FrameLength]); !errors.Is(err, ErrInvalid) {
		t.Fatalf("5.1 frame into a stereo decoder: %v", err)
	}
	if _, err := d.Decode(frames[0].Payload); err == nil {
		t.Fatal("5.1 access unit decoded by a stereo decoder")
	}
	h := frames[0].Header
	h.ObjectType = ObjectTypeMain
	if _, err := NewDecoderConfig(h.Config()); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Main profile: %v", err)
	}
}

func TestNewDecoderRejects(t *testing.T) {
	cases := []struct {
		name string
		asc  []byte
		want error
	}{
		{"main", mustASC(t, Config{ObjectType: ObjectTypeMain, SampleRate: 44100, ChannelConfig: 2}), ErrUnsupported},
		{"ssr", mustASC(t, Config{ObjectType: ObjectTypeSSR, SampleRate: 44100, ChannelConfig: 2}), ErrUnsupported},
		{"ltp", mustASC(t, Config{ObjectType: ObjectTypeLTP, SampleRate: 44100, ChannelConfig: 2}), ErrUnsupported},
		{"5.1", mustASC(t, Config{ObjectType: ObjectTypeLC, SampleRate: 48000, ChannelConfig: 6}), ErrUnsupported},
		{"960", mustASC(t, Config{ObjectType: ObjectTypeLC, SampleRate: 48000, ChannelConfig: 2, FrameLength: 960}), ErrUnsupported},
		// HE-AAC explicit, hierarchical: AOT 5, 24 kHz core, 48 kHz SBR, core AOT 2.
		{"sbr-explicit", []byte{0x2b, 0x11, 0x88, 0x00}, ErrUnsupported},
		// HE-AAC v2: AOT 29.
		{"ps-explicit", []byte{0xeb, 0x11, 0x88, 0x00}, ErrUnsupported},
		// Backward-compatible SBR signalling after an AAC-LC config.
		{"sbr-compatible", []byte{0x13, 0x10, 0x56, 0xe5, 0x98}, ErrUnsupported},
		{"short", []byte{0x12}, ErrInvalid},
		{"reserved-rate", []byte{0x16, 0x90}, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewDecoder(c.asc)
			if !errors.Is(err, c.want) {
				t.Fatalf("NewDecoder(%x) = %v, want %v", c.asc, err, c.want)
			}
			t.Log(err)
		})
	}
}

func mustASC(t *testing.T, c Config) []byte {
	t.Helper()
	if c.FrameLength == 0 {
		c.FrameLength = FrameLength
	}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkDecode decodes a 48 kHz stereo stream (128 kbit/s, all of
// ffmpeg's coding tools on) frame by frame on one goroutine. x-realtime is
// audio seconds decoded per wall-clock second; x-realtime-cpu per second of
// the process's CPU time, which stays meaningful on a machine shared with
// other work (run the benchmark alone: -run '^$').
func BenchmarkDecode(b *testing.B) {
	dir := b.TempDir()
	out := filepath.Join(dir, "bench.aac")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "aevalsrc='0.4*sin(2*PI*(100*t+2000*t*t))+0.05*(2*random(0)-1)|0.3*sin(2*PI*523*t)+0.1*(2*random(1)-1)':s=48000:d=4",
		"-c:a", "aac", "-b:a", "128000", "-f", "adts", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	frames, err := SplitADTS(data)
	if err != nil {
		b.Fatal(err)
	}
	d, err := NewDecoderConfig(frames[0].Header.Config())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	cpu0 := processCPUSeconds()
	for b.Loop() {
		if _, err := d.Decode(frames[i%len(frames)].Payload); err != nil {
			b.Fatal(err)
		}
		i++
	}
	audio := float64(i) * FrameLength / 48000
	if sec := b.Elapsed().Seconds(); sec > 0 {
		b.ReportMetric(audio/sec, "x-realtime")
	}
	// The same against CPU time: stable on a machine shared with others.
	if cpu := processCPUSeconds() - cpu0; cpu > 0 && cpu0 > 0 {
		b.ReportMetric(audio/cpu, "x-realtime-cpu")
	}
}

// testBits is a minimal MSB-first bit writer for splicing access units.
type testBits struct {
	b []byte
	n int
}

func (w *testBits) put(v uint32, bits int) {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>i&1 != 0 {
			w.b[w.n/8] |= 0x80 >> (w.n % 8)
		}
		w.n++
	}
}

// spliceBeforeEnd copies the first endBit bits of au, lets add write more
// elements, then closes the block with END and byte alignment.
func spliceBeforeEnd(au []byte, endBit int, add func(w *testBits)) []byte {
	var w testBits
	for i := range endBit {
		w.put(uint32(au[i/8]>>(7-i%8))&1, 1)
	}
	add(&w)
	w.put(idEND, 3)
	return w.b
}

// TestImplicitSBRDecodesCore adds SBR extension payloads (fill elements with
// EXT_SBR_DATA, as implicitly signalled HE-AAC carries them) and a data
// stream element to every access unit: the output must not change.
func TestImplicitSBRDecodesCore(t *testing.T) {
	for _, s := range testStreams {
		frames := loadTestFrames(t, s.file)
		plain, _ := NewDecoderConfig(fuzzConfigs[s.cfg])
		spliced, _ := NewDecoderConfig(fuzzConfigs[s.cfg])
		for i, fr := range frames {
			want, err := plain.Decode(fr.Payload)
			if err != nil {
				t.Fatal(err)
			}
			au := spliceBeforeEnd(fr.Payload, plain.endBit, func(w *testBits) {
				// fill_element, count 15 + esc 20 - 1 = 34 bytes:
				// extension_type EXT_SBR_DATA (0xd), then junk.
				w.put(idFIL, 3)
				w.put(15, 4)
				w.put(20, 8)
				w.put(0xd, 4)
				for k := range 34*8 - 4 {
					w.put(uint32(k*7+i)&1, 1)
				}
				// data_stream_element, byte aligned, 3 bytes.
				w.put(idDSE, 3)
				w.put(0, 4)
				w.put(1, 1)
				w.put(3, 8)
				for w.n%8 != 0 {
					w.put(0, 1)
				}
				w.put(0xabcdef, 24)
			})
			got, err := spliced.Decode(au)
			if err != nil {
				t.Fatalf("%s frame %d with SBR fill: %v", s.file, i, err)
			}
			for k := range want {
				if got[k] != want[k] {
					t.Fatalf("%s frame %d: sample %d differs", s.file, i, k)
				}
			}
		}
	}
}

// TestDecodeADTSVariants decodes frames with a CRC and frames carrying two
// raw data blocks.
func TestDecodeADTSVariants(t *testing.T) {
	frames := loadTestFrames(t, "testdata/stereo48k.aac")
	ref, _ := NewDecoderConfig(frames[0].Header.Config())
	crc, _ := NewDecoderConfig(frames[0].Header.Config())
	multi, _ := NewDecoderConfig(frames[0].Header.Config())
	var pending []float32
	for i, fr := range frames {
		want, err := ref.Decode(fr.Payload)
		if err != nil {
			t.Fatal(err)
		}
		// CRC variant: protection_absent = 0 and two (unchecked) CRC bytes.
		h := fr.Header
		hdr, _ := AppendADTSHeader(nil, h, len(fr.Payload)+2)
		hdr[1] &^= 1
		got, err := crc.DecodeADTS(append(append(hdr, 0x12, 0x34), fr.Payload...))
		if err != nil {
			t.Fatalf("frame %d with CRC: %v", i, err)
		}
		if !slicesEqual(got, want) {
			t.Fatalf("frame %d with CRC decodes differently", i)
		}
		// Two raw data blocks per frame.
		if i%2 == 0 {
			pending = append(pending[:0], want...)
			continue
		}
		pending = append(pending, want...)
		two := append(append([]byte(nil), frames[i-1].Payload...), fr.Payload...)
		h.RawBlocks = 2
		hdr, _ = AppendADTSHeader(nil, h, len(two))
		got, err = multi.DecodeADTS(append(hdr, two...))
		if err != nil {
			t.Fatalf("frames %d+%d in one ADTS frame: %v", i-1, i, err)
		}
		if !slicesEqual(got, pending) {
			t.Fatalf("frames %d+%d in one ADTS frame decode differently", i-1, i)
		}
	}
	// A header that does not match the stream is refused.
	h := frames[0].Header
	h.SampleRateIndex = 4
	hdr, _ := AppendADTSHeader(nil, h, len(frames[0].Payload))
	if _, err := ref.DecodeADTS(append(hdr, frames[0].Payload...)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mismatched header: %v", err)
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPulseData decodes a hand-assembled mono access unit with pulse data
// (ffmpeg's encoder never writes pulses): band 0 coded all-zero with book 1,
// then pulses of amplitude 3 and 5 at lines 1 and 3.
func TestPulseData(t *testing.T) {
	var w testBits
	w.put(idSCE, 3)
	w.put(0, 4)   // element_instance_tag
	w.put(100, 8) // global_gain = scalefactor 100: gain 1
	w.put(0, 1)   // ics_reserved_bit
	w.put(onlyLongSequence, 2)
	w.put(sineShape, 1)
	w.put(1, 6) // max_sfb
	w.put(0, 1) // predictor_data_present
	w.put(1, 4) // sect_cb = 1
	w.put(1, 5) // sect_len = 1
	w.put(0, 1) // scalefactor difference 0 (codeword "0")
	w.put(1, 1) // pulse_data_present
	w.put(1, 2) // number_pulse: 2 pulses
	w.put(0, 6) // pulse_start_sfb
	w.put(1, 5) // pulse_offset
	w.put(3, 4) // pulse_amp
	w.put(2, 5)
	w.put(5, 4)
	w.put(0, 1) // tns_data_present
	w.put(0, 1) // gain_control_data_present
	w.put(0, 1) // book 1 index 40 = (0,0,0,0), codeword "0"
	w.put(idEND, 3)
	d, err := NewDecoderConfig(fuzzConfigs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode(w.b); err != nil {
		t.Fatal(err)
	}
	want := []float64{0, -math.Pow(3, 4.0/3), 0, -math.Pow(5, 4.0/3), 0}
	for i, v := range want {
		if got := d.cs[0].spec[i]; math.Abs(got-v) > 1e-12 {
			t.Errorf("line %d = %v, want %v", i, got, v)
		}
	}
	// Pulse data is not allowed with short windows.
	w = testBits{}
	w.put(idSCE, 3)
	w.put(0, 4)
	w.put(100, 8)
	w.put(0, 1)
	w.put(eightShortSequence, 2)
	w.put(sineShape, 1)
	w.put(0, 4)    // max_sfb
	w.put(0x7f, 7) // one group of 8
	w.put(1, 1)    // pulse_data_present
	w.put(0, 16)
	if _, err := d.Decode(w.b); !errors.Is(err, ErrInvalid) {
		t.Fatalf("pulses in a short window: %v", err)
	}
}

func TestDecoderReset(t *testing.T) {
	frames := loadTestFrames(t, "testdata/stereo48k.aac")
	fresh, _ := NewDecoderConfig(frames[0].Header.Config())
	used, _ := NewDecoderConfig(frames[0].Header.Config())
	for _, fr := range frames[:5] {
		if _, err := used.Decode(fr.Payload); err != nil {
			t.Fatal(err)
		}
	}
	want, err := fresh.Decode(frames[9].Payload)
	if err != nil {
		t.Fatal(err)
	}
	used.Reset()
	got, err := used.Decode(frames[9].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(got, want) {
		t.Fatal("a reset decoder differs from a new one")
	}
}
