// Package media is minirtc's media hub: the canonical Packet and Track, one
// Stream per published (app, channel, uid), its GOP cache, timestamp rebasing
// and the fan-out of packets to per-reader bounded queues.
//
// It owns no sockets and speaks no protocol. Ingest adapters (internal/rtmp,
// later internal/webrtc) call Hub.Publish and Publisher.Write; egress adapters
// (internal/rtmp, internal/flv, internal/webrtc) call Hub.Subscribe and drain
// Reader.Next. A stream has one publisher: Hub.PublishWith refuses a second
// one while the first is live, and lets the same member's reconnect replace
// a stalled one (the rules are in Stream.mayTake). Stream liveness reaches the channel model through the Observer
// interface, wired in internal/node. This package must not import any adapter,
// nor internal/channel or internal/gateway (ARCHITECTURE.md, dependency rule).
//
// Goroutine model: media starts no goroutines of its own. Publisher.Write runs
// on the publisher's goroutine and never blocks on a reader: a packet is pushed
// by pointer into every reader's bounded ring, and a full ring makes that
// reader skip to the next keyframe (counted as drops). Each Reader is drained by
// the one goroutine of its adapter connection. Grace and hold deadlines are
// time.AfterFunc timers owned by their Stream and stopped when it ends.
// Observer methods are called synchronously, outside the hub's locks.
//
// Reader start: a reader joining a live stream gets the GOP cache (from the
// last keyframe) at once; a reader that joined before the media (held, up to
// HoldTimeout) or after a GOP cache overflow starts at the next keyframe, and
// audio that arrives before that keyframe follows it (bounded). A reader that
// overflows skips video up to the next keyframe; audio resumes as soon as
// there is room. When a reader needs a keyframe the stream has not cached,
// the hub asks the publisher for one through Publisher.SetKeyframeRequester
// (WebRTC ingest sends a PLI), at most every KeyframeRequestInterval.
//
// Derived tracks: a reader says which audio codec it takes
// (SubscribeOptions.Audio). When the source's is another, the stream derives
// that codec (Config.Derive; internal/transcode makes AAC from Opus and Opus
// from AAC): one Deriver per stream and codec, started by the first reader
// that needs it and closed when the last one leaves or the stream ends, so
// nothing is transcoded for nobody. It runs on the publisher's goroutine,
// outside the stream's lock; its packets are in hub time and follow the same
// queue, drop, preroll and GOP-cache rules as the source's, and reach only
// the readers that want them. Hub.Stats().Derivations and
// StreamDetail.Derived show what runs.
//
// Streams from other nodes: a stream with readers and no publisher here (or
// only a relay, PublishOptions.Relay) is wanted, and Config.OnWanted hears
// when that starts and stops (WantedFunc), so that a cluster node can pull
// it from the node that has its publisher (internal/edge) and stop once its
// readers left. The stream's own publisher always takes a stream over from
// a relay, and a relay whose origin's stream ended ends the stream at once
// (Publisher.Finish) instead of leaving its readers to the grace period.
//
// Timestamps are hub time, shared by every reader (not rebased per reader),
// which is what lets adapters build a packet's wire bytes once.
//
// Packets are immutable once written. Adapters may cache wire bytes built from
// a packet (an FLV tag, RTMP chunks) in the packet's wire slots, so that the
// bytes are built once per protocol and shared by all readers.
package media
