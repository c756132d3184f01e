// Package bench is the load generator behind `minirtc bench`: it simulates
// mini program users end to end and measures what an operator chooses a
// media server by — how many viewers one machine carries, and how fast and
// how late they see the picture.
//
// Two modes:
//   - signalling: every simulated user asks the allocation endpoint, opens
//     the gateway WebSocket, joins a channel (with a token built from the
//     app id and certificate), and pings every 3 s; publishers publish and
//     push the returned RTMP URL, readers subscribe and play the returned
//     RTMP or HTTP-FLV URL (miniapp-protocol.md sections 2-4); optionally
//     readers are browser-like WHEP clients instead (no gateway session,
//     POST /whep/{app}/{channel}/{publisher} with a token);
//   - media-only: one publisher pushes to any RTMP URL and readers play any
//     RTMP, HTTP-FLV or WHEP URL, so other servers can be measured the same
//     way.
//
// The published stream comes from internal/bench/synth (H.264 + AAC built
// without an encoder). Every video access unit carries a stamp (sequence
// number and send time) from which readers count dropped frames and measure
// end-to-end latency. Figures are collected with internal/bench/stats.
//
// Imports: synth, stats, internal/token (to build tokens), gortmplib (RTMP
// client), coder/websocket, pion/webrtc (WHEP client). It must not import
// any server package (gateway, media, rtmp, flv, webrtc): it measures
// servers from the outside, over the wire, like any other client (its tests
// may use the gateway to check the signalling client).
//
// Goroutine model: Run owns everything it starts. Each publisher and each
// reader runs in one goroutine (plus, in signalling mode, one WebSocket
// read loop and one pinger per user, owned by that user's sigConn; and for
// a WHEP reader, pion's OnTrack goroutines, which readWHEP counts and waits
// for after closing the PeerConnection); a sampler goroutine reads /proc
// and draws the progress line. Run cancels and waits for all of them before
// it returns the Report.
package bench
