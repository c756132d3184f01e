// Package errcode is minirtc's one error catalogue (see shared/design/error-codes.md).
//
// Every rejection a client can see — a gateway reply or push, an HTTP API or
// WHIP/WHEP answer, an RTMP refusal, a CLI message — is an *Error built by one of
// the constructors here: a numeric code the Agora Miniapp SDK understands, a
// catalogue reason string (the SDK keys some decisions on its exact prefix), an
// optional human detail that says what to fix, and whether the client should
// destroy and rejoin.
//
// The package imports nothing from minirtc and holds no state.
package errcode
