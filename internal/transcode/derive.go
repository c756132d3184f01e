package transcode

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/minirtc/minirtc/internal/media"
)

// Transcode directions, as a Meter names them (the metrics' direction label).
const (
	DirAACToOpus = "aac_to_opus"
	DirOpusToAAC = "opus_to_aac"
)

// Meter receives the derived tracks' metrics (internal/metrics.Protocol
// implements it). Its methods must be cheap and safe for concurrent use:
// TranscodeTime is called once per source packet.
type Meter interface {
	// TranscodeStarted and TranscodeEnded bracket one running bridge.
	TranscodeStarted(direction string)
	TranscodeEnded(direction string)
	// TranscodeTime is the time one codec call took.
	TranscodeTime(direction string, d time.Duration)
}

// DeriveConfig configures the media hub's derived audio tracks. Zero values
// mean the bridges' defaults.
type DeriveConfig struct {
	// OpusBitrate is the bit rate of Opus made from AAC (0: 32 kbit/s per channel).
	OpusBitrate int
	// AACBitrate is the bit rate of AAC made from Opus (0: 64 kbit/s per channel).
	AACBitrate int
	// AACChannels of AAC made from Opus: 1 (0 means 1) or 2.
	AACChannels int
	// Meter receives the bridges' metrics; nil: none.
	Meter Meter
}

// NewDeriveFunc returns the media hub's DeriveFunc (media.Config.Derive):
// AAC -> Opus with AACToOpus, Opus -> AAC with OpusToAAC. Each call builds
// one bridge for one stream's source track; the hub runs it on one
// goroutine at a time and closes it when the last reader that wants it
// leaves.
func NewDeriveFunc(cfg DeriveConfig) media.DeriveFunc {
	return func(src *media.Track, want media.Codec) (media.Deriver, error) {
		if src == nil {
			return nil, fmt.Errorf("transcode: no source track")
		}
		var d *deriver
		switch {
		case src.Codec == media.CodecAAC && want == media.CodecOpus:
			tr, err := NewAACToOpus(src.Config, AACToOpusConfig{Bitrate: cfg.OpusBitrate})
			if err != nil {
				return nil, err
			}
			d = &deriver{dir: DirAACToOpus, push: tr.Push, track: &media.Track{
				Codec: media.CodecOpus, Config: opusIDHeader(tr.Channels()), SampleRate: OpusRate, Channels: tr.Channels()}}
		case src.Codec == media.CodecOpus && want == media.CodecAAC:
			tr, err := NewOpusToAAC(OpusToAACConfig{Channels: cfg.AACChannels, Bitrate: cfg.AACBitrate})
			if err != nil {
				return nil, err
			}
			d = &deriver{dir: DirOpusToAAC, push: tr.Push, track: &media.Track{
				Codec: media.CodecAAC, Config: tr.AudioSpecificConfig(), SampleRate: tr.SampleRate(), Channels: tr.Channels()}}
		default:
			return nil, fmt.Errorf("transcode: cannot make %s from %s", want, src.Codec)
		}
		d.meter = cfg.Meter
		if d.meter != nil {
			d.meter.TranscodeStarted(d.dir)
		}
		return d, nil
	}
}

// deriver is one bridge as a media.Deriver.
type deriver struct {
	dir    string
	push   func(dst []Frame, payload []byte, pts time.Duration) ([]Frame, error)
	track  *media.Track
	meter  Meter
	frames []Frame
	closed bool
}

// Track is the derived track (media.DerivedTracker): known before the first
// packet.
func (d *deriver) Track() *media.Track { return d.track }

// Derive runs the bridge on one source packet. The derived packets keep the
// source's hub time (the bridges carry presentation times through).
func (d *deriver) Derive(dst []*media.Packet, src *media.Packet) ([]*media.Packet, error) {
	t0 := time.Now()
	var err error
	d.frames, err = d.push(d.frames[:0], src.Payload, src.PTS)
	if d.meter != nil {
		d.meter.TranscodeTime(d.dir, time.Since(t0))
	}
	for i, f := range d.frames {
		dst = append(dst, &media.Packet{Track: d.track, DTS: f.PTS, PTS: f.PTS, Keyframe: true, Payload: f.Payload})
		d.frames[i] = Frame{}
	}
	return dst, err
}

// Close ends the bridge (its metrics); the codecs hold no OS resources.
func (d *deriver) Close() {
	if d.closed {
		return
	}
	d.closed = true
	if d.meter != nil {
		d.meter.TranscodeEnded(d.dir)
	}
}

// opusIDHeader is the Opus identification header (RFC 7845 §5.1) of Opus
// made by AACToOpus, in the byte order the media hub's Opus tracks carry
// (the enhanced RTMP sequence header's, as internal/rtmp stores it: 16- and
// 32-bit fields big-endian): version 1, the channel count, no pre-skip,
// 48 kHz input, no gain, mapping family 0.
func opusIDHeader(channels int) []byte {
	b := make([]byte, 0, 19)
	b = append(b, "OpusHead"...)
	b = append(b, 1, byte(channels)) //nolint:gosec // G115: 1 or 2, what the Opus encoder accepted in NewAACToOpus
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, OpusRate)
	b = binary.BigEndian.AppendUint16(b, 0)
	return append(b, 0)
}
