package transcode

import (
	"fmt"
	"time"

	"github.com/minirtc/minirtc/codec/aac"
	"github.com/thesyncim/gopus"
)

// OpusToAACConfig tunes the Opus -> AAC bridge. Zero values mean defaults.
type OpusToAACConfig struct {
	// Channels of the AAC stream, 1 or 2 (default 1: live-pusher streams are
	// mono and mini program players mix down anyway).
	Channels int
	// Bitrate of the AAC stream in bit/s (default 64000 per channel).
	Bitrate int
}

// maxConcealment is the longest gap filled with packet loss concealment;
// a longer gap restarts the timeline.
const maxConcealment = 120 * time.Millisecond

// OpusToAAC turns Opus packets (any frame size, 48 kHz) into AAC-LC access
// units at 48 kHz for mini program players.
type OpusToAAC struct {
	dec      *gopus.Decoder
	enc      *aac.Encoder
	channels int
	asc      []byte

	pcm      []float32 // decoder output scratch: 120 ms, interleaved
	next     time.Duration
	haveNext bool
	auPTS    time.Duration // presentation time of the next access unit
	queued   int           // samples per channel given to the encoder and not yet returned as access units
}

// NewOpusToAAC builds the bridge.
func NewOpusToAAC(cfg OpusToAACConfig) (*OpusToAAC, error) {
	if cfg.Channels == 0 {
		cfg.Channels = 1
	}
	if cfg.Channels != 1 && cfg.Channels != 2 {
		return nil, fmt.Errorf("transcode: Opus -> AAC: %d channels", cfg.Channels)
	}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = 64000 * cfg.Channels
	}
	dec, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(OpusRate, cfg.Channels))
	if err != nil {
		return nil, fmt.Errorf("transcode: Opus decoder: %w", err)
	}
	enc, err := aac.NewEncoder(aac.EncoderConfig{SampleRate: OpusRate, Channels: cfg.Channels, Bitrate: cfg.Bitrate})
	if err != nil {
		return nil, fmt.Errorf("transcode: AAC encoder: %w", err)
	}
	return &OpusToAAC{
		dec:      dec,
		enc:      enc,
		channels: cfg.Channels,
		asc:      enc.AudioSpecificConfig(),
		pcm:      make([]float32, 5760*cfg.Channels),
	}, nil
}

// AudioSpecificConfig is the AAC stream's configuration (for the FLV/RTMP
// sequence header).
func (t *OpusToAAC) AudioSpecificConfig() []byte { return t.asc }

// Channels is the AAC stream's channel count.
func (t *OpusToAAC) Channels() int { return t.channels }

// SampleRate is the AAC stream's sample rate (that of the Opus input).
func (t *OpusToAAC) SampleRate() int { return OpusRate }

// Push decodes one Opus packet presented at pts and appends to dst the AAC
// access units it completes; each payload is a fresh slice. Short gaps in pts
// (lost packets) are concealed by the Opus decoder; a longer gap or a jump
// restarts the timeline. A corrupt packet is skipped with an error.
func (t *OpusToAAC) Push(dst []Frame, pkt []byte, pts time.Duration) ([]Frame, error) {
	if t.haveNext {
		gap := pts - t.next
		switch {
		case gap > maxConcealment || gap < -resyncThreshold:
			t.haveNext = false
		case gap >= 10*time.Millisecond:
			// Conceal the lost packets in 10 ms steps, then decode this one.
			for ; gap >= 10*time.Millisecond; gap -= 10 * time.Millisecond {
				n, err := t.dec.Decode(nil, t.pcm[:480*t.channels])
				if err != nil || n == 0 {
					break
				}
				var err2 error
				dst, err2 = t.encode(dst, t.pcm[:n*t.channels])
				if err2 != nil {
					return dst, err2
				}
			}
		}
	}
	if !t.haveNext {
		// Samples already inside the encoder keep their times; new ones
		// continue from the new pts.
		t.auPTS = pts - samplesDur(t.queued, OpusRate)
		t.haveNext = true
	}
	n, err := t.dec.Decode(pkt, t.pcm)
	if err != nil {
		return dst, fmt.Errorf("transcode: Opus decode: %w", err)
	}
	t.next = pts + samplesDur(n, OpusRate)
	return t.encode(dst, t.pcm[:n*t.channels])
}

func (t *OpusToAAC) encode(dst []Frame, pcm []float32) ([]Frame, error) {
	aus, err := t.enc.Encode(pcm)
	if err != nil {
		return dst, fmt.Errorf("transcode: AAC encode: %w", err)
	}
	t.queued += len(pcm) / t.channels
	for _, au := range aus {
		dst = append(dst, Frame{Payload: append([]byte(nil), au...), PTS: t.auPTS})
		t.auPTS += samplesDur(aac.FrameLength, OpusRate)
		t.queued -= aac.FrameLength
	}
	return dst, nil
}
