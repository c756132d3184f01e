// Package flv owns FLV (Adobe Flash Video File Format Specification 10.1,
// Annex E; and the enhanced RTMP/FLV v1 extensions for H.265 and Opus): the
// tag muxer (muxer.go, no I/O), a tag and AMF0 reader used by tests and fuzz
// targets (demuxer.go, amf0.go), and the HTTP-FLV and WebSocket-FLV viewer
// sessions (server.go, session.go).
//
// It reads internal/media and uses internal/token only for authorization
// types. It must not import internal/rtmp, internal/webrtc or the gateway
// (internal/rtmp imports this package for the tag body layout, which RTMP
// audio/video messages share with FLV).
//
// Goroutine model: each viewer is served on its HTTP handler goroutine, which
// drains its media.Reader and writes each batch of tags at once; the context
// of the request (cancelled on shutdown or when the hub ends the reader) ends
// it. Tag bytes of a packet are built once (media.WireFLV slot) and shared by
// all FLV viewers.
package flv
