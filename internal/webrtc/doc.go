// Package webrtc is minirtc's WebRTC adapter: WHIP (publish) and WHEP (play)
// over HTTP, with pion/webrtc for ICE, DTLS and SRTP.
//
// It owns SDP negotiation rules (H.264 packetization-mode 1 and Opus only),
// H.264 RTP packetization and depacketization (RFC 6184), the reordering
// buffer in front of the depacketizer, PLI/NACK handling and the
// video-orientation header extension (CVO). It transcodes nothing.
//
// A WHEP session is one plain hub reader (media.Hub.Subscribe with Opus
// audio): the GOP cache, queue, drop and timestamp rules of RTMP/FLV
// readers apply to it, a late session starts at the cached keyframe, and
// the hub derives Opus from an AAC source (media.Config.Derive) once per
// stream for all the readers that want it. A packet's RTP payloads are
// built once per packet for every session (its media.WireRTP slot, for
// Config.MTU); a session adds its RTP headers (SSRC, sequence numbers, its
// random timestamp origin, CVO from the stream's rotation metadata) and
// SRTP. A viewer's PLI is the hub's keyframe request of the stream.
// A WHIP publisher is one hub publisher whose Opus packets are the
// stream's audio track as they came (the hub derives AAC for RTMP/FLV
// readers, only while one reads), and whose CVO rotation is the stream's
// rotation metadata (also told to the channel seam). It becomes the
// stream's publisher with its first media (ICE and DTLS up, RTP flowing),
// not at its POST, under the hub's takeover rule (media.Hub.PublishWith);
// the POST asks the same rule first so that a refused client gets 409 and
// the reason.
//
// It imports the core (internal/media), internal/token, internal/errcode,
// internal/listen (the read retry of the shared UDP socket) and
// internal/egress (the write loop it shares with RTMP and FLV). It must
// not import internal/channel, internal/transcode, internal/gateway or the
// other adapters. The server sees the channel model only through the small
// Channels interface, which the admission seam implements
// (internal/admission.Members) and internal/node wires.
//
// Goroutine model: every goroutine is started through the Server (goRun or
// egressForLocked) and counted in its WaitGroup; Run waits for all of them
// after closing every session. The server's writers are an egress.Group
// (one loop per core, started with the first WHEP session, ended by Run;
// each session is joined to one loop) that drains the hub readers of their
// sessions: the hub calls a reader's OnQueue when its queue becomes
// non-empty, which makes the session due in its loop (egress.Slot.Due), and
// the loop's next pass takes everything queued (Reader.TryNext) and writes
// it. A session that cannot keep up loses
// packets in its own hub queue (up to the next keyframe), never the others'.
// Each WHEP session has one goroutine per sender draining RTCP; each WHIP
// session has one reader goroutine per remote track (started from pion's
// OnTrack) plus one per receiver draining RTCP. They all end when their
// PeerConnection is closed.
// The shared UDP socket (batchConn, Linux) queues what every session
// writes and sends it many packets per sendmmsg, from the writer that ends
// a round of sessions or fills the queue, or else from its one sender
// goroutine, which ends when Run closes the socket. pion's ICE UDP mux
// reads the socket through retryConn, which retries reads that fail for a
// passing reason (listen's backoff) instead of letting the mux close for
// good; UDPStats reports them.
// Sessions end on DELETE, ICE failure, a channel kick, stream end or Server
// shutdown. Callbacks that arrive under another component's lock (channel
// Endpoint.Notify) or on its goroutine (channel Manager observers, which
// tell a WHIP session attached to a gateway member that the member left)
// only schedule the close on a server goroutine.
//
// PATCH on a session (RFC 9725 §4.3) trickles candidates or restarts ICE
// on the request's goroutine, holding the session's negotiation lock, which
// its POST holds until the answer is set: one change at a time per session.
// An ICE restart keeps the PeerConnection, DTLS, the tracks, the hub
// publisher or hub reader; pion restarts its ICE agent, and frames
// written meanwhile are dropped.
//
// A WHEP session subscribes to the hub only once the connection is up (RTP
// written earlier would be dropped), and starts with the cached keyframe.
// A WHIP publisher's video is requested with a PLI at start, after a loss,
// at once when the hub asks (a new RTMP/FLV reader finds no keyframe in the
// GOP cache, or a reader overflowed: Publisher.SetKeyframeRequester) and,
// as a fallback, whenever no keyframe came for Config.PLIInterval.
package webrtc
