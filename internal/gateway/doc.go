// Package gateway speaks the mini program signalling protocol of the Agora
// Miniapp SDK 2.6.4 (docs/protocol.md), so that the unmodified
// official SDK, created with new Client({apUrl, servers}) pointing at minirtc,
// works end to end. It owns:
//
//   - the allocation endpoint, POST /api/v1: always 200 with a json_body string
//     holding vid and servers (section 2);
//   - the WebSocket endpoint, GET /api: one session per connection, JSON text
//     frames, every action of section 4 answered with exactly one reply that
//     echoes the request's requestId, and the pushes of section 5;
//   - per-session policy: join checks (appId, channel name, uid, token via
//     internal/token, role, bans and capacity via internal/channel), token
//     expiry pushes (key-will-expire, key-expired), signed media URLs
//     (token.URLSigner, token.StreamName) and their refresh (update-url),
//     heartbeat liveness, request rate limit, message size limit, terminal
//     closes with reason "close" after their explanatory push;
//   - client diagnostics (our SDK's extension, issue 7): the report_pusher_state,
//     report_player_state, report_pusher_net and report_player_net actions of
//     joined sessions (reports.go) and the SDK log upload, POST /api/v1/logs
//     (logs.go, rate limited per client IP and per app), both validated here
//     and stored in internal/diag (Gateway.SetDiagnostics).
//
// In a cluster (Config.Router set) a channel is served by its owner node:
// the allocation endpoint answers the owner's address, and a join for a
// channel owned elsewhere is forwarded to the owner's WebSocket and then
// piped both ways (forward.go); the owner trusts the client address the
// forwarding node vouches for (ForwardedForHeader) only when the Router
// recognises the cluster credential. Without a Router it is a single node.
//
// Channel state (members, roles, streams, mutes, grace periods) lives in
// internal/channel; the gateway turns channel events into pushes. It imports
// channel, diag, errcode, store (the App type) and token; it must not import the
// media plane (media, rtmp, flv, webrtc): they meet only in internal/channel.
//
// # Liveness, grace and leave reasons
//
// A connection from which nothing (no ping, no request) arrived for
// Config.IdleTimeout (10 s) is closed abruptly. Any socket that ends without
// a leave — idle timeout, network error, a close without leave — detaches the
// member for Config.Grace (15 s): it keeps its role and stream and others see
// nothing. A join with the same uid in that window resumes it seamlessly;
// otherwise the member is removed with leave reason 2 (timeout) if the idle
// timer closed the socket, or 10 (network) otherwise. A silent client is thus
// gone IdleTimeout + Grace after its last message.
//
// # Goroutines
//
// ServeWebSocket upgrades and returns; each session then runs on one
// goroutine owned by the Gateway (Run waits for all of them at shutdown, after
// pushing 501 "please rejoin" and closing). That goroutine reads frames and
// handles each request, in order, on a short-lived goroutine it waits for (so
// the stack it idles on stays small). A writer goroutine exists only while the
// session has frames to send. Channel events (Notify, under the channel lock)
// and token/URL timers (on the Config.Clock's goroutines) only queue frames.
// A forwarded session adds one goroutine reading the owner's socket into the
// session's send queue; the session goroutine, which then only pipes the
// client's frames to the owner, closes the owner's socket and waits for it
// when the client's side ends.
package gateway
