// Package synth generates the synthetic media that `minirtc bench` publishes,
// without any encoder:
//
//   - an H.264 Constrained Baseline bitstream (ITU-T H.264 (08/2021)) built
//     bit by bit: one SPS and one PPS for a small picture, IDR pictures made
//     of Intra_16x16 DC-predicted macroblocks without residual (a flat grey
//     picture, one byte per macroblock), and P pictures made of skipped
//     macroblocks plus as many I_PCM macroblocks as the configured bitrate
//     needs (so the bytes that pad the stream are picture data every server
//     must forward, not filler NAL units a server may drop);
//   - a "stamp" in every access unit: an SEI user_data_unregistered message
//     (payloadType 5, §D.1.7) carrying our 16-byte UUID, the frame sequence
//     number and the wall-clock send time, from which readers measure
//     end-to-end latency and frame drops;
//   - AAC-LC access units from codec/aac: a tone encoded once at start and
//     looped.
//
// It imports only codec/aac and the standard library; nothing here does I/O.
// Goroutine model: none; a Video or Audio value is used by one goroutine.
package synth
