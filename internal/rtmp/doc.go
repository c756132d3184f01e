// Package rtmp is the RTMP adapter between live-pusher / live-player (or any
// RTMP tool) and the media hub: ingest (RTMP publish -> media.Packet) and
// play (media.Packet -> RTMP).
//
// gortmplib does the handshake, the connect/createStream/publish/play
// commands and reads publisher messages. For play, after the command phase
// this package writes RTMP chunks itself: a packet's chunks (for the fixed
// play chunk size, full type-0 headers with the hub timestamp) are built once
// and shared by every RTMP viewer, and each wakeup's batch goes out in one
// writev (net.Buffers). Audio/video message bodies share the FLV tag body
// layout, so this package uses internal/flv for them. It must not import
// internal/webrtc, internal/channel or internal/gateway.
//
// Goroutine model: Server.Serve owns the accept loop and one goroutine per
// connection; a play connection adds one goroutine that reads (and discards)
// what the viewer sends, to notice it leaving. Cancelling Serve's context
// closes every connection and Serve waits for all of them.
package rtmp
