package media

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/errcode"
)

// Key identifies a stream: the publisher's uid in a channel of an app.
type Key struct {
	AppID, Channel, UID string
}

// String is a log form of the key (not the public stream name).
func (k Key) String() string { return fmt.Sprintf("%s/%q/%s", k.AppID, k.Channel, k.UID) }

// Config holds the hub's knobs (config media.*). Zero values mean the
// defaults of internal/config/defaults; limits of 0 mean "no limit".
type Config struct {
	QueueSize           int           // per-reader queue, packets
	GOPMaxPackets       int           // GOP cache cap, packets
	GOPMaxBytes         int           // GOP cache cap, payload bytes
	Grace               time.Duration // publisher interruption grace; < 0 means none
	HoldTimeout         time.Duration // reader wait for a stream to go live
	MaxPublishers       int           // concurrent publishers on this node
	MaxReadersPerStream int           // readers of one stream
	StallTimeout        time.Duration // silence after which a publisher may be replaced (PublishWith)
	// AudioWait is the longest a lazy reader's audio (SubscribeOptions.
	// WaitAudio) waits in its queue for the next video packet, so that
	// both reach the socket in one write. 0 means the default
	// (media.audioWait); negative: audio is never held.
	AudioWait time.Duration
	// Derive starts derived tracks (see Deriver) for readers that want
	// another audio codec than the source's. Nil: no derived tracks.
	Derive DeriveFunc
	// OnWanted tells a component outside the hub (a cluster node's puller)
	// when a stream is wanted here without a source of its own, and when it
	// no longer is (see WantedFunc). Nil: nobody is told.
	OnWanted WantedFunc
}

func (c Config) withDefaults() Config {
	if c.QueueSize <= 0 {
		c.QueueSize = defaults.MediaReaderQueue
	}
	if c.GOPMaxPackets <= 0 {
		c.GOPMaxPackets = defaults.MediaGOPCacheFrames
	}
	if c.GOPMaxBytes <= 0 {
		c.GOPMaxBytes = defaults.MediaGOPCacheBytes
	}
	if c.Grace == 0 {
		c.Grace = defaults.MediaPublisherGrace
	}
	if c.Grace < 0 {
		c.Grace = 0
	}
	if c.HoldTimeout <= 0 {
		c.HoldTimeout = defaults.MediaHoldTimeout
	}
	if c.AudioWait == 0 {
		c.AudioWait = defaults.MediaAudioWait
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = defaults.MediaPublisherStall
	}
	return c
}

// Info describes a live stream's tracks for observers.
type Info struct {
	Video, Audio *Track // nil when the stream has no such track
}

// Observer learns about stream liveness. The hub calls it synchronously,
// outside its locks, from the goroutine that caused the change (a publisher,
// a grace timer, an EndStream caller); it may call back into the Hub but must
// not block for long.
type Observer interface {
	// MediaStarted: the first packet of a stream arrived.
	MediaStarted(key Key, info Info)
	// MediaPaused: the publisher went away; readers wait for the grace period.
	MediaPaused(key Key)
	// MediaResumed: the publisher came back within the grace period.
	MediaResumed(key Key, info Info)
	// MediaStopped: the stream ended; reason is a catalogue error or nil.
	MediaStopped(key Key, reason error)
}

// Stats are hub-wide counters (for metrics). Drops only grows.
type Stats struct {
	Streams    int
	Publishers int
	Readers    int
	Drops      uint64 // packets readers skipped because they fell behind
	// Derivations is the number of derived tracks being made now (Derivers
	// running: transcoders): 0 when no reader needs another codec than its
	// stream's.
	Derivations int
}

// StreamStats describe one stream (for metrics). Drops counts the packets
// its readers skipped since the stream began, readers that left included;
// it goes away with the stream (the hub's Stats.Drops keeps the total).
type StreamStats struct {
	Key     Key
	Live    bool // the publisher is sending (false while held or paused)
	Paused  bool // the publisher is gone, within its grace period
	Readers int
	Drops   uint64
	// GOPBytes is the payload held by the stream's GOP cache.
	GOPBytes int
}

// Hub owns the streams of a node. It is safe for concurrent use.
type Hub struct {
	cfg Config
	log *slog.Logger
	obs Observer

	mu         sync.Mutex
	streams    map[Key]*Stream
	publishers int
	closed     bool

	readers     atomic.Int64
	drops       atomic.Uint64
	derivations atomic.Int64 // Derivers running now (Stats.Derivations)

	readerIDs atomic.Uint64 // last reader id handed out (ReaderDetail.ID)

	wanted wantedState // OnWanted reports (wanted.go)

	now func() time.Time // clock for rate limits; tests may replace it
}

// NewHub builds a hub. obs may be nil.
func NewHub(cfg Config, obs Observer, log *slog.Logger) (*Hub, error) {
	if log == nil {
		return nil, fmt.Errorf("media: nil logger")
	}
	if cfg.MaxPublishers < 0 || cfg.MaxReadersPerStream < 0 {
		return nil, fmt.Errorf("media: negative limit")
	}
	return &Hub{
		cfg:     cfg.withDefaults(),
		log:     log.With("component", "media"),
		obs:     obs,
		streams: make(map[Key]*Stream),
		now:     time.Now,
	}, nil
}

// Config returns the effective configuration (defaults applied).
func (h *Hub) Config() Config { return h.cfg }

// SetObserver sets the observer; call it before the hub is used.
func (h *Hub) SetObserver(obs Observer) { h.obs = obs }

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{
		Streams:     len(h.streams),
		Publishers:  h.publishers,
		Readers:     int(h.readers.Load()),
		Drops:       h.drops.Load(),
		Derivations: int(h.derivations.Load()),
	}
}

// StreamStats returns the current streams' figures, ordered by key.
func (h *Hub) StreamStats() []StreamStats {
	h.mu.Lock()
	ss := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		ss = append(ss, s)
	}
	h.mu.Unlock()
	out := make([]StreamStats, 0, len(ss))
	for _, s := range ss {
		s.mu.Lock()
		if !s.ended {
			out = append(out, StreamStats{Key: s.key, Live: s.live, Paused: s.paused, Readers: len(s.readers), Drops: s.drops.Load(), GOPBytes: s.gopBytes})
		}
		s.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b StreamStats) int {
		return cmp.Or(cmp.Compare(a.Key.AppID, b.Key.AppID), cmp.Compare(a.Key.Channel, b.Key.Channel), cmp.Compare(a.Key.UID, b.Key.UID))
	})
	return out
}

// stream returns the stream for key, creating it when create is set.
// Called with h.mu held.
func (h *Hub) streamLocked(key Key, create bool) *Stream {
	s := h.streams[key]
	if s != nil && s.isEnded() {
		delete(h.streams, key)
		s = nil
	}
	if s == nil && create {
		s = newStream(h, key)
		h.streams[key] = s
	}
	return s
}

// remove forgets s if it is still the stream for its key.
func (h *Hub) remove(s *Stream) {
	h.mu.Lock()
	if h.streams[s.key] == s {
		delete(h.streams, s.key)
	}
	h.mu.Unlock()
}

// PublishOptions describe a publisher asking for a stream.
type PublishOptions struct {
	// Wildcard: the publisher's credential does not name the stream's uid (a
	// uid-0 token, or an app's appId as key): it cannot show that it is the
	// member that owns the stream, so it never replaces a current publisher.
	// False means the credential names the uid: a signed push URL the server
	// issued for this stream, or a token for this uid.
	Wildcard bool
	// OnClose is called at most once, outside the hub's locks, when the hub
	// ends this publisher (EndStream, a kick, a reconnect of the same member,
	// hub shutdown): the adapter must then close its ingest connection. The
	// adapter calls Publisher.Close when its connection ends on its own. May
	// be nil.
	OnClose func(reason error)
	// Relay: the publisher relays the stream from another node
	// (internal/relay) rather than being its source. The stream stays
	// wanted (Config.OnWanted) while a relay feeds it, and a publisher that
	// is not a relay always takes the stream over from one.
	Relay bool
}

// Publish is PublishWith for a publisher whose credential names the uid.
func (h *Hub) Publish(key Key, onClose func(reason error)) (*Publisher, error) {
	return h.PublishWith(key, PublishOptions{OnClose: onClose})
}

// PublishWith starts (or resumes, or takes over) publishing key, under the
// takeover rules of Stream.mayTake: one publisher per stream; a second
// one is refused (errcode.StreamBusy) while the first is live, unless it is
// the same member reconnecting, which replaces the first once that one has
// stalled. A stream whose publisher went away (grace period) is resumed by
// any authorized publisher.
func (h *Hub) PublishWith(key Key, opt PublishOptions) (*Publisher, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errcode.ServiceExited("media hub is shutting down")
	}
	s := h.streamLocked(key, false)
	replacing := false
	if s != nil {
		var err error
		if replacing, err = s.mayTake(opt, h.now()); err != nil {
			h.mu.Unlock()
			return nil, err
		}
	}
	if !replacing && h.cfg.MaxPublishers > 0 && h.publishers >= h.cfg.MaxPublishers {
		h.mu.Unlock()
		return nil, errcode.Overloaded(fmt.Sprintf("publisher limit of this node (%d) reached", h.cfg.MaxPublishers))
	}
	if s == nil {
		s = h.streamLocked(key, true)
	}
	if !replacing {
		h.publishers++
	}
	p := &Publisher{stream: s, onClose: opt.OnClose, relay: opt.Relay}
	old := s.attachPublisher(p, h.now())
	h.mu.Unlock()
	if old != nil {
		if old.relay && !opt.Relay {
			old.kill(errcode.Conflict("the stream's publisher connected to this node: the relay from another node is no longer needed"))
		} else {
			old.kill(errcode.Conflict("replaced by a reconnect of the same uid: this connection had sent no media for a while"))
		}
	}
	h.syncWanted(key)
	return p, nil
}

// MayPublish reports whether PublishWith(key, opt) would be allowed now by
// the takeover rules (not by the publisher limit), without publishing. An
// adapter that attaches later (WHIP, once media flows) calls it first, so
// that a refused client hears why at once.
func (h *Hub) MayPublish(key Key, opt PublishOptions) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errcode.ServiceExited("media hub is shutting down")
	}
	if s := h.streamLocked(key, false); s != nil {
		_, err := s.mayTake(opt, h.now())
		return err
	}
	return nil
}

func (h *Hub) publisherGone() {
	h.mu.Lock()
	h.publishers--
	h.mu.Unlock()
}

// SubscribeOptions describe a reader.
type SubscribeOptions struct {
	// Viewer is the uid the reader plays as, when known (token play); CloseViewer
	// uses it to close a kicked member's players.
	Viewer string
	// OnClose is called at most once, outside the hub's locks, when the hub ends
	// the reader (stream end, kick, hold timeout): the adapter should close its
	// connection so that a blocked write returns. May be nil.
	OnClose func(reason error)
	// Protocol and Remote describe the reader for operators (Hub.Streams):
	// the egress protocol ("rtmp", "flv", "webrtc") and the peer address.
	// Both are optional.
	Protocol, Remote string
	// OnQueue, if set, is called when the reader's queue goes from empty to
	// not empty, so that an adapter serving many readers from a few
	// goroutines (WHEP's shared writers) knows which ones to drain with
	// TryNext. It runs with the stream's lock held, on the publisher's
	// goroutine (or the stream's audio-wait timer, see WaitAudio): it must
	// not block or call into the hub. May be nil.
	OnQueue func()
	// Audio is the audio codec the reader takes. CodecUnknown: the source's,
	// whatever it is. CodecAAC or CodecOpus: when the source track has
	// another codec, the reader gets the derived track (Config.Derive),
	// started for it and shared with every reader that wants the same codec.
	Audio Codec
	// WaitAudio makes the reader lazy: when the stream has video, an audio
	// packet is queued without waking the consumer (OnQueue, Next) until
	// the next video packet arrives or Config.AudioWait passes. For
	// adapters where a wake-up costs a system call per packet (RTMP, FLV);
	// WebRTC readers, which send every packet on its own, leave it false.
	WaitAudio bool
}

// Subscribe adds a reader to key's stream. The stream need not be live: the
// reader is held until the publisher's first keyframe (or HoldTimeout).
func (h *Hub) Subscribe(key Key, opt SubscribeOptions) (*Reader, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errcode.ServiceExited("media hub is shutting down")
	}
	s := h.streamLocked(key, true)
	r, requestKey, prepare, err := s.addReader(opt)
	if err == errStreamEnded {
		// s ended after the lookup (its last user left on another
		// goroutine, which ends a stream without taking h.mu): the reader
		// goes to a new stream for key, which nobody else can reach yet.
		s = h.streamLocked(key, true)
		r, requestKey, prepare, err = s.addReader(opt)
	}
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if requestKey != nil {
		requestKey()
	}
	if prepare != nil {
		// Start the reader's derived track now, outside the locks, so that
		// Reader.Tracks names it before the first packet.
		prepare()
	}
	h.syncWanted(key)
	return r, nil
}

// EndStream ends key's stream: its publisher and readers are closed with
// reason and the observer gets MediaStopped (if the stream had started).
// It is a no-op for an unknown key.
func (h *Hub) EndStream(key Key, reason error) {
	h.mu.Lock()
	s := h.streams[key]
	h.mu.Unlock()
	if s != nil {
		s.end(reason)
	}
}

// CloseViewer closes the readers that play as viewer uid in app/channel
// (a kicked member's players).
func (h *Hub) CloseViewer(appID, channel, viewer string, reason error) {
	h.mu.Lock()
	var ss []*Stream
	for k, s := range h.streams {
		if k.AppID == appID && k.Channel == channel {
			ss = append(ss, s)
		}
	}
	h.mu.Unlock()
	for _, s := range ss {
		s.closeViewer(viewer, reason)
	}
}

// Live reports whether key's stream exists and has a publisher (live or in
// its grace period).
func (h *Hub) Live(key Key) bool {
	h.mu.Lock()
	s := h.streams[key]
	h.mu.Unlock()
	return s != nil && s.hasPublisher()
}

// Close ends every stream; later Publish/Subscribe calls fail. Idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	ss := make([]*Stream, 0, len(h.streams))
	for _, s := range h.streams {
		ss = append(ss, s)
	}
	h.mu.Unlock()
	for _, s := range ss {
		s.end(errcode.ServiceExited("node shutting down"))
	}
}

// ReaderCount is the number of readers of key's stream on this hub (0 when
// there is no such stream).
func (h *Hub) ReaderCount(key Key) int {
	h.mu.Lock()
	s := h.streams[key]
	h.mu.Unlock()
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readers)
}
