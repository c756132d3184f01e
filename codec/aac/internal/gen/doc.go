// Command gen turns the AAC data tables (TSV files restated from
// ISO/IEC 14496-3, see shared/data/aac/README.md) into tables_gen.go of
// package aac. It is run by `go generate` in codec/aac:
//
//	go run ./internal/gen -data ../../../shared/data/aac -out tables_gen.go
//
// Besides copying the tables it builds the two-level Huffman decoding tables
// used by the decoder, so nothing is computed at run time. It imports only
// the standard library and runs no goroutines.
package main
