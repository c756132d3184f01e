package media

import "sync"

// Publisher is the ingest side of a Stream, held by one adapter connection.
// Write and SetTracks must be called from one goroutine; Close may be called
// from any.
type Publisher struct {
	stream  *Stream
	onClose func(error)
	once    sync.Once
}

// Key is the published stream's key.
func (p *Publisher) Key() Key { return p.stream.key }

// SetTracks declares the publisher's tracks (nil for an absent kind) before
// the first Write, so that readers starting at the first packet know whether
// the stream has video and audio.
func (p *Publisher) SetTracks(video, audio *Track) { p.stream.setTracks(p, video, audio) }

// Write hands a packet to the hub: its timestamps are rebased to hub time,
// the GOP cache is updated and the packet is queued by reference to every
// reader without blocking. The caller must not touch pkt afterwards. Write
// returns ErrPublisherGone once the hub has ended or replaced this publisher.
func (p *Publisher) Write(pkt *Packet) error { return p.stream.write(p, pkt) }

// Close tells the hub the ingest connection ended (network loss, the client
// closed it). Readers are kept for the grace period. Idempotent.
func (p *Publisher) Close(cause error) { p.stream.publisherClosed(p, cause) }

// kill is the hub ending the publisher: it tells the adapter once.
func (p *Publisher) kill(reason error) {
	p.once.Do(func() {
		if p.onClose != nil {
			p.onClose(reason)
		}
	})
}
