// Package errcode is minirtc's one error catalogue (documented in docs/error-codes.md).
//
// Every rejection a client can see — a gateway reply or push, an HTTP API or
// WHIP/WHEP answer, an RTMP refusal, a CLI message — is an *Error built by one of
// the constructors here: a numeric code the Agora Miniapp SDK understands, a
// catalogue reason string (the SDK keys some decisions on its exact prefix), an
// optional human detail that says what to fix, and whether the client should
// destroy and rejoin.
//
// The package imports nothing from minirtc and holds no state.
//
// docs/error-codes.md is generated from this package (codes, reasons and
// constructors read from the source; the when/fix prose in
// internal/errdoc/entries.go): after adding a code, reason or constructor,
// add its entry there and run go generate ./internal/errcode.
// TestErrorCodesDoc fails while the page is out of date.
package errcode

//go:generate go run ./gen -o ../../docs/error-codes.md
