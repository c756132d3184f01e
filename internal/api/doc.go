// Package api is minirtc's operator REST API: HTTP Basic authentication with
// API keys, a per-key rate limit, one log line per call, and two families of
// endpoints (docs/rest-api.md):
//
//   - /dev/v1/...: Agora's RESTful API (channel management: channel list,
//     users of a channel, a user's state; console: projects), with Agora's
//     paths, query parameters, JSON shapes and status codes, so that a back
//     end written for Agora works by changing its base URL. Projects are
//     minirtc apps (vendor_key = appId, sign_key = appCertificate).
//   - /v1/...: minirtc's own: live app management, channels and members with
//     their client, streams and last network report, the node's streams with
//     their readers, and disconnecting one reader. Errors have the
//     catalogue's shape ({"code", "reason"}, internal/errcode).
//
// Authentication: every call carries "Authorization: Basic
// base64(id:secret)". Keys live in the store (store.APIKey, only a SHA-256
// of the secret, compared in constant time); Config.Key adds one from the
// configuration (MINIRTC_API_KEY). With no key at all every call is refused
// with 401, which says how to create one. Other helpers' endpoints (ban
// rules, metrics) plug in with Server.Handle and get the same
// authentication, limit and log line.
//
// The package reads the channel model, the media hub and the client
// diagnostics through small interfaces (Store, Channels, Media,
// Diagnostics) so tests can drive it; internal/node wires the real ones and
// mounts the Server. It must not import the adapters (rtmp, flv, webrtc,
// gateway).
//
// In a cluster (Deps.Cluster, a Peers; cluster.go) any node answers for the
// whole cluster: channel calls are forwarded to the channel's owner, listings
// merge every live node's view, and banning rule changes are announced to
// every node, all between nodes with the cluster credential.
//
// Goroutines: none of its own (a merged listing asks the nodes on one
// goroutine each, within the call); handlers run on net/http's. The Server is
// safe for concurrent use: the per-key limiters are guarded by one mutex.
package api
