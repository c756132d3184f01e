// Package rtmp is the RTMP adapter between live-pusher / live-player (or any
// RTMP tool) and the media hub: ingest (RTMP publish -> media.Packet) and
// play (media.Packet -> RTMP).
//
// gortmplib does the handshake, the connect/createStream/publish/play
// commands and reads publisher messages; its replies are held (cork.go) and
// sent in one write when the server next waits for the client, and a
// viewer's play replies go out in the same write as its GOP cache. For play, after the command phase
// this package writes RTMP chunks itself: a packet's chunks (for the fixed
// play chunk size, full type-0 headers with the hub timestamp) are built once
// and shared by every RTMP viewer, and each wakeup's batch goes out in one
// writev. Audio/video message bodies share the FLV tag body layout, so this
// package uses internal/flvtag for them (it does not import internal/flv). gortmplib allocates a
// message as soon as its header announces it, so what it reads passes
// guardConn first (guard.go), which follows the chunk headers and closes a
// client whose message lengths go over Config.PreAuthMaxMessageSize until
// publish/play is authorized and over Config.MaxMessageSize afterwards, or
// whose chunk size goes over Config.MaxMessageSize. It must not import
// internal/webrtc, internal/channel or internal/gateway.
//
// Goroutine model: Server.Serve owns the accept loop, one goroutine per
// connection and the server's own egress loop (unless SetEgress gave it the
// node's shared one). A play connection adds one goroutine that reads (and
// discards) what the viewer sends, to notice it leaving. A viewer's own
// goroutine writes its first batch (the GOP cache, at once) and then lends
// the viewer to the egress loop (internal/egress), which drains it as soon as
// its reader has data and tries one non-blocking writev: no goroutine wakes
// per viewer, and what queued while the loop was busy shares one write. A
// viewer whose socket is full is handed back to its own goroutine, which
// finishes the write blocking (with a deadline) and lends it again, so a slow
// viewer never delays the others. When the hub ends a reader, the viewer
// still writes what is queued; one stuck on a full socket is closed after
// egress.DrainTime. Cancelling Serve's
// context closes every connection and Serve waits for all of them.
package rtmp
