package media

import (
	"cmp"
	"slices"
	"time"
)

// What operators can see of the hub (the REST API's stream listing) and the
// one thing they can do to a reader: disconnect it.

// readerInfo describes a reader for operators; set when it is created.
type readerInfo struct {
	id       uint64
	protocol string
	remote   string
	since    time.Time
}

func newReaderInfo(s *Stream, opt SubscribeOptions) readerInfo {
	return readerInfo{id: s.hub.readerIDs.Add(1), protocol: opt.Protocol, remote: opt.Remote, since: time.Now()}
}

// ReaderDetail is one reader of a stream as Hub.Streams reports it.
type ReaderDetail struct {
	ID       uint64    // unique on this node while it runs (Hub.CloseReader)
	Viewer   string    // the uid it plays as, when known
	Protocol string    // SubscribeOptions.Protocol
	Remote   string    // SubscribeOptions.Remote
	Since    time.Time // when it subscribed
	Held     bool      // waiting for the stream to start
	Audio    Codec     // SubscribeOptions.Audio
	Queued   int       // packets waiting in its queue
	Drops    uint64    // packets it skipped because it fell behind
}

// StreamDetail is one stream as Hub.Streams reports it.
type StreamDetail struct {
	Key    Key
	Live   bool   // the publisher is sending
	Paused bool   // the publisher is gone, within its grace period
	Video  *Track // current tracks; nil when absent (never modify them)
	Audio  *Track
	// Bitrate (bits per second of payload, all tracks) and FrameRate (video
	// frames per second) are measured over about the last second of media
	// time; zero until a second of media arrived or while not live.
	Bitrate   float64
	FrameRate float64
	Drops     uint64 // packets its readers skipped since the stream began
	Readers   []ReaderDetail
	// Derived lists the derived audio tracks its readers asked for
	// (SubscribeOptions.Audio), ordered by codec; empty when none runs.
	Derived []DerivedDetail
}

// Streams returns every current stream with its readers, ordered by key.
// It copies what it reports and may be called at any time.
func (h *Hub) Streams() []StreamDetail {
	h.mu.Lock()
	ss := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		ss = append(ss, s)
	}
	h.mu.Unlock()
	out := make([]StreamDetail, 0, len(ss))
	for _, s := range ss {
		s.mu.Lock()
		if s.ended {
			s.mu.Unlock()
			continue
		}
		d := StreamDetail{Key: s.key, Live: s.live, Paused: s.paused, Video: s.video, Audio: s.audio,
			Drops: s.drops.Load(), Readers: make([]ReaderDetail, 0, len(s.readers))}
		if s.live {
			d.Bitrate, d.FrameRate = s.meter.bitrate, s.meter.fps
		}
		d.Derived = s.derivedDetailsLocked()
		for _, r := range s.readers {
			d.Readers = append(d.Readers, ReaderDetail{ID: r.info.id, Viewer: r.viewer, Protocol: r.info.protocol,
				Remote: r.info.remote, Since: r.info.since, Held: !r.started, Audio: r.audio, Queued: r.queued(), Drops: r.drops.Load()})
		}
		s.mu.Unlock()
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b StreamDetail) int {
		return cmp.Or(cmp.Compare(a.Key.AppID, b.Key.AppID), cmp.Compare(a.Key.Channel, b.Key.Channel), cmp.Compare(a.Key.UID, b.Key.UID))
	})
	return out
}

// CloseReader ends the reader with id (from Streams) with reason, as a kick
// does: its adapter gets OnClose and closes the connection, the stream and
// its other readers go on. It reports whether such a reader existed.
func (h *Hub) CloseReader(id uint64, reason error) bool {
	h.mu.Lock()
	ss := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		ss = append(ss, s)
	}
	h.mu.Unlock()
	for _, s := range ss {
		s.mu.Lock()
		var victim *Reader
		for _, r := range s.readers {
			if r.info.id == id {
				victim = r
				break
			}
		}
		if victim != nil {
			s.removeReaderLocked(victim)
		}
		s.unlock()
		if victim != nil {
			victim.finish(reason)
			h.syncWanted(s.key)
			return true
		}
	}
	return false
}

// rateMeter measures a stream's ingest over windows of about one second of
// media time (packet DTS, so it needs no clock per packet). Guarded by the
// stream's mu.
type rateMeter struct {
	started bool
	start   time.Duration
	bytes   int
	frames  int
	bitrate float64 // bits per second of the last full window
	fps     float64 // video frames per second of the last full window
}

func (m *rateMeter) add(p *Packet) {
	if !m.started {
		m.started, m.start = true, p.DTS
	}
	m.bytes += len(p.Payload)
	if p.Kind() == KindVideo {
		m.frames++
	}
	if el := p.DTS - m.start; el >= time.Second {
		secs := el.Seconds()
		m.bitrate = float64(m.bytes*8) / secs
		m.fps = float64(m.frames) / secs
		m.start, m.bytes, m.frames = p.DTS, 0, 0
	} else if el < 0 {
		// A timeline jump backwards: start a new window.
		m.start, m.bytes, m.frames = p.DTS, 0, 0
	}
}
