// Package flv owns FLV (Adobe Flash Video File Format Specification 10.1,
// Annex E; and the enhanced RTMP/FLV v1 extensions for H.265 and Opus): the
// tag muxer (muxer.go, no I/O), a tag and AMF0 reader used by tests and fuzz
// targets (demuxer.go, amf0.go), and the HTTP-FLV and WebSocket-FLV viewer
// sessions (server.go, session.go).
//
// It reads internal/media (and its flush package) and uses internal/token
// only for authorization types. It must not import internal/rtmp, internal/webrtc or the gateway
// (internal/rtmp imports this package for the tag body layout, which RTMP
// audio/video messages share with FLV).
//
// Goroutine model: each viewer is served on its HTTP handler goroutine, which
// writes its first batch (the GOP cache) at once. A viewer on a plain
// HTTP/1.1 connection (hijacked; one more goroutine reads and discards to
// notice the viewer leaving) is then lent to the server's flusher
// (internal/media/flush), one goroutine started with the first such viewer
// and stopped by Close, which every BatchInterval drains all lent viewers
// and tries one non-blocking writev (one HTTP chunk) each; a viewer whose
// socket is full goes back to its goroutine, which finishes the write
// blocking. WebSocket, TLS and HTTP/2 viewers are written by their goroutine
// once per BatchInterval. When the hub ends the reader a viewer writes what
// is still queued and ends; the request's context (cancelled on shutdown, or
// flush.DrainTime after the hub ended the reader) cuts one stuck on a full
// socket. Tag bytes of a packet are
// built once (media.WireFLV slot) and shared by all FLV viewers.
package flv
