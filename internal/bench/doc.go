// Package bench is the load generator behind `minirtc bench`: it simulates
// mini program users end to end and measures what an operator chooses a
// media server by — how many viewers one machine carries, and how fast and
// how late they see the picture.
//
// Three modes:
//   - signalling: every simulated user asks the allocation endpoint, opens
//     the gateway WebSocket, joins a channel (with a token built from the
//     app id and certificate), and pings every 3 s; publishers publish and
//     push the returned RTMP URL, readers subscribe and play the returned
//     RTMP or HTTP-FLV URL (docs/protocol.md sections 2-4); optionally
//     readers are browser-like WHEP clients instead (no gateway session,
//     POST /whep/{app}/{channel}/{publisher} with a token);
//   - media-only: one publisher pushes to any RTMP URL and readers play any
//     RTMP, HTTP-FLV or WHEP URL, so other servers can be measured the same
//     way;
//   - join rate: no media; users allocate, open the gateway WebSocket and
//     join at a stepped rate (Config.JoinRates), and the report gives each
//     step's achieved rate and join times and the highest rate whose join
//     p99 stays within a limit.
//
// In the media modes, WHEP readers can run next to RTMP or HTTP-FLV readers
// (Config.WHEPReaders); the summary then breaks the figures down by
// protocol.
//
// The published stream comes from internal/bench/synth (H.264 + AAC built
// without an encoder). Every video access unit carries a stamp (sequence
// number and send time) from which readers count dropped frames and measure
// end-to-end latency. Audio frames carry no stamp: RTMP and HTTP-FLV
// readers estimate an audio frame's send time from the last stamped video
// frame and the timestamps audio and video share (within about ±1 ms, see
// sink.audio) and report audio end-to-end latency from it; WHEP readers do
// not (their RTP audio and video clocks are unrelated). Figures are
// collected with internal/bench/stats. A frame a WHEP reader misses may
// have been lost at the reader itself: on Linux the report also counts the
// datagrams the kernel dropped at the bench's own UDP sockets because the
// clients did not read them in time (Drops.BenchUDPDrops, from /proc).
//
// Imports: synth, stats, internal/token (to build tokens), gortmplib (RTMP
// client), the signalling client (package client, over coder/websocket),
// pion/webrtc (WHEP client). It must not import
// any server package (gateway, media, rtmp, flv, webrtc): it measures
// servers from the outside, over the wire, like any other client (its tests
// may use the gateway to check the signalling client).
//
// Goroutine model: Run owns everything it starts. Each publisher and each
// reader runs in one goroutine (plus, in signalling mode, one WebSocket
// read loop and one heartbeat per user, owned by that user's sigConn (its
// client.Conn, whose Close waits for both); for a
// WHEP reader, pion's OnTrack goroutines, which readWHEP counts and waits
// for after closing the PeerConnection; and for an RTMP publisher, the
// drainer of its drainConn, which reads the socket into a queue so that
// what the server sends never backs up, while the publisher's goroutine
// alone parses it between frames and answers — publishRTMP closes the
// connection and waits for the drainer); each join-rate user runs in one
// goroutine until its step ends; a sampler goroutine reads /proc and draws
// the progress line. Run cancels and waits for all of them before it
// returns the Report. At the end of a run readers are stopped before
// publishers, and a reader the bench stopped ends cleanly whatever error
// its closed connection produced — if it played; a reader that never got a
// decodable video frame counts as failed. `minirtc bench` exits 1 when any
// reader failed or any publisher never streamed.
package bench
