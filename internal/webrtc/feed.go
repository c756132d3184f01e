package webrtc

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/transcode"
)

// unit is one frame ready for RTP: its payloads are shared by every WHEP
// session of the stream and never modified.
type unit struct {
	video    bool
	key      bool // video keyframe (starts with the parameter sets)
	pts      time.Duration
	wall     time.Time // the wall-clock instant pts stands for (RTCP sender reports)
	rotation int       // video: degrees clockwise, from the channel
	payloads [][]byte
}

// Limits of a feed's own keyframe cache (what a new session starts with).
const (
	feedGOPMaxUnits = 1024
	feedGOPMaxBytes = 8 << 20
)

// feed is the WebRTC view of one hub stream: one hub reader, H.264
// packetized once, AAC bridged to Opus once, fanned out to every WHEP
// session of the stream. When the stream's publisher is a WHIP session of
// this server, its AAC (made from Opus for RTMP/FLV readers) is ignored and
// the publisher's own Opus packets are passed through instead, so WHEP
// readers never get Opus -> AAC -> Opus. It exists while at least one
// session is attached.
type feed struct {
	s   *Server
	key media.Key
	rd  *media.Reader

	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	subs     []*whepSession
	gop      []*unit // video units from the last keyframe
	gopBytes int
	gopOK    bool
	ended    bool
	// The hub timeline is mapped to wall time once, at the first unit.
	wall0 time.Time
	pts0  time.Duration

	// Counters (feed goroutine only; read in tests after it ends).
	transcodeErrors int
}

// attach adds sess to key's feed, creating the feed (and its hub reader)
// for the first session.
func (s *Server) attach(sess *whepSession) error {
	s.mu.Lock()
	wr, ok := s.writerForLocked()
	if !ok {
		s.mu.Unlock()
		return errcode.ServiceExited("node shutting down")
	}
	sess.wr = wr
	f := s.feeds[sess.key]
	if f == nil {
		rd, err := s.hub.Subscribe(sess.key, media.SubscribeOptions{Protocol: "webrtc"})
		if err != nil {
			s.mu.Unlock()
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		f = &feed{s: s, key: sess.key, rd: rd, cancel: cancel, done: make(chan struct{})}
		s.feeds[sess.key] = f
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			f.run(ctx)
		}()
	}
	s.mu.Unlock()
	if !f.add(sess) {
		return errcode.NotPublishing("the stream ended")
	}
	return nil
}

// detach removes sess from its feed; the last session stops the feed.
func (s *Server) detach(sess *whepSession) {
	s.mu.Lock()
	f := s.feeds[sess.key]
	if f == nil || f != sess.feed.Load() || !f.remove(sess) {
		s.mu.Unlock()
		return
	}
	delete(s.feeds, sess.key)
	s.mu.Unlock()
	f.cancel()
}

// add registers sess and queues the cached GOP to it. False if the feed ended.
func (f *feed) add(sess *whepSession) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return false
	}
	sess.feed.Store(f)
	if f.gopOK {
		for _, u := range f.gop {
			sess.enqueue(u)
		}
	} else {
		sess.waitKey = true
	}
	f.subs = append(f.subs, sess)
	return true
}

// remove unregisters sess; true when it was the last session.
func (f *feed) remove(sess *whepSession) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.subs {
		if x == sess {
			f.subs = append(f.subs[:i], f.subs[i+1:]...)
			break
		}
	}
	return len(f.subs) == 0 && !f.ended
}

// run drains the hub reader until the feed is cancelled or the stream ends.
func (f *feed) run(ctx context.Context) {
	defer close(f.done)
	defer f.rd.Close()
	var (
		pkts    []*media.Packet
		err     error
		bridge  *transcode.AACToOpus
		brTrack *media.Track
		frames  []transcode.Frame
	)
	defer func() {
		if bridge != nil {
			f.s.meter.TranscodeEnded(dirAACToOpus)
		}
	}()
	mtu := f.s.cfg.MTU
	rotation := 0
	passAAC := false // brTrack is made by a local WHIP publisher, whose Opus the feed gets directly
	for {
		pkts, err = f.rd.Next(ctx, pkts[:0])
		for i, p := range pkts {
			pkts[i] = nil
			switch p.Track.Codec {
			case media.CodecH264:
				pl, key, perr := h264Payloads(p.Payload, p.Track.SPS, p.Track.PPS, mtu)
				if perr != nil || len(pl) == 0 {
					continue
				}
				if key && f.s.chans != nil {
					rotation = f.s.chans.Rotation(f.key.AppID, f.key.Channel, f.key.UID)
				}
				f.publish(&unit{video: true, key: key, pts: p.PTS, rotation: rotation, payloads: pl})
			case media.CodecAAC:
				if p.Track != brTrack {
					if bridge != nil {
						f.s.meter.TranscodeEnded(dirAACToOpus)
					}
					brTrack, bridge = p.Track, nil
					passAAC = f.s.opusPassThrough(f.key, p.Track)
					if !passAAC {
						bridge, err = transcode.NewAACToOpus(p.Track.Config, transcode.AACToOpusConfig{Bitrate: f.s.cfg.OpusBitrate})
						if err != nil {
							f.s.log.Warn("AAC track cannot be bridged to Opus", "stream", f.key, "err", err)
							bridge = nil
						} else {
							f.s.meter.TranscodeStarted(dirAACToOpus)
						}
					}
				}
				if passAAC || bridge == nil {
					continue
				}
				var terr error
				t0 := time.Now()
				frames, terr = bridge.Push(frames[:0], p.Payload, p.PTS)
				f.s.meter.TranscodeTime(dirAACToOpus, time.Since(t0))
				if terr != nil {
					f.transcodeErrors++
				}
				for _, fr := range frames {
					f.publish(&unit{pts: fr.PTS, payloads: [][]byte{fr.Payload}})
				}
			case media.CodecOpus:
				f.publish(&unit{pts: p.PTS, payloads: [][]byte{p.Payload}})
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				// The stream ended (or the hub closed the reader): end the sessions.
				f.end(err)
			}
			return
		}
	}
}

// publish caches u (video) and queues it to every session. It is called by
// the feed goroutine and, for Opus passed through from a local WHIP
// publisher, by that session's audio goroutine.
func (f *feed) publish(u *unit) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wall0.IsZero() {
		f.wall0, f.pts0 = time.Now(), u.pts
	}
	u.wall = f.wall0.Add(u.pts - f.pts0)
	if u.video {
		if u.key {
			clear(f.gop)
			f.gop = f.gop[:0]
			f.gopBytes = 0
			f.gopOK = true
		}
		if f.gopOK {
			n := 0
			for _, p := range u.payloads {
				n += len(p)
			}
			if len(f.gop) >= feedGOPMaxUnits || f.gopBytes+n > feedGOPMaxBytes {
				clear(f.gop)
				f.gop = f.gop[:0]
				f.gopOK = false
			} else {
				f.gop = append(f.gop, u)
				f.gopBytes += n
			}
		}
	}
	for _, s := range f.subs {
		s.enqueue(u)
	}
}

// end closes every session of an ended stream.
func (f *feed) end(reason error) {
	f.mu.Lock()
	f.ended = true
	subs := append([]*whepSession(nil), f.subs...)
	f.subs = nil
	f.mu.Unlock()
	f.s.mu.Lock()
	if f.s.feeds[f.key] == f {
		delete(f.s.feeds, f.key)
	}
	f.s.mu.Unlock()
	if e := (*errcode.Error)(nil); !errors.As(reason, &e) {
		reason = errcode.NotPublishing("the stream ended")
	}
	for _, s := range subs {
		s.close(reason)
	}
}
