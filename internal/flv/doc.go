// Package flv serves HTTP-FLV and WebSocket-FLV viewers (server.go,
// session.go). The tag encoding it writes lives in internal/flvtag, shared
// with internal/rtmp.
//
// It reads internal/media, writes through internal/egress and uses
// internal/token only for authorization types. It must not import
// internal/rtmp, internal/webrtc or the gateway.
//
// Goroutine model: each viewer is served on its HTTP handler goroutine, which
// writes its first batch (the GOP cache) at once. A viewer on a plain
// HTTP/1.1 connection (hijacked; one more goroutine reads and discards to
// notice the viewer leaving) is then lent to the egress loop
// (internal/egress: the node's, shared with RTMP, or one of the server's own
// started with the first such viewer and stopped by Close), which drains it
// as soon as its reader has data and tries one non-blocking writev (one
// HTTP chunk); a viewer whose socket is full goes back to its goroutine,
// which finishes the write blocking. WebSocket, TLS and HTTP/2 viewers are
// written by their goroutine (at most once per BatchInterval). When the hub
// ends the reader a viewer writes what is still queued and ends; the
// request's context (cancelled on shutdown, or egress.DrainTime after the
// hub ended the reader) cuts one stuck on a full socket. Tag bytes of a packet are
// built once (media.WireFLV slot) and shared by all FLV viewers.
package flv
