// Package transcode owns minirtc's audio bridges between the mini program
// world (AAC-LC, any common sample rate) and the WebRTC world (Opus at 48 kHz):
//
//   - Resampler: a streaming polyphase windowed-sinc sample-rate converter,
//   - AACToOpus: AAC access units -> PCM (codec/aac) -> 48 kHz -> 20 ms Opus
//     packets (gopus),
//   - OpusToAAC: Opus packets -> 48 kHz PCM (gopus) -> AAC-LC access units
//     (codec/aac).
//
// It knows nothing about streams, readers or RTP: callers hand it payloads
// with presentation times and get payloads with presentation times back.
// It imports codec/aac and gopus only; it must not import internal/media or
// any adapter.
//
// Goroutine model: no goroutines. Every type keeps per-stream codec state and
// must be used by one goroutine at a time; instances are independent.
package transcode
