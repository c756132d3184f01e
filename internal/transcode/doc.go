// Package transcode owns minirtc's audio bridges between the mini program
// world (AAC-LC, any common sample rate) and the WebRTC world (Opus at 48 kHz):
//
//   - Resampler: a streaming polyphase windowed-sinc sample-rate converter,
//   - AACToOpus: AAC access units -> PCM (codec/aac) -> 48 kHz -> 20 ms Opus
//     packets (gopus),
//   - OpusToAAC: Opus packets -> 48 kHz PCM (gopus) -> AAC-LC access units
//     (codec/aac).
//
// The bridges know nothing about streams, readers or RTP: callers hand them
// payloads with presentation times and get payloads with presentation times
// back. NewDeriveFunc wraps them as the media hub's derived tracks
// (media.DeriveFunc): the hub starts one when the first reader that wants the
// other codec attaches and closes it when the last one leaves.
// It imports codec/aac, gopus and the core internal/media; it must not
// import any adapter.
//
// Goroutine model: no goroutines. Every type keeps per-stream codec state and
// must be used by one goroutine at a time; instances are independent.
package transcode
