package webrtc

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
)

// audioBeforeVideoWait is how long a WHIP publisher whose offer has video
// may send audio before its first keyframe: that audio is dropped, so that
// RTMP/FLV readers see the video track from the start.
const audioBeforeVideoWait = 3 * time.Second

// whipSession ingests one WebRTC publisher into the hub. It becomes the
// stream's publisher only when its first packet is ready for the hub (ICE and
// DTLS connected, RTP flowing, a keyframe depacketized): a POST whose
// connection never comes up does not disturb the stream's current publisher.
// setPeer sets the session's connection unless the session was closed
// already (then the caller closes pc). With close taking peerMu after it
// closed done, every connection set is closed exactly once.
func (w *whipSession) setPeer(pc *pion.PeerConnection) bool {
	w.peerMu.Lock()
	defer w.peerMu.Unlock()
	select {
	case <-w.done:
		return false
	default:
	}
	w.peer = pc
	return true
}

// isEnded reports whether close ran.
func (w *whipSession) isEnded() bool {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.ended
}

type whipSession struct {
	s      *Server
	id     string
	key    media.Key
	peerMu sync.Mutex           // orders setPeer against close
	peer   *pion.PeerConnection // set once by setPeer, before any callback runs
	info   offerInfo
	pubOpt media.PublishOptions
	leave  func(published bool)
	t0     time.Time

	wmu          sync.Mutex       // serializes Publisher.Write (video and audio goroutines)
	pub          *media.Publisher // set by the first write; guarded by wmu
	ended        bool             // close ran: write attaches nothing any more
	vTrack       *media.Track
	aTrack       *media.Track
	videoStarted bool
	videoStart   time.Duration // DTS of the first video packet
	tracksSet    bool

	videoSSRC atomic.Uint32
	lastPLI   atomic.Int64 // unix nanos
	lastKey   atomic.Int64
	rotation  atomic.Int32
	plis      atomic.Uint64
	sync      senderSync

	ice negotiation

	access    access // the publisher's access (admission)
	closeOnce sync.Once
	done      chan struct{}
}

func (w *whipSession) pc() *pion.PeerConnection { return w.peer }
func (w *whipSession) sid() string              { return w.id }
func (w *whipSession) neg() *negotiation        { return &w.ice }

func (s *Server) handleWHIP(w http.ResponseWriter, r *http.Request) {
	if s.redirect(w, r, token.ActionPublish) {
		return
	}
	req, err := s.parseRequest(r, token.ActionPublish)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sess, sdp, etag, err := s.newWHIP(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("WHIP session started", "session", sess.id, "stream", req.key, "video", req.info.video, "audio", req.info.audio)
	writeAnswer(w, sess.id, etag, sdp)
}

// newWHIP creates the session and answers its offer; it returns the
// answer and the ETag of its ICE session.
func (s *Server) newWHIP(ctx context.Context, req request) (*whipSession, string, string, error) {
	sess := &whipSession{s: s, id: newID(), key: req.key, info: req.info, t0: s.now(), done: make(chan struct{})}
	sess.rotation.Store(-1)
	// PATCHes wait for the answer.
	sess.ice.mu.Lock()
	defer sess.ice.mu.Unlock()
	sess.ice.etag = newETag()
	sess.pubOpt = media.PublishOptions{Wildcard: req.grant.Wildcard, OnClose: func(reason error) { sess.close(reason) }}
	// The takeover rule, asked now so that a refused client hears why; the
	// session asks again when it attaches (first media), as things may
	// have changed by then.
	if err := s.hub.MayPublish(req.key, sess.pubOpt); err != nil {
		return nil, "", "", err
	}
	if req.grant.Wildcard && s.chans == nil {
		return nil, "", "", errcode.PublishNeedsUID("a token without a uid (uid 0) cannot publish over WHIP on this server: use a token built for uid " + req.key.UID)
	}
	if s.chans != nil {
		leave, err := s.chans.JoinPublisher(req.key.AppID, req.key.Channel, req.key.UID, sess.id, req.grant.Wildcard, func(reason error) {
			s.goRun(func() { sess.close(reason) }) // not under the channel model's lock
		})
		if err != nil {
			return nil, "", "", err
		}
		sess.leave = leave
	}
	// The publisher's access ending (leave, kick, ban, token expiry) ends
	// the session. After the join: a join that takes the uid over ends the
	// sessions of the member it replaces, not this one.
	sess.access.register(s, req.grant, sess.close)
	fail := func(err error) (*whipSession, string, string, error) {
		sess.close(err)
		return nil, "", "", err
	}
	pc, err := s.api.ingest.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return fail(errcode.Internal(err))
	}
	if !sess.setPeer(pc) {
		// A kick or the hub ended the session while it was being set up:
		// its close ran without a connection to close.
		_ = pc.Close()
		return fail(errcode.NotPublishing("the session ended while it was being set up"))
	}
	pc.OnTrack(func(tr *pion.TrackRemote, rcv *pion.RTPReceiver) {
		s.goRun(func() { sess.readRTCP(rcv) })
		switch tr.Kind() {
		case pion.RTPCodecTypeVideo:
			cvo := uint8(0)
			for _, e := range rcv.GetParameters().HeaderExtensions {
				if e.URI == cvoURI && e.ID > 0 && e.ID < 15 {
					cvo = uint8(e.ID)
				}
			}
			s.goRun(func() { sess.readVideo(tr, cvo) })
		case pion.RTPCodecTypeAudio:
			s.goRun(func() { sess.readAudio(tr) })
		}
	})
	pc.OnConnectionStateChange(func(st pion.PeerConnectionState) {
		switch st {
		case pion.PeerConnectionStateFailed:
			s.failed(pc)
			sess.close(errcode.ServiceLost("WebRTC connection failed (ICE or DTLS)"))
		case pion.PeerConnectionStateClosed: // the client said goodbye
			sess.close(nil)
		}
	})
	if err := s.addSession(sess.id, sess); err != nil {
		return fail(err)
	}
	select {
	case <-sess.done:
		// Closed before it was added: close's removal came too early.
		s.removeSession(sess.id)
		return nil, "", "", errcode.NotPublishing("the session ended while it was being set up")
	default:
	}
	sdp, err := answer(ctx, pc, req.offer)
	if err != nil {
		return fail(err)
	}
	return sess, sdp, sess.ice.etag, nil
}

// readRTCP drains a receiver's RTCP (so pion's interceptors see it) and
// keeps the publisher's sender reports for lip sync.
func (w *whipSession) readRTCP(rcv *pion.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		n, _, err := rcv.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				w.sync.add(sr)
			}
		}
	}
}

// requestKeyframe sends a PLI to the publisher, at most one per 500 ms
// unless force.
func (w *whipSession) requestKeyframe(force bool) {
	ssrc := w.videoSSRC.Load()
	if ssrc == 0 || w.peer == nil {
		return
	}
	now := time.Now().UnixNano()
	last := w.lastPLI.Load()
	if !force && now-last < int64(500*time.Millisecond) {
		return
	}
	if !w.lastPLI.CompareAndSwap(last, now) {
		return
	}
	w.plis.Add(1)
	_ = w.peer.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}

// senderSync aligns a publisher's tracks with its RTCP sender reports: each
// report maps an RTP timestamp to the sender's wall clock, the same clock
// for audio and video. The first track that gets a report anchors the
// session (no jump); the other track is moved once onto the same clock.
type senderSync struct {
	mu     sync.Mutex
	srs    map[uint32]senderReport // by SSRC
	t0     time.Time               // sender wall time of hub pts 0
	anchor bool
}

type senderReport struct {
	ntp time.Time
	rtp uint32
}

func (s *senderSync) add(sr *rtcp.SenderReport) {
	sec, frac := int64(sr.NTPTime>>32)-2208988800, sr.NTPTime&0xffffffff
	t := time.Unix(sec, int64(frac*1e9>>32))
	s.mu.Lock()
	if s.srs == nil {
		s.srs = make(map[uint32]senderReport)
	}
	s.srs[sr.SSRC] = senderReport{ntp: t, rtp: sr.RTPTime}
	s.mu.Unlock()
}

// align returns the pts a packet (ssrc, ts) should have on the common clock,
// given the pts it has now; ok is false until ssrc has a sender report.
func (s *senderSync) align(ssrc, ts uint32, rate int64, pts time.Duration) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr, ok := s.srs[ssrc]
	if !ok {
		return 0, false
	}
	diff := int32(ts - sr.rtp) //nolint:gosec // G115: the signed distance of 32-bit RTP timestamps, wrapping on purpose
	wall := sr.ntp.Add(time.Duration(int64(diff) * int64(time.Second) / rate))
	if !s.anchor {
		s.anchor = true
		s.t0 = wall.Add(-pts)
	}
	return wall.Sub(s.t0), true
}

// tsClock maps a track's RTP timestamps to hub time: the first packet is
// placed at its arrival time since the session began, later ones follow the
// RTP clock (unwrapped across 32-bit wraparound).
type tsClock struct {
	rate    int64
	started bool
	last    uint32
	acc     int64
	base    time.Duration
	synced  bool // moved onto the sender-report clock
}

// maxSyncShift bounds the one-time move onto the sender-report clock: a
// larger one means a bogus report, not a capture offset.
const maxSyncShift = time.Second

// sync moves the clock onto the session's sender-report clock once.
func (c *tsClock) sync(s *senderSync, ssrc, ts uint32, pts time.Duration) time.Duration {
	if c.synced {
		return pts
	}
	want, ok := s.align(ssrc, ts, c.rate, pts)
	if !ok {
		return pts
	}
	c.synced = true
	if d := want - pts; d < maxSyncShift && d > -maxSyncShift {
		c.base += d
		return want
	}
	return pts
}

func (c *tsClock) pts(ts uint32, since time.Duration) time.Duration {
	if !c.started {
		c.started = true
		c.last = ts
		c.base = since
		return since
	}
	c.acc += int64(int32(ts - c.last)) //nolint:gosec // G115: the signed distance of 32-bit RTP timestamps, wrapping on purpose
	c.last = ts
	return c.base + ticksDuration(c.acc, c.rate)
}

// ticksDuration is how long ticks of a clock of rate Hz last. It scales
// whole seconds and the rest apart: ticks*time.Second overflows int64 past
// 2^63 ns of ticks (28.5 hours at 90 kHz, 53 at 48 kHz), which made a
// long-running publisher's timestamps jump back.
func ticksDuration(ticks, rate int64) time.Duration {
	return time.Duration(ticks/rate)*time.Second + time.Duration(ticks%rate)*time.Second/time.Duration(rate)
}

func (w *whipSession) readVideo(tr *pion.TrackRemote, cvoID uint8) {
	w.videoSSRC.Store(uint32(tr.SSRC()))
	w.requestKeyframe(true)
	ro := reorder{maxWait: w.s.cfg.ReorderWait}
	var dp h264Depacketizer
	clock := tsClock{rate: 90000}
	needKey := true
	var sps, pps []byte
	pliEvery := w.s.cfg.PLIInterval
	w.lastKey.Store(time.Now().UnixNano())
	emit := func(p *rtp.Packet, lost bool) {
		if lost {
			needKey = true
			w.requestKeyframe(false)
		}
		au := dp.push(p.Payload, p.Timestamp, p.Marker, lost)
		if au == nil {
			return
		}
		pts := clock.pts(au.timestamp, time.Since(w.t0))
		pts = clock.sync(&w.sync, uint32(tr.SSRC()), au.timestamp, pts)
		if au.sps != nil {
			sps = au.sps
		}
		if au.pps != nil {
			pps = au.pps
		}
		if sps != nil && pps != nil && (w.vTrack == nil || !sameParams(w.vTrack, sps, pps)) {
			w.vTrack = newH264Track(sps, pps)
		}
		if w.vTrack == nil || len(au.avcc) == 0 {
			return
		}
		if needKey && !au.idr {
			w.requestKeyframe(false)
			return
		}
		if au.idr {
			needKey = false
			w.lastKey.Store(time.Now().UnixNano())
		}
		w.write(&media.Packet{Track: w.vTrack, DTS: pts, PTS: pts, Keyframe: au.idr, Payload: au.avcc})
	}
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		if cvoID != 0 {
			if ext := pkt.GetExtension(cvoID); len(ext) > 0 {
				w.setRotation(cvoDegrees(ext[0]))
			}
		}
		ro.push(pkt, now, emit)
		if now.UnixNano()-w.lastKey.Load() > int64(pliEvery) && now.UnixNano()-w.lastPLI.Load() > int64(pliEvery) {
			w.requestKeyframe(true)
		}
	}
}

func sameParams(t *media.Track, sps, pps []byte) bool {
	return len(t.SPS) == 1 && len(t.PPS) == 1 && string(t.SPS[0]) == string(sps) && string(t.PPS[0]) == string(pps)
}

func newH264Track(sps, pps []byte) *media.Track {
	t := &media.Track{Codec: media.CodecH264, SPS: [][]byte{sps}, PPS: [][]byte{pps}}
	var p h264.SPS
	if err := p.Unmarshal(sps); err == nil {
		t.Width, t.Height, t.FrameRate = p.Width(), p.Height(), p.FPS()
	}
	return t
}

// setRotation records the publisher's video rotation (CVO): it is stream
// metadata in the hub, which WHEP readers signal, and the channel seam is
// told so that mini program subscribers get video-rotation.
func (w *whipSession) setRotation(deg int) {
	if old := w.rotation.Swap(int32(deg)); int(old) == deg { //nolint:gosec // G115: deg is cvoDegrees', 0..270
		return
	}
	w.wmu.Lock()
	if w.pub != nil {
		w.pub.SetRotation(deg)
	}
	w.wmu.Unlock()
	if w.s.chans != nil {
		w.s.chans.SetRotation(w.key.AppID, w.key.Channel, w.key.UID, deg)
	}
}

// opusTrack is the hub track of a WHIP publisher's audio: Opus as WebRTC
// sends it (48 kHz, stereo signalling per RFC 7587), with its RFC 7845 ID
// header as the configuration. RTMP/FLV readers that want AAC get the
// hub's derived track.
func opusTrack() *media.Track {
	cfg, err := (&opus.IDHeader{Version: 1, ChannelCount: 2, InputSampleRate: 48000}).Marshal()
	if err != nil {
		cfg = nil // cannot happen: a fixed, valid header
	}
	return &media.Track{Codec: media.CodecOpus, Config: cfg, SampleRate: 48000, Channels: 2}
}

// readAudio writes the publisher's Opus packets to the hub unchanged.
func (w *whipSession) readAudio(tr *pion.TrackRemote) {
	track := opusTrack()
	w.wmu.Lock()
	w.aTrack = track
	w.wmu.Unlock()
	ro := reorder{maxWait: w.s.cfg.ReorderWait}
	clock := tsClock{rate: 48000}
	emit := func(p *rtp.Packet, lost bool) {
		if len(p.Payload) == 0 {
			return
		}
		pts := clock.pts(p.Timestamp, time.Since(w.t0))
		pts = clock.sync(&w.sync, uint32(tr.SSRC()), p.Timestamp, pts)
		w.write(&media.Packet{Track: track, DTS: pts, PTS: pts, Keyframe: true, Payload: bytes.Clone(p.Payload)})
	}
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		ro.push(pkt, time.Now(), emit)
	}
}

// attach makes the session the stream's publisher, under the hub's takeover
// rule, when its first packet is ready. Called with wmu held.
func (w *whipSession) attach() error {
	pub, err := w.s.hub.PublishWith(w.key, w.pubOpt)
	if err != nil {
		return err
	}
	w.pub = pub
	w.s.meter.PublishStarted()
	// The hub asks when an RTMP/FLV (or WHEP) reader needs a keyframe the
	// GOP cache does not hold, or one fell behind: PLI at once (the hub
	// rate-limits per stream; PLIInterval stays the fallback).
	pub.SetKeyframeRequester(func() { w.requestKeyframe(true) })
	if deg := w.rotation.Load(); deg >= 0 {
		pub.SetRotation(int(deg))
	}
	w.s.mu.Lock()
	w.s.publishers[w.key] = w
	w.s.mu.Unlock()
	w.s.log.Info("WHIP session publishing", "session", w.id, "stream", w.key, "after", time.Since(w.t0).Round(time.Millisecond))
	return nil
}

// write hands a packet to the hub (from either track goroutine); the first
// one attaches the session to the stream.
func (w *whipSession) write(p *media.Packet) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.ended {
		return
	}
	if p.Kind() == media.KindVideo {
		if !w.videoStarted {
			w.videoStarted = true
			w.videoStart = p.DTS
		}
	} else if w.info.video && (!w.videoStarted && time.Since(w.t0) < audioBeforeVideoWait ||
		w.videoStarted && p.DTS < w.videoStart) {
		// Audio from before the first keyframe: RTMP/FLV readers start at video.
		return
	}
	if w.pub == nil {
		if err := w.attach(); err != nil {
			w.ended = true
			w.s.goRun(func() { w.close(err) }) // refused: not under wmu
			return
		}
	}
	if !w.tracksSet {
		w.tracksSet = true
		var v *media.Track
		if w.videoStarted {
			v = w.vTrack
		}
		w.pub.SetTracks(v, w.aTrack)
	}
	if err := w.pub.Write(p); err != nil {
		w.s.goRun(func() { w.close(err) }) // the hub ended us; not under wmu
	}
}

// close ends the session once: the hub publisher, the channel membership
// and the connection.
func (w *whipSession) close(reason error) {
	w.closeOnce.Do(func() {
		close(w.done)
		w.s.removeSession(w.id)
		w.s.mu.Lock()
		if w.s.publishers[w.key] == w {
			delete(w.s.publishers, w.key)
		}
		w.s.mu.Unlock()
		w.peerMu.Lock()
		pc := w.peer
		w.peerMu.Unlock()
		if pc != nil {
			_ = pc.Close()
		}
		w.wmu.Lock()
		w.ended = true
		pub := w.pub
		w.wmu.Unlock()
		if pub != nil {
			pub.Close(reason)
			w.s.meter.PublishEnded()
		}
		if w.leave != nil && !isReplaced(reason) {
			w.leave(pub != nil)
		}
		w.access.drop()
		w.s.log.Info("WHIP session ended", "session", w.id, "stream", w.key, "reason", reason)
	})
}
