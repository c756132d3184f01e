package media

import "sync/atomic"

// Deriver makes the packets of a derived track (AAC from Opus, Opus from
// AAC) out of the packets of a stream's source track. The hub runs at most
// one Deriver per stream and wanted codec, and only while at least one reader
// wants that codec: the first such reader starts it, the last one to leave
// stops it (Close). Implementations live outside the hub (internal/transcode);
// the hub knows only this interface.
type Deriver interface {
	// Derive appends to dst the packets made from src, a packet of the source
	// track in hub time, and returns dst. The packets it returns carry their
	// own *Track (the derived configuration) and hub-time timestamps. An
	// error drops src's contribution; the derivation goes on.
	Derive(dst []*Packet, src *Packet) ([]*Packet, error)
	// Close releases the derivation. The hub calls it once.
	Close()
}

// DeriveFunc starts a derivation of the codec want from the source track
// src. It returns an error when it cannot make want from src (the reader
// then gets no audio, and the error is logged once).
type DeriveFunc func(src *Track, want Codec) (Deriver, error)

// rotation is a stream's video rotation metadata (degrees clockwise, 0, 90,
// 180 or 270), as the publisher reported it (WebRTC CVO).
type rotation struct{ deg atomic.Int32 }

// SetRotation records the rotation of the publisher's video in degrees
// clockwise (0, 90, 180, 270); readers that can signal it (WebRTC CVO) read
// it with Reader.Rotation.
func (p *Publisher) SetRotation(degrees int) { p.stream.rot.deg.Store(int32(degrees)) }

// Rotation is the stream's current video rotation in degrees clockwise.
func (r *Reader) Rotation() int { return int(r.stream.rot.deg.Load()) }
