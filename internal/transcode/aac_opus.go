package transcode

import (
	"fmt"
	"time"

	"github.com/minirtc/minirtc/codec/aac"
	"github.com/thesyncim/gopus"
)

// Opus framing used on the WebRTC side.
const (
	OpusRate        = 48000
	OpusFrame       = 20 * time.Millisecond
	opusFrameLen    = OpusRate / 50 // samples per channel in 20 ms
	maxOpusPacket   = 1275          // largest single-frame Opus packet (RFC 6716 §3.4)
	resyncThreshold = 200 * time.Millisecond
)

// Frame is one encoded audio frame with its presentation time.
type Frame struct {
	Payload []byte
	PTS     time.Duration
}

// AACToOpusConfig tunes the AAC -> Opus bridge. Zero values mean defaults.
type AACToOpusConfig struct {
	// Bitrate of the Opus stream in bit/s (default 32000 mono, 64000 stereo).
	Bitrate int
	// Complexity 0..10 (default 5: the bridge runs once per stream, but a
	// node bridges many streams; 5 keeps voice quality at half the cost of 10).
	Complexity int
}

// AACToOpus turns AAC-LC access units into 20 ms Opus packets at 48 kHz.
type AACToOpus struct {
	dec      *aac.Decoder
	rs       *Resampler
	enc      *gopus.Encoder
	channels int

	pcm     []float32 // 48 kHz samples waiting to fill a 20 ms frame, interleaved
	pcmPTS  time.Duration
	havePTS bool
	out     [maxOpusPacket]byte
}

// NewAACToOpus builds the bridge for the stream described by asc (its
// AudioSpecificConfig). The Opus stream has the AAC stream's channel count
// (mono or stereo).
func NewAACToOpus(asc []byte, cfg AACToOpusConfig) (*AACToOpus, error) {
	dec, err := aac.NewDecoder(asc)
	if err != nil {
		return nil, fmt.Errorf("transcode: AAC decoder: %w", err)
	}
	c := dec.Config()
	ch := c.Channels
	rs, err := NewResampler(c.SampleRate, OpusRate, ch)
	if err != nil {
		return nil, err
	}
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: OpusRate, Channels: ch, Application: gopus.ApplicationAudio})
	if err != nil {
		return nil, fmt.Errorf("transcode: Opus encoder: %w", err)
	}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = 32000 * ch
	}
	if cfg.Complexity == 0 {
		cfg.Complexity = 5
	}
	if err := enc.SetBitrate(cfg.Bitrate); err != nil {
		return nil, fmt.Errorf("transcode: Opus bitrate: %w", err)
	}
	if err := enc.SetComplexity(cfg.Complexity); err != nil {
		return nil, fmt.Errorf("transcode: Opus complexity: %w", err)
	}
	if err := enc.SetFrameSize(opusFrameLen); err != nil {
		return nil, fmt.Errorf("transcode: Opus frame size: %w", err)
	}
	return &AACToOpus{dec: dec, rs: rs, enc: enc, channels: ch}, nil
}

// Channels is the channel count of the Opus stream.
func (t *AACToOpus) Channels() int { return t.channels }

// Push decodes one AAC access unit presented at pts and appends to dst the
// Opus frames it completes. Each returned payload is a fresh slice the
// caller may keep and share. A gap or jump in pts larger than 200 ms drops
// the partial frame and restarts the timeline at pts. A corrupt access unit
// is skipped (the error is returned with the frames completed so far).
func (t *AACToOpus) Push(dst []Frame, au []byte, pts time.Duration) ([]Frame, error) {
	pcm, err := t.dec.Decode(au)
	if err != nil {
		return dst, fmt.Errorf("transcode: AAC decode: %w", err)
	}
	if t.havePTS {
		expect := t.pcmPTS + samplesDur(len(t.pcm)/t.channels, OpusRate)
		if d := pts - expect; d > resyncThreshold || d < -resyncThreshold {
			t.havePTS = false
		}
	}
	if !t.havePTS {
		t.pcm = t.pcm[:0]
		t.rs.Reset()
		t.pcmPTS = pts
		t.havePTS = true
	}
	t.pcm = t.rs.Process(t.pcm, pcm)
	n := opusFrameLen * t.channels
	for len(t.pcm) >= n {
		m, err := t.enc.Encode(t.pcm[:n], t.out[:])
		if err != nil {
			return dst, fmt.Errorf("transcode: Opus encode: %w", err)
		}
		if m > 0 {
			dst = append(dst, Frame{Payload: append([]byte(nil), t.out[:m]...), PTS: t.pcmPTS})
		}
		t.pcmPTS += OpusFrame
		rest := copy(t.pcm, t.pcm[n:])
		t.pcm = t.pcm[:rest]
	}
	return dst, nil
}

func samplesDur(n, rate int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / int64(rate))
}
