package media

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Deriver makes the packets of a derived track (AAC from Opus, Opus from
// AAC) out of the packets of a stream's source track. The hub runs at most
// one Deriver per stream and wanted codec, and only while at least one reader
// wants that codec: the first such reader starts it, the last one to leave
// stops it (Close). Implementations live outside the hub (internal/transcode);
// the hub knows only this interface.
//
// The hub calls a Deriver from one goroutine at a time (the publisher's,
// or a subscriber's when it starts one), never while holding its own locks.
// A panic in Derive or Close is recovered: the derivation stops until the
// source track changes, the stream goes on.
type Deriver interface {
	// Derive appends to dst the packets made from src, a packet of the source
	// track in hub time, and returns dst. The packets it returns carry their
	// own *Track (the derived configuration) and hub-time timestamps. An
	// error drops src's contribution; the derivation goes on.
	Derive(dst []*Packet, src *Packet) ([]*Packet, error)
	// Close releases the derivation. The hub calls it once.
	Close()
}

// DerivedTracker is optionally implemented by a Deriver that knows its
// derived track before its first packet (an AAC encoder knows its
// AudioSpecificConfig up front). The hub then reports that track to readers
// at once (Reader.Tracks), so that their first write can describe the audio;
// otherwise the derived track is known from the first derived packet.
type DerivedTracker interface {
	Track() *Track
}

// DeriveFunc starts a derivation of the codec want from the source track
// src. It returns an error when it cannot make want from src (the reader
// then gets no audio, and the error is logged once).
type DeriveFunc func(src *Track, want Codec) (Deriver, error)

// DerivedDetail is one derived track of a stream as Hub.Streams reports it.
type DerivedDetail struct {
	Codec   Codec  // the derived codec
	From    Codec  // the source codec it is made from (CodecUnknown until started)
	Track   *Track // the derived track; nil until known (never modify it)
	Readers int    // readers that want Codec
	// Running: a Deriver runs (false when no source audio arrived yet since
	// the first reader asked, or the start failed for this source track).
	Running bool
	Packets uint64 // derived packets made since the derivation began
	Errors  uint64 // source packets the Deriver failed on
}

// derivedCodecs are the codecs a reader may ask for (SubscribeOptions.Audio).
var derivedCodecs = [...]Codec{CodecAAC, CodecOpus}

// derivation is one wanted codec of a stream: the Deriver for the current
// source track, started lazily and restarted when the source track changes.
// Its lifecycle (the readers that want it) is guarded by the stream's mu; the
// Deriver itself by the derivation's own mu. The hub never holds both: the
// transcoding CPU runs outside the stream's lock, and a reader leaving waits
// at most for the Derive call in progress.
type derivation struct {
	stream *Stream
	want   Codec

	mu     sync.Mutex // serializes start, Derive and Close
	src    *Track     // the source track d was started for
	d      Deriver    // nil: not started, failed for src, or closed
	closed bool       // retired: never started again
	scr    []*Packet  // Derive's scratch

	track   atomic.Pointer[Track] // the derived track, when known
	running atomic.Bool
	packets atomic.Uint64
	errs    atomic.Uint64
	from    atomic.Uint32 // source codec of the running Deriver
}

func newDerivation(s *Stream, want Codec) *derivation {
	return &derivation{stream: s, want: want}
}

// prepareLocked makes sure a Deriver runs for src: it starts one, or restarts
// it when src is a new source track. Called with dv.mu held.
func (dv *derivation) prepareLocked(src *Track) {
	if dv.closed || src == dv.src || src == nil {
		return
	}
	dv.stopLocked()
	dv.src = src
	if src.Codec == dv.want || src.Kind() != KindAudio {
		return
	}
	h := dv.stream.hub
	if h.cfg.Derive == nil {
		return
	}
	d, err := dv.start(src)
	if err != nil {
		h.log.Warn("derived track cannot start: its readers get no audio", "stream", dv.stream.key, "from", src.Codec, "to", dv.want, "err", err)
		return
	}
	dv.d = d
	dv.from.Store(uint32(src.Codec))
	dv.running.Store(true)
	h.derivations.Add(1)
	if t, ok := d.(DerivedTracker); ok {
		if tr := t.Track(); tr != nil && tr.Codec == dv.want {
			dv.track.Store(tr)
		}
	}
	h.log.Debug("derived track started", "stream", dv.stream.key, "from", src.Codec, "to", dv.want)
}

// start calls the DeriveFunc, turning a panic into an error.
func (dv *derivation) start(src *Track) (d Deriver, err error) {
	defer func() {
		if v := recover(); v != nil {
			d, err = nil, fmt.Errorf("media: DeriveFunc panicked: %v", v)
		}
	}()
	d, err = dv.stream.hub.cfg.Derive(src, dv.want)
	if err == nil && d == nil {
		err = fmt.Errorf("media: DeriveFunc returned no Deriver")
	}
	return d, err
}

// stopLocked closes the running Deriver, if any. Called with dv.mu held.
func (dv *derivation) stopLocked() {
	if dv.d == nil {
		return
	}
	d := dv.d
	dv.d = nil
	dv.running.Store(false)
	dv.stream.hub.derivations.Add(-1)
	func() {
		defer func() {
			if v := recover(); v != nil {
				dv.stream.hub.log.Error("derived track: Close panicked", "stream", dv.stream.key, "to", dv.want, "panic", fmt.Sprint(v))
			}
		}()
		d.Close()
	}()
	dv.stream.hub.log.Debug("derived track stopped", "stream", dv.stream.key, "to", dv.want)
}

// prepare is prepareLocked for a subscriber that wants the derived track
// known before its first write.
func (dv *derivation) prepare(src *Track) {
	dv.mu.Lock()
	dv.prepareLocked(src)
	dv.mu.Unlock()
}

// derive runs the Deriver on src and appends the derived packets to dst.
// Publisher goroutine, no stream lock held.
func (dv *derivation) derive(dst []*Packet, src *Packet) []*Packet {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	dv.prepareLocked(src.Track)
	if dv.d == nil {
		return dst
	}
	out, panicked, err := dv.call(src)
	switch {
	case panicked != nil:
		dv.stream.hub.log.Error("derived track panicked: stopped until the source track changes", "stream", dv.stream.key, "to", dv.want, "panic", fmt.Sprint(panicked))
		dv.stopLocked()
		return dst
	case err != nil:
		if dv.errs.Add(1) == 1 {
			dv.stream.hub.log.Warn("derived track: a source packet could not be derived (logged once per derivation)", "stream", dv.stream.key, "to", dv.want, "err", err)
		}
	}
	for _, p := range out {
		if p == nil || p.Track == nil || p.Track.Codec != dv.want {
			continue // a Deriver bug: never hand readers a packet of another codec
		}
		dv.track.Store(p.Track)
		dst = append(dst, p)
	}
	clear(out)
	dv.scr = out[:0]
	return dst
}

// call is one Derive call with panics recovered.
func (dv *derivation) call(src *Packet) (out []*Packet, panicked any, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, panicked, err = nil, v, nil
		}
	}()
	out, err = dv.d.Derive(dv.scr[:0], src)
	return out, nil, err
}

// close retires the derivation: its Deriver is closed and never restarted.
// Called without the stream's mu (it waits for a Derive call in progress).
func (dv *derivation) close() {
	dv.mu.Lock()
	dv.closed = true
	dv.stopLocked()
	dv.scr = nil
	dv.mu.Unlock()
}

// wantsDerivedLocked reports whether r takes a derived audio track (its
// wanted codec is not the source's), given the stream's current source
// audio track. Called with s.mu held.
func (s *Stream) wantsDerivedLocked(r *Reader) bool {
	return r.audio != CodecUnknown && s.audio != nil && s.audio.Codec != r.audio
}

// takesLocked reports whether reader r gets packet p. Video goes to every
// reader; source audio to the readers that want the source codec (or any);
// derived audio to the readers that want its codec. Called with s.mu held.
func (s *Stream) takesLocked(r *Reader, p *Packet) bool {
	if p.Kind() == KindVideo {
		return true
	}
	if p.derived {
		return r.audio == p.Track.Codec && s.wantsDerivedLocked(r)
	}
	return r.audio == CodecUnknown || r.audio == p.Track.Codec
}

// syncDerivationsLocked starts the derivations that readers need now and
// retires the ones nobody needs any more (the caller closes those after
// releasing s.mu: see s.retired). Called with s.mu held.
func (s *Stream) syncDerivationsLocked() {
	for _, c := range derivedCodecs {
		need := !s.ended && s.hub.cfg.Derive != nil && s.wants[c] > 0 && s.audio != nil && s.audio.Codec != c
		dv := s.derived[c]
		switch {
		case need && dv == nil:
			if s.derived == nil {
				s.derived = make(map[Codec]*derivation, len(derivedCodecs))
			}
			s.derived[c] = newDerivation(s, c)
		case !need && dv != nil:
			delete(s.derived, c)
			s.retired = append(s.retired, dv)
		}
	}
}

// takeRetiredLocked hands the caller the retired derivations to close once
// it has released s.mu. Called with s.mu held.
func (s *Stream) takeRetiredLocked() []*derivation {
	r := s.retired
	s.retired = nil
	return r
}

// closeDerivations closes retired derivations. Called without s.mu.
func closeDerivations(ds []*derivation) {
	for _, dv := range ds {
		dv.close()
	}
}

// unlock releases s.mu and closes the derivations retired meanwhile.
func (s *Stream) unlock() {
	ds := s.takeRetiredLocked()
	s.mu.Unlock()
	closeDerivations(ds)
}

// readerAudioLocked is the audio track reader r plays: the source track, or
// the derived track of the codec it wants (nil while unknown). Called with
// s.mu held.
func (s *Stream) readerAudioLocked(r *Reader) *Track {
	if !s.wantsDerivedLocked(r) {
		return s.audio
	}
	if dv := s.derived[r.audio]; dv != nil {
		return dv.track.Load()
	}
	return nil
}

// deliverDerivedLocked clamps derived packets to the hub's monotonic clock
// of their codec, caches them with the GOP and queues them to the readers
// that want them. Called with s.mu held.
func (s *Stream) deliverDerivedLocked(dv *derivation, pkts []*Packet) (needKey bool) {
	c := dv.want
	for _, p := range pkts {
		cts := max(p.PTS-p.DTS, 0)
		if last, ok := s.derivedLast[c]; ok && p.DTS < last {
			p.DTS = last
		}
		p.PTS = p.DTS + cts
		if s.derivedLast == nil {
			s.derivedLast = make(map[Codec]time.Duration, len(derivedCodecs))
		}
		s.derivedLast[c] = p.DTS
		p.Keyframe = true
		p.derived = true
		dv.packets.Add(1)
		s.cacheLocked(p)
		if s.fanoutLocked(p) {
			needKey = true
		}
	}
	return needKey
}

// derivedDetailsLocked lists the stream's derivations. Called with s.mu held.
func (s *Stream) derivedDetailsLocked() []DerivedDetail {
	var out []DerivedDetail
	for _, c := range derivedCodecs {
		dv := s.derived[c]
		if dv == nil {
			continue
		}
		out = append(out, DerivedDetail{Codec: c, From: Codec(dv.from.Load()), Track: dv.track.Load(), Readers: s.wants[c], //nolint:gosec // G115: from holds a Codec (uint8) stored as uint32
			Running: dv.running.Load(), Packets: dv.packets.Load(), Errors: dv.errs.Load()})
	}
	return out
}

// rotation is a stream's video rotation metadata (degrees clockwise, 0, 90,
// 180 or 270), as the publisher reported it (WebRTC CVO).
type rotation struct{ deg atomic.Int32 }

// SetRotation records the rotation of the publisher's video in degrees
// clockwise (0, 90, 180, 270); readers that can signal it (WebRTC CVO) read
// it with Reader.Rotation. Other values are taken modulo 360 and rounded
// down to a quarter turn (as channel.Manager.SetRotation does).
func (p *Publisher) SetRotation(degrees int) {
	rot := ((degrees%360 + 360) % 360) / 90 * 90
	p.stream.rot.deg.Store(int32(rot)) //nolint:gosec // G115: 0..270 after the line above
}

// Rotation is the stream's current video rotation in degrees clockwise.
func (r *Reader) Rotation() int { return int(r.stream.rot.deg.Load()) }
