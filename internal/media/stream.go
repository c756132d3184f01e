package media

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
)

// Timestamp rebasing limits.
const (
	// maxForwardJump: a forward step larger than this between two packets of
	// one track is a publisher clock jump, not a real gap (a backgrounded
	// live-pusher still sends its waiting image every second or so).
	maxForwardJump = 5 * time.Second
	// maxBackStep: a backward step up to this is jitter and is clamped (the
	// timestamp is held); a larger one is a publisher clock reset (reconnect
	// or 32-bit wrap) and rebases the session.
	maxBackStep = 1 * time.Second
	// defaultFrameGap is the step used after a jump when the track's frame
	// interval is not known yet.
	defaultFrameGap = 20 * time.Millisecond
	// maxPreroll bounds the audio held for a new reader until the first
	// keyframe: about 1.5 s of AAC. A stream whose video stalls longer
	// starts its readers with audio.
	maxPreroll = 64
)

// KeyframeRequestInterval is the least time between two keyframe requests of
// one stream (Publisher.SetKeyframeRequester): an IDR takes a round trip and
// is large, so asking again sooner only costs the publisher bandwidth.
const KeyframeRequestInterval = 500 * time.Millisecond

// Stream is one published (app, channel, uid): its current publisher, tracks,
// GOP cache and readers. Its lifecycle: pending (readers held, no media) ->
// live -> paused (publisher gone, grace timer running) -> live again or ended.
// An ended Stream is never reused; the hub makes a new one for the key.
type Stream struct {
	hub *Hub
	key Key

	mu         sync.Mutex
	pub        *Publisher
	ended      bool
	started    bool // MediaStarted was reported
	live       bool // the current publisher has written media
	paused     bool // publisher gone, in the grace period
	graceTimer *time.Timer
	// audioTimer releases the audio that lazy readers hold (Config.AudioWait)
	// when no video packet came to take it along; audioArmed: it is set.
	audioTimer *time.Timer
	audioArmed bool
	video      *Track
	audio      *Track
	readers    []*Reader

	gop      []*Packet // from the last video keyframe
	gopBytes int
	gopValid bool

	// timestamp rebasing: out = in + offset
	sessionStarted bool
	offset         time.Duration
	lastOut        [2]time.Duration
	haveLast       [2]bool
	frameGap       [2]time.Duration

	lastKeyframeReq time.Time // last call of the publisher's keyframe requester
	lastMedia       time.Time // the current publisher attached, or last wrote a packet

	drops atomic.Uint64 // packets its readers skipped (StreamStats)

	meter rateMeter // ingest bitrate and frame rate (Hub.Streams); guarded by mu

	rot rotation // video rotation metadata (Publisher.SetRotation)

	// Derived tracks (derive.go), guarded by mu.
	wants       [CodecOpus + 1]int      // readers per SubscribeOptions.Audio
	derived     map[Codec]*derivation   // per wanted codec, while a reader needs it
	retired     []*derivation           // to close once mu is released (unlock)
	derivedLast map[Codec]time.Duration // last derived DTS per codec: monotonic across restarts
}

func newStream(h *Hub, key Key) *Stream {
	return &Stream{hub: h, key: key}
}

// Key is the stream's key.
func (s *Stream) Key() Key { return s.key }

func (s *Stream) hasPublisher() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.ended && (s.pub != nil || s.paused)
}

// mayTake applies the takeover rules to a publisher asking for the stream at
// now. It reports whether the stream's current publisher would be replaced,
// or returns the catalogue error that refuses the newcomer.
//
// The rules, the one place where minirtc decides who owns a stream:
//   - No current publisher (none yet, or it went away and the stream is in
//     its grace period): any authorized publisher takes the stream.
//   - A current publisher and a Wildcard newcomer (its credential names no
//     uid): refused. Only the member that owns the uid may displace its
//     stream's publisher.
//   - A current publisher and the same member reconnecting (a credential
//     that names the uid: the signed push URL of this stream, or a token for
//     this uid): the newcomer replaces the current publisher if that one is
//     not live (it has sent no media yet) or has stalled, i.e. sent no packet
//     for StallTimeout (a live-pusher back from the background on a new
//     connection while its old TCP connection still looks alive but carries
//     nothing); otherwise it is refused: a live publisher is never cut by a
//     second one.
//   - A relay (PublishOptions.Relay: the stream pulled from another node)
//     and a newcomer that is not one: the newcomer replaces the relay at
//     once. The stream's own publisher wins over a copy of it.
func (s *Stream) mayTake(opt PublishOptions, now time.Time) (replacing bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.pub == nil {
		return false, nil
	}
	if s.pub.relay && !opt.Relay {
		return true, nil
	}
	idle := now.Sub(s.lastMedia)
	if opt.Wildcard {
		return false, errcode.StreamBusy(fmt.Sprintf("uid %s is publishing from another connection and this credential names no uid (uid 0): only that uid's own URL or token may take over its stream", s.key.UID))
	}
	if s.live && idle < s.hub.cfg.StallTimeout {
		return false, errcode.StreamBusy(fmt.Sprintf("uid %s is publishing from another connection (last media %s ago); stop that one first, or reconnect once it has sent nothing for %s", s.key.UID, idle.Round(time.Millisecond), s.hub.cfg.StallTimeout))
	}
	return true, nil
}

func (s *Stream) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// attachPublisher makes p the stream's publisher at now and returns the one
// it replaces.
func (s *Stream) attachPublisher(p *Publisher, now time.Time) *Publisher {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.pub
	s.pub = p
	s.lastMedia = now
	if s.graceTimer != nil {
		s.graceTimer.Stop()
		s.graceTimer = nil
	}
	s.live = false
	s.sessionStarted = false
	s.lastKeyframeReq = time.Time{} // a new source: ask it at once
	s.clearGOP()
	return old
}

func (s *Stream) clearGOP() {
	clear(s.gop)
	s.gop = s.gop[:0]
	s.gopBytes = 0
	s.gopValid = false
}

// rebase maps p's publisher timestamps to hub time. Called with s.mu held.
func (s *Stream) rebase(p *Packet) {
	k := p.Kind()
	cts := p.PTS - p.DTS
	if cts < 0 {
		cts = 0
	}
	if !s.sessionStarted {
		s.sessionStarted = true
		var base time.Duration
		if s.haveLast[KindVideo] || s.haveLast[KindAudio] {
			base = max(s.lastOut[KindVideo], s.lastOut[KindAudio]) + s.gap(KindVideo)
		}
		s.offset = base - p.DTS
	}
	out := p.DTS + s.offset
	if s.haveLast[k] {
		d := out - s.lastOut[k]
		switch {
		case d > maxForwardJump || d < -maxBackStep:
			out = s.lastOut[k] + s.gap(k)
			s.offset = out - p.DTS
		case d < 0:
			out = s.lastOut[k]
		case d > 0 && d < time.Second:
			s.frameGap[k] = d
		}
	}
	s.lastOut[k] = out
	s.haveLast[k] = true
	p.DTS = out
	p.PTS = out + cts
}

func (s *Stream) gap(k Kind) time.Duration {
	if g := s.frameGap[k]; g > 0 {
		return g
	}
	if g := s.frameGap[KindAudio]; g > 0 {
		return g
	}
	return defaultFrameGap
}

// keyframeRequestLocked returns the publisher's keyframe requester if one is
// set and the rate limit allows a request now, else nil. The caller calls the
// result after releasing s.mu. Called with s.mu held.
func (s *Stream) keyframeRequestLocked() func() {
	if s.pub == nil || s.pub.keyframeReq == nil {
		return nil
	}
	now := s.hub.now()
	if !s.lastKeyframeReq.IsZero() && now.Sub(s.lastKeyframeReq) < KeyframeRequestInterval {
		return nil
	}
	s.lastKeyframeReq = now
	return s.pub.keyframeReq
}

// write is Publisher.Write. The source packet is cached and queued under
// s.mu; an audio packet is then handed to the stream's derivations outside
// the lock (the transcoding CPU runs on the publisher's goroutine without
// blocking readers or subscribers), and their packets are queued in turn.
func (s *Stream) write(pub *Publisher, p *Packet) error {
	if p.Track == nil {
		return fmt.Errorf("media: packet without track")
	}
	s.mu.Lock()
	if s.ended || s.pub != pub {
		s.mu.Unlock()
		return errPublisherGone
	}
	s.rebase(p)
	s.lastMedia = s.hub.now()
	s.meter.add(p)
	if p.Kind() == KindVideo {
		s.video = p.Track
	} else {
		if s.audio != p.Track {
			s.audio = p.Track
			s.syncDerivationsLocked()
		}
		p.Keyframe = true
	}

	var event func()
	if !s.live {
		s.live = true
		info := Info{Video: s.video, Audio: s.audio}
		obs := s.hub.obs
		switch {
		case !s.started:
			s.started = true
			if obs != nil {
				event = func() { obs.MediaStarted(s.key, info) }
			}
		case s.paused:
			s.paused = false
			if obs != nil {
				event = func() { obs.MediaResumed(s.key, info) }
			}
		}
	}

	s.cacheLocked(p)
	needKey := s.fanoutLocked(p)
	var derive []*derivation
	if p.Kind() == KindAudio && len(s.derived) > 0 {
		for _, c := range derivedCodecs {
			if dv := s.derived[c]; dv != nil {
				derive = append(derive, dv)
			}
		}
	}
	var requestKey func()
	if needKey {
		requestKey = s.keyframeRequestLocked()
	}
	s.unlock()
	if event != nil {
		event()
	}
	if requestKey != nil {
		requestKey()
	}
	for _, dv := range derive {
		s.writeDerived(pub, dv, p)
	}
	return nil
}

// writeDerived runs dv on the source packet p and queues what it makes to
// the readers that want it, if dv is still wanted. Publisher goroutine.
func (s *Stream) writeDerived(pub *Publisher, dv *derivation, p *Packet) {
	var buf [4]*Packet
	out := dv.derive(buf[:0], p)
	if len(out) == 0 {
		return
	}
	s.mu.Lock()
	if s.ended || s.pub != pub || s.derived[dv.want] != dv {
		s.mu.Unlock()
		return
	}
	var requestKey func()
	if s.deliverDerivedLocked(dv, out) {
		requestKey = s.keyframeRequestLocked()
	}
	s.unlock()
	if requestKey != nil {
		requestKey()
	}
}

// cacheLocked adds p to the GOP cache. Only streams with video have one:
// audio-only readers start at once. Called with s.mu held.
func (s *Stream) cacheLocked(p *Packet) {
	if s.video == nil {
		return
	}
	if p.Kind() == KindVideo && p.Keyframe {
		s.clearGOP()
		s.gopValid = true
	}
	if s.gopValid {
		cfg := &s.hub.cfg
		if len(s.gop) >= cfg.GOPMaxPackets || s.gopBytes+len(p.Payload) > cfg.GOPMaxBytes {
			s.clearGOP()
		} else {
			s.gop = append(s.gop, p)
			s.gopBytes += len(p.Payload)
		}
	}
}

// fanoutLocked queues p to the readers that take it (takesLocked). It
// reports whether a reader now waits for a keyframe p is not. Called with
// s.mu held.
func (s *Stream) fanoutLocked(p *Packet) (needKey bool) {
	hasVideo := s.video != nil
	isVideo := p.Kind() == KindVideo
	// Audio of a stream with video may wait for the next picture in the
	// queues of lazy readers, so that both leave in one write.
	urgent := isVideo || !hasVideo
	held := false
	push := func(r *Reader, p *Packet) bool {
		ok, h := r.push(p, urgent)
		held = held || h
		return ok
	}
	for _, r := range s.readers {
		if !r.started {
			r.started = true
			if r.hold != nil {
				r.hold.Stop()
				r.hold = nil
			}
		}
		if !s.takesLocked(r, p) {
			continue
		}
		// A reader without a decodable picture skips video up to the next
		// keyframe; audio needs no sync point and flows on.
		if r.waitKey && isVideo {
			if !p.Keyframe {
				if r.lagging {
					r.drop()
				}
				needKey = true
				continue
			}
			r.waitKey = false
			r.lagging = false
		}
		// A reader that has received nothing yet starts with the picture:
		// audio that comes first waits (bounded) and follows the keyframe.
		if r.fresh && hasVideo && !isVideo && len(r.preroll) < maxPreroll {
			r.preroll = append(r.preroll, p)
			continue
		}
		if r.fresh {
			r.fresh = false
			ok, _ := r.push(p, true)
			for _, q := range r.preroll {
				ok = push(r, q) && ok
			}
			clear(r.preroll)
			r.preroll = nil
			if !ok {
				r.overflow(hasVideo)
				needKey = needKey || hasVideo
			}
			continue
		}
		if !push(r, p) {
			r.overflow(hasVideo)
			needKey = needKey || hasVideo
		}
	}
	s.armAudioLocked(held, urgent)
	return needKey
}

// armAudioLocked sets the audio-wait timer when a fan-out left lazy readers
// holding audio, and clears it when an urgent one released them all.
// Called with s.mu held.
func (s *Stream) armAudioLocked(held, urgent bool) {
	switch {
	case held && !s.audioArmed:
		s.audioArmed = true
		if s.audioTimer == nil {
			s.audioTimer = time.AfterFunc(s.hub.cfg.AudioWait, s.releaseAudio)
		} else {
			s.audioTimer.Reset(s.hub.cfg.AudioWait)
		}
	case !held && urgent && s.audioArmed:
		// Every reader that took this packet was told; one that skipped it
		// (waiting for a keyframe) may still hold audio: keep the timer.
		if s.allSignaledLocked() {
			s.audioArmed = false
			s.audioTimer.Stop()
		}
	}
}

// allSignaledLocked reports whether no lazy reader holds audio it was not
// told about. Called with s.mu held.
func (s *Stream) allSignaledLocked() bool {
	for _, r := range s.readers {
		if r.lazy && r.holds() {
			return false
		}
	}
	return true
}

// releaseAudio is the audio-wait timer: the held audio goes now.
func (s *Stream) releaseAudio() {
	s.mu.Lock()
	if s.audioArmed && !s.ended {
		s.audioArmed = false
		for _, r := range s.readers {
			r.release()
		}
	}
	s.mu.Unlock()
}

// setTracks declares the publisher's tracks before its first packet.
// The derivations its readers need start here, on the publisher's goroutine
// and outside the lock, so that a reader held for the stream knows its
// derived track before the first packet.
func (s *Stream) setTracks(pub *Publisher, video, audio *Track) {
	s.mu.Lock()
	if s.pub != pub {
		s.mu.Unlock()
		return
	}
	s.video, s.audio = video, audio
	s.syncDerivationsLocked()
	var prepare []*derivation
	if audio != nil {
		for _, c := range derivedCodecs {
			if dv := s.derived[c]; dv != nil {
				prepare = append(prepare, dv)
			}
		}
	}
	s.unlock()
	for _, dv := range prepare {
		dv.prepare(audio)
	}
}

// publisherClosed: the ingest connection ended on its own.
func (s *Stream) publisherClosed(pub *Publisher, cause error) {
	s.mu.Lock()
	if s.ended || s.pub != pub {
		s.mu.Unlock()
		return
	}
	s.pub = nil
	s.live = false
	s.clearGOP()
	grace := s.hub.cfg.Grace
	var event func()
	endNow := false
	switch {
	case s.started && grace > 0:
		s.paused = true
		s.graceTimer = time.AfterFunc(grace, s.graceExpired)
		if obs := s.hub.obs; obs != nil {
			event = func() { obs.MediaPaused(s.key) }
		}
	case s.started:
		endNow = true
	}
	gc := !endNow && !s.started && len(s.readers) == 0
	s.mu.Unlock()
	s.hub.publisherGone()
	if event != nil {
		event()
	}
	switch {
	case endNow:
		s.end(errcode.NotPublishing("the publisher stopped"))
	case gc:
		s.end(nil)
	default:
		s.hub.syncWanted(s.key)
	}
	_ = cause
}

func (s *Stream) graceExpired() {
	s.mu.Lock()
	expired := s.paused && s.pub == nil && !s.ended
	s.mu.Unlock()
	if expired {
		s.end(errcode.NotPublishing(fmt.Sprintf("the publisher did not come back within %s", s.hub.cfg.Grace)))
	}
}

// end closes the stream's publisher and readers. Idempotent.
func (s *Stream) end(reason error) { s.endIf(nil, reason) }

// endIf is end, only while only (when not nil) is the stream's publisher.
func (s *Stream) endIf(only *Publisher, reason error) {
	s.mu.Lock()
	if s.ended || (only != nil && s.pub != only) {
		s.mu.Unlock()
		return
	}
	s.ended = true
	if s.graceTimer != nil {
		s.graceTimer.Stop()
		s.graceTimer = nil
	}
	if s.audioTimer != nil {
		s.audioTimer.Stop() // the readers' end tells them
		s.audioArmed = false
	}
	pub := s.pub
	s.pub = nil
	readers := s.readers
	s.readers = nil
	for _, r := range readers {
		r.removed = true
		if r.hold != nil {
			r.hold.Stop()
			r.hold = nil
		}
	}
	s.clearGOP()
	s.wants = [len(s.wants)]int{}
	s.syncDerivationsLocked() // ended: retires them all
	started := s.started
	s.unlock()
	s.hub.readers.Add(-int64(len(readers)))

	s.hub.remove(s)
	if pub != nil {
		s.hub.publisherGone()
		pub.kill(reason)
	}
	if reason == nil {
		reason = errcode.NotPublishing("the stream ended")
	}
	// The observer hears it before the readers do.
	if started && s.hub.obs != nil {
		s.hub.obs.MediaStopped(s.key, reason)
	}
	for _, r := range readers {
		r.finish(reason)
	}
	s.hub.syncWanted(s.key)
}

// addReader registers a new reader. It also returns the publisher's keyframe
// requester when the reader needs a keyframe the GOP cache does not hold, and
// the function that starts the reader's derived track when it needs one (the
// caller calls both once it holds no lock). Called with hub.mu held.
func (s *Stream) addReader(opt SubscribeOptions) (r *Reader, requestKey, prepare func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, nil, nil, errStreamEnded
	}
	if limit := s.hub.cfg.MaxReadersPerStream; limit > 0 && len(s.readers) >= limit {
		return nil, nil, nil, errcode.TooManyUsers(fmt.Sprintf("reader limit of this stream (%d) reached", limit))
	}
	if opt.Audio.Kind() != KindAudio {
		opt.Audio = CodecUnknown // a video codec is no audio wish
	}
	r = newReader(s, opt, s.hub.cfg.QueueSize)
	s.wants[r.audio]++
	s.syncDerivationsLocked()
	switch {
	case s.live && s.video != nil && s.gopValid && len(s.gop) > 0:
		// From the cached keyframe, with the audio this reader plays (the
		// source's, or its derived codec's cached packets: none if its
		// derivation starts now).
		r.backlog = make([]*Packet, 0, len(s.gop))
		for _, p := range s.gop {
			if s.takesLocked(r, p) {
				r.backlog = append(r.backlog, p)
			}
		}
		r.started = true
		r.fresh = false
	case s.live && s.video != nil:
		r.waitKey = true
		r.started = true
	case s.live:
		r.started = true
	default:
		r.waitKey = true
		r.hold = time.AfterFunc(s.hub.cfg.HoldTimeout, func() { s.holdExpired(r) })
	}
	s.readers = append(s.readers, r)
	s.hub.readers.Add(1)
	if r.backlog == nil && s.video != nil {
		// The stream has (or declared) video but no cached keyframe.
		requestKey = s.keyframeRequestLocked()
	}
	if s.wantsDerivedLocked(r) {
		if dv, src := s.derived[r.audio], s.audio; dv != nil {
			prepare = func() { dv.prepare(src) }
		}
	}
	return r, requestKey, prepare, nil
}

func (s *Stream) holdExpired(r *Reader) {
	s.mu.Lock()
	if r.started || r.removed {
		s.mu.Unlock()
		return
	}
	s.removeReaderLocked(r)
	gc := s.idleLocked()
	s.unlock()
	if gc {
		s.end(nil) // before finish: when Next returns, the stream is gone
	} else {
		s.hub.syncWanted(s.key)
	}
	r.finish(errcode.NotPublishing(fmt.Sprintf("the stream did not start within %s", s.hub.cfg.HoldTimeout)))
}

func (s *Stream) removeReaderLocked(r *Reader) {
	if r.removed {
		return
	}
	r.removed = true
	if r.hold != nil {
		r.hold.Stop()
		r.hold = nil
	}
	if i := slices.Index(s.readers, r); i >= 0 {
		s.readers = slices.Delete(s.readers, i, i+1)
	}
	s.hub.readers.Add(-1)
	s.wants[r.audio]--
	s.syncDerivationsLocked()
}

// idleLocked: nobody publishes, nobody waits, nothing was started.
func (s *Stream) idleLocked() bool {
	return !s.ended && s.pub == nil && !s.paused && len(s.readers) == 0
}

// removeReader is Reader.Close.
func (s *Stream) removeReader(r *Reader) {
	s.mu.Lock()
	wasRemoved := r.removed
	s.removeReaderLocked(r)
	gc := !wasRemoved && s.idleLocked()
	s.unlock()
	if gc {
		s.end(nil)
	} else if !wasRemoved {
		s.hub.syncWanted(s.key)
	}
}

func (s *Stream) closeViewer(viewer string, reason error) {
	s.mu.Lock()
	var victims []*Reader
	for _, r := range s.readers {
		if r.viewer != "" && r.viewer == viewer {
			victims = append(victims, r)
		}
	}
	for _, r := range victims {
		s.removeReaderLocked(r)
	}
	s.unlock()
	for _, r := range victims {
		r.finish(reason)
	}
	if len(victims) > 0 {
		s.hub.syncWanted(s.key)
	}
}

// tracks returns the current tracks as reader r plays them: its audio is
// the derived track when it wants another codec than the source's.
func (s *Stream) tracks(r *Reader) (video, audio *Track) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.video, s.readerAudioLocked(r)
}
