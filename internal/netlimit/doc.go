// Package netlimit caps concurrent TCP connections, node-wide and per
// source address, in front of the node's listeners (RTMP and HTTP, which
// carries HTTP-FLV, WS-FLV, the signaling WebSocket and WHIP/WHEP).
//
// A Limiter is shared by the listeners it wraps, so its total counts every
// connection the node holds. A connection over a limit is closed as soon as
// it is accepted, before any byte is read; refusals are logged at most once
// a second per listener, with how many were refused. IPv4 sources count per
// address, IPv6 sources per /64 (one host usually owns a whole /64);
// sources in Config.PerIPExempt (a local reverse proxy) count only in the
// total.
//
// It imports nothing of minirtc; internal/node wires it.
package netlimit
