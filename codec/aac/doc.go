// Package aac is a pure-Go AAC-LC (Low Complexity, audio object type 2)
// decoder and encoder following ISO/IEC 14496-3 (MPEG-4 Audio), subpart 4
// "General Audio coding" (the same AAC-LC syntax as ISO/IEC 13818-7).
//
// It owns:
//   - AudioSpecificConfig parsing and writing (§1.6.2.1, Config),
//   - ADTS header parsing and writing and splitting of ADTS streams (§1.A.2),
//   - the decoder (Decoder): raw_data_block parsing (§4.4.2), Huffman decoding,
//     inverse quantization, M/S and intensity stereo, perceptual noise
//     substitution, temporal noise shaping and the IMDCT filter bank with sine
//     and KBD windows (§4.6),
//   - the encoder (Encoder, see its files).
//
// Decoding in short: ParseAudioSpecificConfig or ADTS headers give a Config;
// NewDecoder (from an AudioSpecificConfig) or NewDecoderConfig makes a
// Decoder; Decode turns one raw access unit into 1024 interleaved float32
// samples per channel at [-1, 1) scale (sample/32768, not clipped), in a
// slice the decoder reuses on the next call. ADTS streams are split with
// SplitADTS and decoded frame by frame with Decode (payload) or DecodeADTS
// (whole frame). Supported: AAC-LC, mono and stereo, the 13 standard
// sampling rates and explicit ones, all window sequences and shapes, M/S and
// intensity stereo, PNS, TNS, pulse data; fill, data stream and program
// config elements are parsed and skipped, so implicitly signalled HE-AAC
// decodes its AAC-LC core. Everything else fails with ErrUnsupported, and
// malformed input with ErrInvalid, never a panic.
//
// The normative tables (scalefactor band offsets, Huffman codebooks, TNS
// coefficients) are generated into tables_gen.go from the TSV data in
// shared/data/aac by internal/gen (`go generate`).
//
// The package is a leaf: it imports only the standard library and nothing
// from minirtc, so it can be reused on its own.
//
// Goroutine model: no goroutines are started. A Decoder (or encoder) keeps
// per-stream state (overlap buffers, window shapes) and must be used by one
// goroutine at a time; different instances are independent. Package-level
// variables are read-only tables.
package aac

//go:generate go run ./internal/gen -data ../../../shared/data/aac -out tables_gen.go
