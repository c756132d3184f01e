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
//   - the encoder (see the encoder files).
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
