// Package doctor checks a minirtc deployment from the outside, the way a
// mini program, a browser or a proxy in between meets it, and says for every
// problem what to change: the domain name and port WeChat accepts, the TLS
// certificate (valid chain, not self-signed, not about to expire), /healthz,
// the allocation endpoint and the gateway WebSocket through whatever proxy is
// in front, the RTMP port, the ICE candidates a WHIP answer announces (and
// whether they are reachable), the clock skew that breaks time-bound tokens,
// and apps that accept joins without a token.
//
// Each check is one function returning Findings (ok, info, warn, fail, each
// with its fix); Run runs them in order. The package is a client only: it
// imports token (to sign a probe's token) and talks HTTP, WebSocket
// (github.com/coder/websocket), RTMP's handshake and WebRTC (pion) to the
// server. The minirtc doctor command (cmd/minirtc) is its user interface.
package doctor
