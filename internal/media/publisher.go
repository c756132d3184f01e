package media

import "sync"

// Publisher is the ingest side of a Stream, held by one adapter connection.
// Write and SetTracks must be called from one goroutine; Close may be called
// from any.
type Publisher struct {
	stream  *Stream
	onClose func(error)
	relay   bool // PublishOptions.Relay
	once    sync.Once

	keyframeReq func() // guarded by stream.mu
}

// Key is the published stream's key.
func (p *Publisher) Key() Key { return p.stream.key }

// SetTracks declares the publisher's tracks (nil for an absent kind) before
// the first Write, so that readers starting at the first packet know whether
// the stream has video and audio.
func (p *Publisher) SetTracks(video, audio *Track) { p.stream.setTracks(p, video, audio) }

// SetKeyframeRequester installs fn, which the hub calls when a reader needs a
// keyframe the stream does not have: a new reader attaches while the GOP cache
// holds no keyframe, or a reader that fell behind (or is held) waits for the
// next one. An ingest that can ask its source for an IDR (WebRTC PLI/FIR)
// sets it; RTMP cannot and leaves it nil. fn is called outside the hub's
// locks, from the goroutine of the caller that caused the need (Subscribe,
// Publisher.Write), at most once per KeyframeRequestInterval per stream; it
// must not block. It may be set before or after SetTracks; nil clears it.
func (p *Publisher) SetKeyframeRequester(fn func()) {
	p.stream.mu.Lock()
	p.keyframeReq = fn
	p.stream.mu.Unlock()
}

// Write hands a packet to the hub: its timestamps are rebased to hub time,
// the GOP cache is updated and the packet is queued by reference to every
// reader without blocking. The caller must not touch pkt afterwards. Write
// returns ErrPublisherGone once the hub has ended or replaced this publisher.
func (p *Publisher) Write(pkt *Packet) error { return p.stream.write(p, pkt) }

// Close tells the hub the ingest connection ended (network loss, the client
// closed it). Readers are kept for the grace period. Idempotent.
func (p *Publisher) Close(cause error) { p.stream.publisherClosed(p, cause) }

// Finish ends the stream now, with reason, if p is still its publisher: its
// source ended for good (a relay whose origin's stream ended), so readers
// are not kept for the grace period. Its onClose is called as by End.
func (p *Publisher) Finish(reason error) { p.stream.endIf(p, reason) }

// End ends the publisher as the hub does when it replaces it: the adapter's
// onClose gets reason (once) and must close its ingest connection, which
// then calls Close. The admission registry uses it when the publisher's
// access ends. Safe from any goroutine.
func (p *Publisher) End(reason error) { p.kill(reason) }

// kill is the hub ending the publisher: it tells the adapter once.
func (p *Publisher) kill(reason error) {
	p.once.Do(func() {
		if p.onClose != nil {
			p.onClose(reason)
		}
	})
}
