package synth

import (
	"fmt"
	"math"
	"time"

	"github.com/minirtc/minirtc/codec/aac"
)

// AudioConfig selects the synthetic AAC-LC stream. Zero fields take the
// defaults noted on each.
type AudioConfig struct {
	// SampleRate in Hz (default 48000).
	SampleRate int
	// Channels (default 1).
	Channels int
	// Bitrate in bit/s (default 64000).
	Bitrate int
	// ToneHz is the frequency of the tone (default 1000).
	ToneHz int
}

func (c AudioConfig) withDefaults() AudioConfig {
	if c.SampleRate == 0 {
		c.SampleRate = 48000
	}
	if c.Channels == 0 {
		c.Channels = 1
	}
	if c.Bitrate == 0 {
		c.Bitrate = 64000
	}
	if c.ToneHz == 0 {
		c.ToneHz = 1000
	}
	return c
}

// loopFrames is the number of access units in the loop: 48 frames of 1024
// samples hold a whole number of periods of any tone whose period divides
// 48*1024 samples (1000 Hz at 48 kHz: 1024 periods), so the loop is
// seamless for the default tone and nearly so for others.
const loopFrames = 48

// Audio loops a pre-encoded tone. Not safe for concurrent use.
type Audio struct {
	asc  []byte
	aus  [][]byte
	rate int
	n    uint64
}

// NewAudio encodes the tone once. It takes a few tens of milliseconds.
func NewAudio(cfg AudioConfig) (*Audio, error) {
	cfg = cfg.withDefaults()
	enc, err := aac.NewEncoder(aac.EncoderConfig{SampleRate: cfg.SampleRate, Channels: cfg.Channels, Bitrate: cfg.Bitrate})
	if err != nil {
		return nil, fmt.Errorf("synth: audio: %w", err)
	}
	// Encode three loops of a continuous tone and keep the middle one: its
	// frames were encoded with the tone both before and after them, so
	// playing them in a loop has no priming transient at the seam.
	samples := loopFrames * aac.FrameLength
	pcm := make([]float32, samples*cfg.Channels)
	a := &Audio{asc: enc.AudioSpecificConfig(), rate: cfg.SampleRate}
	var all [][]byte
	for loop := range 3 {
		for i := range samples {
			t := float64(loop*samples+i) / float64(cfg.SampleRate)
			x := float32(0.3 * math.Sin(2*math.Pi*float64(cfg.ToneHz)*t))
			for c := range cfg.Channels {
				pcm[i*cfg.Channels+c] = x
			}
		}
		out, err := enc.Encode(pcm)
		if err != nil {
			return nil, fmt.Errorf("synth: audio: %w", err)
		}
		for _, au := range out {
			all = append(all, append([]byte(nil), au...))
		}
	}
	if len(all) < 2*loopFrames {
		return nil, fmt.Errorf("synth: audio: encoder returned %d access units for %d frames", len(all), 3*loopFrames)
	}
	a.aus = all[len(all)-2*loopFrames : len(all)-loopFrames]
	return a, nil
}

// AudioSpecificConfig returns the stream's AudioSpecificConfig.
func (a *Audio) AudioSpecificConfig() []byte { return a.asc }

// SampleRate returns the sample rate in Hz.
func (a *Audio) SampleRate() int { return a.rate }

// FrameDuration is the duration of one access unit.
func (a *Audio) FrameDuration() time.Duration {
	return time.Duration(aac.FrameLength) * time.Second / time.Duration(a.rate)
}

// Next returns the next access unit (shared; do not modify) and its PTS from
// the stream start.
func (a *Audio) Next() (au []byte, pts time.Duration) {
	i := a.n
	a.n++
	return a.aus[i%uint64(len(a.aus))], time.Duration(i) * time.Duration(aac.FrameLength) * time.Second / time.Duration(a.rate) //nolint:gosec // G115: frame index; 2^63 frames is out of reach
}
