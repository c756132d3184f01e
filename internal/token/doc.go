// Package token builds, parses and verifies Agora-compatible access tokens
// (AccessToken "006" and AccessToken2 "007", byte layout in
// docs/tokens.md), names media streams, and signs and checks the
// media URLs handed out by the gateway (ARCHITECTURE.md, "Media URLs").
//
// Every failure a client can see is an *errcode.Error with a precise reason
// (malformed, app mismatch, bad signature, expired and when, wrong channel,
// wrong uid, missing privilege). Verification takes the current time as an
// argument, so tests can use the official vectors, which were issued in 1970.
//
// The package imports errcode and store (for app certificates when a media URL
// carries a token); it must not import channel, gateway, media or any adapter.
// It holds no state; all types are safe for concurrent use once built.
package token
