package aac

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Encoder tests run the encoder on audio generated at test time (espeak-ng
// speech resampled by ffmpeg, synthetic music in Go), write ADTS files into
// t.TempDir() and check them with ffmpeg: clean decoding, SNR against
// ffmpeg's own AAC encoder at the same bitrate, bitrate accuracy, and
// agreement of this package's decoder with ffmpeg's.

// encSignal is an encoder test input: interleaved float32 PCM.
type encSignal struct {
	name     string
	channels int
	gen      func(t *testing.T, dir string, rate int, seconds float64) []float32
}

func encRun(t testing.TB, name string, args ...string) []byte {
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

func encFloats(raw []byte) []float32 {
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

func encWriteFloats(t testing.TB, path string, pcm []float32) {
	t.Helper()
	b := make([]byte, 4*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

const encSpeechText = "Hello, this is a test of the minirtc audio encoder. " +
	"The quick brown fox jumps over the lazy dog, while seven silver ships sail past the harbour. " +
	"Please check the levels, then call me back at half past four."

// encSpeech is espeak-ng speech resampled to rate, cut or padded to seconds;
// for two channels the right channel is a quieter, delayed copy.
func encSpeech(channels int) func(t *testing.T, dir string, rate int, seconds float64) []float32 {
	return func(t *testing.T, dir string, rate int, seconds float64) []float32 {
		wav := filepath.Join(dir, "speech.wav")
		if _, err := os.Stat(wav); err != nil {
			encRun(t, "espeak-ng", "-w", wav, encSpeechText)
		}
		mono := encFloats(encRun(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", wav,
			"-ac", "1", "-ar", strconv.Itoa(rate), "-f", "f32le", "-"))
		n := int(seconds * float64(rate))
		out := make([]float32, n*channels)
		for i := 0; i < n; i++ {
			v := float32(0)
			if i < len(mono) {
				v = mono[i]
			}
			out[i*channels] = v
			if channels == 2 {
				if j := i - 331; j >= 0 && j < len(mono) {
					out[i*2+1] = 0.7 * mono[j]
				}
			}
		}
		return out
	}
}

// encMusic is a synthetic music-like signal: notes made of decaying
// harmonic partials with sharp onsets, plus a little noise; the right
// channel plays a different melody with different noise.
func encMusic(channels int) func(t *testing.T, dir string, rate int, seconds float64) []float32 {
	return func(_ *testing.T, _ string, rate int, seconds float64) []float32 {
		n := int(seconds * float64(rate))
		out := make([]float32, n*channels)
		melodies := [2][]float64{
			{220, 277.18, 329.63, 440, 392, 329.63, 293.66, 246.94},
			{130.81, 164.81, 196, 261.63, 523.25, 493.88, 392, 349.23},
		}
		noteLen := [2]float64{0.375, 0.5}
		for c := 0; c < channels; c++ {
			rng := rand.New(rand.NewPCG(uint64(c)+1, 99))
			fs := float64(rate)
			for i := 0; i < n; i++ {
				t := float64(i) / fs
				k := int(t / noteLen[c])
				tn := t - float64(k)*noteLen[c]
				f0 := melodies[c][k%len(melodies[c])]
				env := math.Exp(-3*tn) * math.Min(1, tn*400)
				v := 0.0
				for h := 1; h <= 8; h++ {
					if f0*float64(h) < fs/2-1000 {
						v += math.Sin(2*math.Pi*f0*float64(h)*t+float64(h)) / float64(h)
					}
				}
				// A sustained pad under the notes.
				v = 0.3*env*v + 0.08*math.Sin(2*math.Pi*110*(1+float64(c)*0.5)*t)
				v += 0.02 * (rng.Float64()*2 - 1)
				out[i*channels+c] = float32(v)
			}
		}
		return out
	}
}

// encEncodeADTS encodes pcm and returns the ADTS stream and the raw AUs.
func encEncodeADTS(t testing.TB, cfg EncoderConfig, pcm []float32) ([]byte, [][]byte) {
	t.Helper()
	e, err := NewEncoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	idx := -1
	for i, r := range sampleRates {
		if r == cfg.SampleRate {
			idx = i
		}
	}
	var adts []byte
	var aus [][]byte
	add := func(out [][]byte) {
		for _, au := range out {
			aus = append(aus, append([]byte(nil), au...))
			adts, err = AppendADTSHeader(adts, ADTSHeader{ProtectionAbsent: true, ObjectType: ObjectTypeLC,
				SampleRateIndex: idx, ChannelConfig: cfg.Channels}, len(au))
			if err != nil {
				t.Fatal(err)
			}
			adts = append(adts, au...)
		}
	}
	// Feed in uneven chunks to exercise the buffering.
	frames := 700
	for len(pcm) > 0 {
		n := min(frames*cfg.Channels, len(pcm))
		out, err := e.Encode(pcm[:n])
		if err != nil {
			t.Fatal(err)
		}
		add(out)
		pcm = pcm[n:]
		frames = (frames*7/3)%5000 + 1
	}
	out, err := e.Flush()
	if err != nil {
		t.Fatal(err)
	}
	add(out)
	return adts, aus
}

// encFFmpegDecode decodes an ADTS file with ffmpeg, failing on any warning.
func encFFmpegDecode(t testing.TB, path string) []float32 {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-v", "warning", "-i", path, "-f", "f32le", "-c:a", "pcm_f32le", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg decode %s: %v\n%s", path, err, stderr.String())
	}
	// The raw ADTS demuxer always warns that it estimates the duration from
	// the bitrate (ffmpeg's own ADTS output gets the same line); it says
	// nothing about the stream, so it is the one line tolerated.
	var msgs []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, "Estimating duration from bitrate") {
			msgs = append(msgs, l)
		}
	}
	if s := strings.Join(msgs, "\n"); s != "" {
		t.Errorf("ffmpeg reported problems decoding %s:\n%s", filepath.Base(path), s)
	}
	return encFloats(out)
}

// encAlign finds the delay of dec against ref (both interleaved) by
// cross-correlating channel 0 over a stretch of the signal.
func encAlign(ref, dec []float32, channels, maxLag int) int {
	n := len(ref) / channels
	start := n / 4
	length := min(n/2, 48000)
	best, bestLag := math.Inf(-1), 0
	for lag := 0; lag <= maxLag; lag++ {
		if (start+lag+length)*channels > len(dec) {
			break
		}
		var xy, yy float64
		for i := start; i < start+length; i++ {
			x := float64(ref[i*channels])
			y := float64(dec[(i+lag)*channels])
			xy += x * y
			yy += y * y
		}
		if yy == 0 {
			continue
		}
		if c := xy / math.Sqrt(yy); c > best {
			best, bestLag = c, lag
		}
	}
	return bestLag
}

// encSNR is the SNR in dB of dec (delayed by lag sample frames) against ref.
func encSNR(ref, dec []float32, channels, lag int) float64 {
	var s, e float64
	for i := 0; i < len(ref); i++ {
		j := i + lag*channels
		if j >= len(dec) {
			break
		}
		r := float64(ref[i])
		d := r - float64(dec[j])
		s += r * r
		e += d * d
	}
	return 10 * math.Log10(s/math.Max(e, 1e-30))
}

// encTestRates lists the supported rates with a bitrate per channel that
// suits each.
var encTestRates = []struct{ rate, bitratePerCh int }{
	{16000, 32000}, {22050, 40000}, {24000, 48000}, {32000, 56000}, {44100, 64000}, {48000, 64000},
}

func TestEncodeDecodesCleanlyInFFmpeg(t *testing.T) {
	for _, rc := range encTestRates {
		for _, ch := range []int{1, 2} {
			t.Run(fmt.Sprintf("%d/%dch", rc.rate, ch), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				pcm := encMusic(ch)(t, dir, rc.rate, 2)
				cfg := EncoderConfig{SampleRate: rc.rate, Channels: ch, Bitrate: rc.bitratePerCh * ch}
				adts, _ := encEncodeADTS(t, cfg, pcm)
				path := filepath.Join(dir, "x.aac")
				if err := os.WriteFile(path, adts, 0o644); err != nil {
					t.Fatal(err)
				}
				dec := encFFmpegDecode(t, path)
				lag := encAlign(pcm, dec, ch, 3000)
				snr := encSNR(pcm, dec, ch, lag)
				t.Logf("delay %d, SNR %.1f dB", lag, snr)
				if lag != FrameLength {
					t.Errorf("delay %d, want %d", lag, FrameLength)
				}
				if snr < 10 {
					t.Errorf("SNR %.1f dB: decoded audio does not resemble the input", snr)
				}
			})
		}
	}
}
