// Package edge moves media between the nodes of a cluster on demand: a node
// that has readers for a stream published on another node pulls it once
// from there into its own hub and fans it out locally (origin-edge).
//
// Three parts, each a few lines to wire in internal/node:
//   - Puller (edge side) learns from the hub when a stream is wanted here
//     without a source (media.Config.OnWanted), asks Locate where its origin
//     is (the channel's owner node, or an edge's origin), and runs one
//     relay.Pull per wanted stream into the local hub, signed with the
//     cluster's node credential. It tries again with a bounded, jittered
//     backoff while readers wait (the origin's stream not live yet, a
//     failover in progress) and stops a linger time after the last local
//     reader left, so that a reader coming back finds the GOP cache.
//   - Origin (origin side) is the HTTP handler of
//     GET {prefix}/relay/{app}/{channel}/{uid}: it checks the pulling node's
//     credential (cluster.Auth) and serves relay.Origin.ServeStream, counting
//     the bytes sent to each pulling node.
//   - Choose (placement of readers) answers which node a new reader of a
//     stream goes to: its owner until the owner has EdgeThreshold readers of
//     it, then an edge picked among the least-loaded other nodes, the same
//     one for every reader of the stream while loads stay comparable, so
//     each edge pulls the stream once for many readers.
//
// It imports internal/media, internal/relay and internal/cluster, and no
// adapter nor internal/node, internal/gateway or internal/channel.
//
// Goroutine model: the Puller runs one goroutine per stream it pulls (or
// retries), started by the hub's OnWanted call and ended by its linger timer
// or Close; relay.Pull.Run runs on it. The Origin runs on the HTTP server's
// request goroutines.
package edge
