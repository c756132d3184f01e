// Package webhook delivers channel events to the webhook endpoints of each
// app, in the format of Agora's notification callbacks (docs/webhooks.md):
// a POST of {noticeId, productId, eventType, notifyMs, payload} signed with
// Agora-Signature (HMAC-SHA1 of the raw body, hex) and Agora-Signature-V2
// (HMAC-SHA256), so an existing Agora receiver verifies and parses them
// unchanged.
//
// # Events
//
// Map turns a channel.Event into notices: Agora's event types 101-112
// (channel created and destroyed; broadcaster, audience and communication
// user join and leave, with Agora's leave reasons; role changes) and
// minirtc's own in 1000-1099 (EventStreamPublished and the others below).
//
// # Delivery
//
// The Service observes the channel model. Each notice becomes one outbox
// entry per endpoint of its app, written to the store (one transaction per
// batch, fsynced by bbolt) before any attempt, so a restart or a crash
// loses nothing that was written. Entries are delivered at least once:
//
//   - per endpoint and channel, one attempt in flight and entries in their
//     order (a receiver also has clientSeq, increasing, and noticeId to
//     dedupe);
//   - a failed attempt (no answer, timeout, non-2xx) is retried with
//     exponential backoff and jitter until RetryFor after the event, then
//     given up ("failed");
//   - at most Concurrency attempts in flight, one endpoint at most half of
//     them, each bounded by Timeout; nothing here runs on the channel
//     model's, the gateway's or the media plane's goroutines, so a slow or
//     dead endpoint delays only its own deliveries.
//
// # Cluster
//
// With Config.Node set, the nodes of a cluster share the outbox (the Redis
// store): each entry carries the node that writes it, and a node delivers
// only its own entries. Every SweepEvery each node adopts the pending
// entries of nodes that Config.Alive reports dead, through the store's
// compare-and-set (store.WebhookStore.AdoptOutbox), so exactly one node
// takes each; a node whose entry was adopted finds its next update refused
// (store.ErrNotOwner) and drops it. sweep.go has the details.
//
// Finished entries are deleted after Retention. Redeliver puts entries of
// one notice back in the queue; the REST API (Register) and the CLI (over
// the control socket) manage the endpoints.
package webhook
