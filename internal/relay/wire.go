// Package relay carries one hub stream from the node that receives it (the
// origin) to another node (an edge, or a node a reader happened to reach)
// so that the other node's readers are served from its own hub: the origin
// sends the stream once per node, not once per reader.
//
// The transport is one HTTP response per relayed stream. Its body is the
// stream in a small framing of its own, lossless for the hub: track
// configurations and packets exactly as the origin's hub holds them (H.264
// AVCC with its parameter sets, AAC and Opus frames), starting with the
// origin's GOP cache so that the edge's readers start at a keyframe at once.
//
// Framing: the magic "MRLY1\n", then frames of a 1-byte type, a 4-byte
// big-endian body length and the body. A track frame's body is the track as
// JSON; a packet frame's body is the track kind (1 byte), flags (1 byte, bit
// 0 keyframe), DTS and PTS in nanoseconds (8 bytes each, big-endian, signed)
// and the payload. An end frame (type 3, the reason as text) closes a body
// whose stream ended at the origin; a body that stops without one means the
// origin went away (it shuts down, or the connection broke), and the pulling
// node's readers wait for the stream to come back, from this origin or
// another. The decoder bounds every length before it allocates.
package relay

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/media"
)

// Magic starts every relay body.
const Magic = "MRLY1\n"

// Frame types.
const (
	frameTrack  = 1
	framePacket = 2
	frameEnd    = 3
)

// Limits a decoder enforces before it allocates.
const (
	// MaxPacket is the largest packet payload accepted (a 4K IDR fits).
	MaxPacket = 8 << 20
	// maxTrackJSON bounds a track frame (parameter sets, codec config).
	maxTrackJSON = 64 << 10
	// maxEndReason bounds an end frame's reason (a catalogue message).
	maxEndReason = 1 << 10
	packetHeader = 1 + 1 + 8 + 8
)

// trackJSON is a media.Track on the wire.
type trackJSON struct {
	Kind       media.Kind  `json:"kind"`
	Codec      media.Codec `json:"codec"`
	VPS        [][]byte    `json:"vps,omitempty"`
	SPS        [][]byte    `json:"sps,omitempty"`
	PPS        [][]byte    `json:"pps,omitempty"`
	Config     []byte      `json:"config,omitempty"`
	Width      int         `json:"width,omitempty"`
	Height     int         `json:"height,omitempty"`
	FrameRate  float64     `json:"frameRate,omitempty"`
	SampleRate int         `json:"sampleRate,omitempty"`
	Channels   int         `json:"channels,omitempty"`
}

// Encoder writes a relay body.
type Encoder struct {
	w      *bufio.Writer
	tracks [2]*media.Track // last sent per kind
	hdr    [5 + packetHeader]byte
}

// NewEncoder writes the magic to w and returns an encoder. Call Flush after
// each batch of packets.
func NewEncoder(w io.Writer) (*Encoder, error) {
	e := &Encoder{w: bufio.NewWriterSize(w, 64<<10)}
	if _, err := e.w.WriteString(Magic); err != nil {
		return nil, err
	}
	return e, nil
}

// Encode writes p, preceded by its track when the track changed.
func (e *Encoder) Encode(p *media.Packet) error {
	k := p.Kind()
	if e.tracks[k] != p.Track {
		if err := e.writeTrack(p.Track); err != nil {
			return err
		}
		e.tracks[k] = p.Track
	}
	if len(p.Payload) > MaxPacket {
		return fmt.Errorf("relay: packet of %d bytes over the %d limit", len(p.Payload), MaxPacket)
	}
	h := e.hdr[:]
	h[0] = framePacket
	binary.BigEndian.PutUint32(h[1:5], uint32(packetHeader+len(p.Payload))) //nolint:gosec // G115: the payload is at most MaxPacket (checked above)
	h[5] = byte(k)
	h[6] = 0
	if p.Keyframe {
		h[6] = 1
	}
	// Timestamps travel as their two's complement bit pattern; the decoder
	// converts back, so a negative one survives the round trip.
	binary.BigEndian.PutUint64(h[7:15], uint64(p.DTS))  //nolint:gosec // G115: bit pattern, see above
	binary.BigEndian.PutUint64(h[15:23], uint64(p.PTS)) //nolint:gosec // G115: bit pattern, see above
	if _, err := e.w.Write(h); err != nil {
		return err
	}
	_, err := e.w.Write(p.Payload)
	return err
}

func (e *Encoder) writeTrack(t *media.Track) error {
	b, err := json.Marshal(trackJSON{
		Kind: t.Kind(), Codec: t.Codec, VPS: t.VPS, SPS: t.SPS, PPS: t.PPS, Config: t.Config,
		Width: t.Width, Height: t.Height, FrameRate: t.FrameRate, SampleRate: t.SampleRate, Channels: t.Channels,
	})
	if err != nil {
		return fmt.Errorf("relay: encode track: %w", err)
	}
	if len(b) > maxTrackJSON {
		return fmt.Errorf("relay: track of %d bytes over the %d limit", len(b), maxTrackJSON)
	}
	var h [5]byte
	h[0] = frameTrack
	binary.BigEndian.PutUint32(h[1:], uint32(len(b))) //nolint:gosec // G115: at most maxTrackJSON (checked above)
	if _, err := e.w.Write(h[:]); err != nil {
		return err
	}
	_, err = e.w.Write(b)
	return err
}

// Flush writes what is buffered.
func (e *Encoder) Flush() error { return e.w.Flush() }

// End writes the end frame: the stream ended at the origin for reason (cut
// to maxEndReason bytes). Nothing follows it.
func (e *Encoder) End(reason string) error {
	if len(reason) > maxEndReason {
		reason = reason[:maxEndReason]
	}
	var h [5]byte
	h[0] = frameEnd
	binary.BigEndian.PutUint32(h[1:], uint32(len(reason))) //nolint:gosec // G115: cut to maxEndReason above
	if _, err := e.w.Write(h[:]); err != nil {
		return err
	}
	_, err := e.w.WriteString(reason)
	return err
}

// Errors of a malformed relay body.
var (
	ErrBadMagic  = errors.New("relay: not a relay stream (bad magic)")
	ErrMalformed = errors.New("relay: malformed frame")
)

// ErrStreamEnded is returned (wrapped, with the origin's reason) by
// Decoder.Next after an end frame: the stream ended at the origin, as
// opposed to a body that stops (the origin node went away).
var ErrStreamEnded = errors.New("relay: the stream ended at its origin")

// Decoder reads a relay body.
type Decoder struct {
	r      *bufio.Reader
	magic  bool
	tracks [2]*media.Track
}

// NewDecoder returns a decoder reading r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: bufio.NewReaderSize(r, 64<<10)} }

// Next returns the next packet, with its Track set from the last track frame
// of its kind. It returns io.EOF at the clean end of the body, and an error
// wrapping ErrBadMagic or ErrMalformed for bad input.
func (d *Decoder) Next() (*media.Packet, error) {
	if !d.magic {
		var m [len(Magic)]byte
		if _, err := io.ReadFull(d.r, m[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: %d bytes", ErrBadMagic, 0)
			}
			return nil, err
		}
		if string(m[:]) != Magic {
			return nil, ErrBadMagic
		}
		d.magic = true
	}
	for {
		var h [5]byte
		if _, err := io.ReadFull(d.r, h[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: truncated frame header", ErrMalformed)
			}
			return nil, err // io.EOF: clean end between frames
		}
		n := binary.BigEndian.Uint32(h[1:])
		switch h[0] {
		case frameTrack:
			if n > maxTrackJSON {
				return nil, fmt.Errorf("%w: track frame of %d bytes", ErrMalformed, n)
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(d.r, b); err != nil {
				return nil, fmt.Errorf("%w: truncated track: %w", ErrMalformed, err)
			}
			t, err := decodeTrack(b)
			if err != nil {
				return nil, err
			}
			d.tracks[t.Kind()] = t
		case framePacket:
			if n < packetHeader || n-packetHeader > MaxPacket {
				return nil, fmt.Errorf("%w: packet frame of %d bytes", ErrMalformed, n)
			}
			var ph [packetHeader]byte
			if _, err := io.ReadFull(d.r, ph[:]); err != nil {
				return nil, fmt.Errorf("%w: truncated packet: %w", ErrMalformed, err)
			}
			k := media.Kind(ph[0])
			if k != media.KindVideo && k != media.KindAudio {
				return nil, fmt.Errorf("%w: track kind %d", ErrMalformed, ph[0])
			}
			t := d.tracks[k]
			if t == nil {
				return nil, fmt.Errorf("%w: %s packet before its track", ErrMalformed, k)
			}
			p := &media.Packet{
				Track:    t,
				Keyframe: ph[1]&1 != 0,
				DTS:      time.Duration(binary.BigEndian.Uint64(ph[2:10])),  //nolint:gosec // G115: the encoder's bit pattern of an int64
				PTS:      time.Duration(binary.BigEndian.Uint64(ph[10:18])), //nolint:gosec // G115: as above
				Payload:  make([]byte, n-packetHeader),
			}
			if p.PTS < p.DTS {
				return nil, fmt.Errorf("%w: pts before dts", ErrMalformed)
			}
			if _, err := io.ReadFull(d.r, p.Payload); err != nil {
				return nil, fmt.Errorf("%w: truncated payload: %w", ErrMalformed, err)
			}
			return p, nil
		case frameEnd:
			if n > maxEndReason {
				return nil, fmt.Errorf("%w: end frame of %d bytes", ErrMalformed, n)
			}
			b := make([]byte, n)
			if _, err := io.ReadFull(d.r, b); err != nil {
				return nil, fmt.Errorf("%w: truncated end frame: %w", ErrMalformed, err)
			}
			return nil, fmt.Errorf("%w: %s", ErrStreamEnded, strings.ToValidUTF8(string(b), "?"))
		default:
			return nil, fmt.Errorf("%w: frame type %d", ErrMalformed, h[0])
		}
	}
}

func decodeTrack(b []byte) (*media.Track, error) {
	var tj trackJSON
	if err := json.Unmarshal(b, &tj); err != nil {
		return nil, fmt.Errorf("%w: track: %w", ErrMalformed, err)
	}
	switch tj.Codec {
	case media.CodecH264, media.CodecH265, media.CodecAAC, media.CodecOpus:
	default:
		return nil, fmt.Errorf("%w: codec %d", ErrMalformed, tj.Codec)
	}
	if tj.Codec.Kind() != tj.Kind {
		return nil, fmt.Errorf("%w: codec %s is not %s", ErrMalformed, tj.Codec, tj.Kind)
	}
	if tj.Width < 0 || tj.Height < 0 || tj.SampleRate < 0 || tj.Channels < 0 || tj.FrameRate < 0 {
		return nil, fmt.Errorf("%w: negative track field", ErrMalformed)
	}
	return &media.Track{
		Codec: tj.Codec, VPS: tj.VPS, SPS: tj.SPS, PPS: tj.PPS, Config: tj.Config,
		Width: tj.Width, Height: tj.Height, FrameRate: tj.FrameRate, SampleRate: tj.SampleRate, Channels: tj.Channels,
	}, nil
}
