package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minirtc/minirtc/internal/egress"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"
)

// whepSession plays one hub stream to one WebRTC viewer. It is one plain
// hub reader (the GOP cache, queue, drop and timestamp rules of every
// reader), drained by its egress loop when the hub queues a packet.
type whepSession struct {
	s      *Server
	id     string
	key    media.Key
	viewer string
	peer   *pion.PeerConnection
	video  *localTrack // nil when the offer has no video
	audio  *localTrack

	rd   atomic.Pointer[media.Reader] // the session's hub reader; set by attach
	slot *egress.Slot                 // the session in its egress loop, which drains rd; set by attach, guarded by s.mu
	pkts []*media.Packet              // Flush's scratch (the egress loop only)

	// failing is set by the first write error (the session is closing).
	failing atomic.Bool

	ice negotiation

	attached  atomic.Bool
	reading   readerCount // metrics: ReadStarted/ReadEnded once
	access    access      // the viewer's access (admission)
	closeOnce sync.Once
	done      chan struct{}

	vBase, aBase uint32 // random RTP timestamp origins
	keyframes    atomic.Uint64

	// The egress loop only: sender report state, the hub timeline
	// mapped to wall time at the first packet sent (for sender reports),
	// and the video rotation read at the last keyframe.
	vSR, aSR srState
	wall0    time.Time
	pts0     time.Duration
	rotation int
}

// srInterval is how often a WHEP session sends RTCP sender reports.
const srInterval = time.Second

// srState counts what a track sent, for its sender reports.
type srState struct {
	last           time.Time
	packets, bytes uint32
}

// ntpTime is t in the 64-bit NTP format of RTCP sender reports.
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800            // 1900-01-01 to 1970-01-01, seconds
	sec := uint64(t.Unix()) + ntpEpochOffset     //nolint:gosec // G115: the wall clock is after 1970; NTP seconds wrap in 2036 by design (era 1)
	frac := (uint64(t.Nanosecond()) << 32) / 1e9 //nolint:gosec // G115: Nanosecond is in [0, 1e9)
	return sec<<32 | frac
}

// report counts a frame and sends a sender report when one is due: it maps
// the frame's RTP timestamp to the wall instant its pts stands for, the same
// mapping for audio and video, so players line them up (lip sync) even
// though audio leaves later than video.
func (w *whepSession) report(st *srState, b *binding, payloads [][]byte, pts time.Duration, ts uint32, now time.Time) {
	// The sender report's counts wrap modulo 2^32 (RFC 3550 §6.4.1).
	st.packets += uint32(len(payloads)) //nolint:gosec // G115: the payloads of one frame, a few hundred at most
	for _, p := range payloads {
		st.bytes += uint32(len(p)) //nolint:gosec // G115: one RTP payload, at most the MTU
	}
	if w.wall0.IsZero() {
		w.wall0, w.pts0 = now, pts
	}
	if w.peer == nil || now.Sub(st.last) < srInterval {
		return
	}
	st.last = now
	wall := w.wall0.Add(pts - w.pts0)
	_ = w.peer.WriteRTCP([]rtcp.Packet{&rtcp.SenderReport{
		SSRC: b.ssrc, NTPTime: ntpTime(wall), RTPTime: ts, PacketCount: st.packets, OctetCount: st.bytes,
	}})
}

func (w *whepSession) pc() *pion.PeerConnection { return w.peer }
func (w *whepSession) sid() string              { return w.id }
func (w *whepSession) neg() *negotiation        { return &w.ice }

func random32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

func (s *Server) handleWHEP(w http.ResponseWriter, r *http.Request) {
	if s.redirect(w, r, token.ActionPlay) {
		return
	}
	req, err := s.parseRequest(r, token.ActionPlay)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.hub.Live(req.key) && !s.whipPending(req.key) {
		s.writeError(w, r, errcode.NotFound("uid "+req.key.UID+" is not publishing in this channel"))
		return
	}
	sess, sdp, etag, err := s.newWHEP(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("WHEP session started", "session", sess.id, "stream", req.key, "viewer", req.grant.Viewer)
	writeAnswer(w, sess.id, etag, sdp)
}

// whipPending reports whether a WHIP session of this node publishes key but
// has not sent media yet (it takes the stream with its first media): a
// viewer that got stream-added at its POST may already play it; its hub
// reader waits for the publisher as an early RTMP player does.
func (s *Server) whipPending(key media.Key) bool {
	var pending []*whipSession
	s.mu.Lock()
	for _, ss := range s.sessions {
		if ws, ok := ss.(*whipSession); ok && ws.key == key {
			pending = append(pending, ws)
		}
	}
	s.mu.Unlock()
	// Each session's own lock is taken without s.mu: its write path may
	// take s.mu while holding it.
	for _, ws := range pending {
		if !ws.isEnded() {
			return true
		}
	}
	return false
}

// newWHEP creates the session and answers its offer; it returns the
// answer and the ETag of its ICE session.
func (s *Server) newWHEP(ctx context.Context, req request) (*whepSession, string, string, error) {
	pc, err := s.api.play.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, "", "", errcode.Internal(err)
	}
	sess := &whepSession{
		s: s, id: newID(), key: req.key, viewer: req.grant.Viewer, peer: pc,
		done:  make(chan struct{}),
		vBase: random32(), aBase: random32(),
	}
	// PATCHes wait for the answer.
	sess.ice.mu.Lock()
	defer sess.ice.mu.Unlock()
	sess.ice.etag = newETag()
	fail := func(err error) (*whepSession, string, string, error) {
		_ = pc.Close()
		return nil, "", "", err
	}
	streamID := "minirtc-" + req.key.UID
	if req.info.video {
		sess.video = newLocalTrack(pion.RTPCodecTypeVideo, pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000},
			"video", streamID, uint16(random32())) //nolint:gosec // G115: a random initial sequence number, truncated on purpose
		sess.video.now, sess.video.epoch, sess.video.serverRefused = s.now, s.now(), &s.resendsRefused
		if _, err := pc.AddTransceiverFromTrack(sess.video, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
			return fail(errcode.Internal(err))
		}
	}
	if req.info.audio {
		sess.audio = newLocalTrack(pion.RTPCodecTypeAudio, pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2},
			"audio", streamID, uint16(random32())) //nolint:gosec // G115: a random initial sequence number, truncated on purpose
		if _, err := pc.AddTransceiverFromTrack(sess.audio, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
			return fail(errcode.Internal(err))
		}
	}
	pc.OnConnectionStateChange(func(st pion.PeerConnectionState) {
		switch st {
		case pion.PeerConnectionStateConnected:
			// Attach only now: RTP written before DTLS is up is dropped, and
			// the session must start with the cached keyframe.
			if sess.attached.CompareAndSwap(false, true) {
				if err := s.attach(sess); err != nil {
					sess.close(err)
				} else {
					sess.reading.start(s.meter)
				}
				select {
				case <-sess.done: // closed while attaching
					s.detach(sess)
				default:
				}
			}
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
	sdp, err := answer(ctx, pc, req.offer)
	if err != nil {
		s.removeSession(sess.id)
		return fail(err)
	}
	for _, tr := range pc.GetTransceivers() {
		if snd := tr.Sender(); snd != nil {
			s.goRun(func() { sess.readRTCP(snd) })
		}
	}
	// The viewer's access ending (leave, kick, ban, token expiry) ends the
	// session.
	sess.access.register(s, req.grant, sess.close)
	return sess, sdp, sess.ice.etag, nil
}

// writePacket sends one hub packet (the session's egress loop only);
// now is about the time of the write (sender reports).
// The RTP payloads are built once per packet for every session of the
// stream (the packet's WireRTP slot); the session adds only its RTP
// headers, the CVO extension and SRTP. Kinds the session did not negotiate
// and codecs WebRTC does not carry here are skipped.
func (w *whepSession) writePacket(p *media.Packet, now time.Time) error {
	switch p.Track.Codec {
	case media.CodecH264:
		if w.video == nil {
			return nil
		}
		b := w.video.binding()
		if b == nil {
			return nil
		}
		pl := p.Wire(media.WireRTP, func() [][]byte { return h264Wire(p, w.s.cfg.MTU) })
		if len(pl) == 0 {
			return nil
		}
		if p.Keyframe {
			w.keyframes.Add(1)
			if rd := w.rd.Load(); rd != nil {
				w.rotation = rd.Rotation()
			}
		}
		ts := w.vBase + rtpTicks(p.PTS, 90000)
		if err := w.video.writeFrame(b, pl, ts, w.rotation); err != nil {
			return err
		}
		w.report(&w.vSR, b, pl, p.PTS, ts, now)
	case media.CodecOpus:
		if w.audio == nil || len(p.Payload) == 0 {
			return nil
		}
		b := w.audio.binding()
		if b == nil {
			return nil
		}
		pl := p.Wire(media.WireRTP, func() [][]byte { return [][]byte{p.Payload} })
		ts := w.aBase + rtpTicks(p.PTS, 48000)
		if err := w.audio.writeFrame(b, pl, ts, -1); err != nil {
			return err
		}
		w.report(&w.aSR, b, pl, p.PTS, ts, now)
	}
	return nil
}

// rtpTicks is d on an RTP clock of rate Hz, modulo 2^32 as RTP timestamps
// wrap. It scales whole seconds and the rest apart: d*rate overflows int64
// once d passes 2^63/rate ns (28.5 hours at 90 kHz, 53 at 48 kHz), which made
// a long-running stream's timestamps jump.
func rtpTicks(d time.Duration, rate int64) uint32 {
	sec, rest := int64(d/time.Second), int64(d%time.Second)
	return uint32(sec*rate + rest*rate/int64(time.Second)) //nolint:gosec // G115: RTP timestamps wrap modulo 2^32 (RFC 3550 §5.1)
}

// h264Wire is the WireRTP form of an H.264 packet: its RTP payloads for
// mtu (h264.go), nil when the access unit is malformed.
func h264Wire(p *media.Packet, mtu int) [][]byte {
	pl, _, err := h264Payloads(p.Payload, p.Track.SPS, p.Track.PPS, mtu)
	if err != nil {
		return nil
	}
	return pl
}

// readRTCP drains a sender's RTCP: NACKed video packets are resent from
// the track's history; viewer PLIs become the hub's keyframe request of the
// stream (a WHIP publisher gets a PLI; an RTMP publisher cannot be asked,
// the next keyframe serves them).
func (w *whepSession) readRTCP(snd *pion.RTPSender) {
	buf := make([]byte, 1500)
	for {
		n, _, err := snd.Read(buf)
		if err != nil {
			return
		}
		if pkts, err := rtcp.Unmarshal(buf[:n]); err == nil {
			for _, p := range pkts {
				switch p := p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					if rd := w.rd.Load(); rd != nil {
						rd.RequestKeyframe()
					}
				case *rtcp.TransportLayerNack:
					if w.video != nil {
						if b := w.video.binding(); b != nil {
							w.video.resend(b, p)
						}
					}
				}
			}
		}
	}
}

// close ends the session once: leave the hub, close the connection.
func (w *whepSession) close(reason error) {
	w.closeOnce.Do(func() {
		close(w.done)
		w.s.removeSession(w.id)
		if w.attached.Load() {
			w.s.detach(w)
		}
		w.reading.end(w.s.meter)
		if w.peer != nil {
			_ = w.peer.Close()
		}
		w.access.drop()
		if reason != nil {
			w.s.log.Info("WHEP session ended", "session", w.id, "stream", w.key, "reason", reason)
		} else {
			w.s.log.Info("WHEP session ended", "session", w.id, "stream", w.key)
		}
	})
}

// attach makes sess a reader of its stream: a hub reader that takes Opus
// audio (the hub derives it from AAC when the source is AAC; a session
// without an audio track asks for no codec, so none is derived), assigned to
// one of the server's egress loops, which drains it whenever the hub
// queues a packet. A stream that is live starts the session at the GOP
// cache's keyframe.
func (s *Server) attach(sess *whepSession) error {
	s.mu.Lock()
	eg, ok := s.egressForLocked()
	if !ok {
		s.mu.Unlock()
		return errcode.ServiceExited("node shutting down")
	}
	sess.slot = eg.Slot(sess)
	s.mu.Unlock()
	audio := media.CodecOpus
	if sess.audio == nil {
		audio = media.CodecUnknown // no audio track: derive nothing for it
	}
	rd, err := s.hub.Subscribe(sess.key, media.SubscribeOptions{
		Viewer:   sess.viewer,
		Protocol: "webrtc",
		Audio:    audio,
		OnQueue:  sess.queued,
		OnClose: func(reason error) {
			if e := (*errcode.Error)(nil); !errors.As(reason, &e) {
				reason = errcode.NotPublishing("the stream ended")
			}
			// Not on the hub's goroutine: closing a connection takes a while.
			s.goRun(func() { sess.close(reason) })
		},
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	sess.rd.Store(rd)
	s.playing[sess.key]++
	s.mu.Unlock()
	sess.slot.Join() // due at once: the GOP cache snapshot is queued without a wake-up
	return nil
}

// detach ends sess's hub reader. Idempotent.
func (s *Server) detach(sess *whepSession) {
	s.mu.Lock()
	rd := sess.rd.Swap(nil)
	if rd != nil {
		if s.playing[sess.key]--; s.playing[sess.key] <= 0 {
			delete(s.playing, sess.key)
		}
	}
	slot := sess.slot // set by attach under s.mu, maybe on another goroutine
	s.mu.Unlock()
	if rd != nil {
		rd.Close()
	}
	if slot != nil {
		slot.Leave()
	}
}

// queued makes the session due in its egress loop. It is the hub reader's
// OnQueue: it runs on the publisher's goroutine under the stream's lock and
// takes only the loop's short lock (egress.Slot.Due).
func (w *whepSession) queued() { w.slot.Due() }
