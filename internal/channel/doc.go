// Package channel is minirtc's channel state machine: apps -> channels ->
// members. It owns membership (numeric uid or string account, role, joined-at),
// each channel's profile (communication or live), each member's published
// stream (push URL, media live/paused, rotation), mute states and known
// subscriptions, and the timers that go with them (grace period of a detached
// member, media start timeout of a stream). It does no I/O.
//
// It imports only errcode. It must not import the gateway, media, rtmp, flv,
// webrtc or any other adapter: adapters drive it and consume its events.
//
// # Events
//
// Every change produces an Event. Events addressed to members (stream-added,
// stream-removed, mute, rotation, kicked; see EventKind) are delivered to the
// members' Endpoints synchronously, while the Manager's lock is held, so each
// endpoint sees changes in the order they happened; Endpoint.Notify must only
// queue. Every event also goes to the observers registered with Observe
// (webhooks, metrics, the media plane), in order, on the goroutine running
// Manager.Run; observers may call back into the Manager.
//
// # The media plane's seam
//
// All safe for concurrent use, keyed by (app, channel, uid):
//
//   - MayPublish(app, channel, uid) error — may this uid push media now? (at RTMP connect)
//   - MediaStarted / MediaStopped — the ingest began / ended for good (the media
//     plane's grace period for an interrupted publisher is over). MediaStopped
//     removes the stream at once (stream-removed to others); the member stays,
//     unpublished. A stream announced with Publish whose media does not start
//     within Config.MediaStartTimeout (default 30 s) is removed the same way.
//   - MediaPaused / MediaResumed — a publisher gap: others get video-mute true/false,
//     unless the member muted its video itself; observers get EventMediaPaused /
//     EventMediaResumed.
//   - SetRotation — video orientation; subscribers get video-rotation.
//   - EventStreamStopped (Observe) — the stream ended for any reason: drop the ingest.
//   - Banned(app, channel, uid) — does a ban rule refuse uid now? BannedFrom adds the
//     client's address and the privilege (join, publish). internal/admission
//     refuses a banned uid's new media connections; EventKicked and
//     EventMemberLeft end its running ones, and EventRuleAdded those of
//     non-members the new rule covers)
//
// A publisher without a gateway session (WHIP, or RTMP pushed with ?token=)
// becomes a member the same way: Join with an Endpoint that ignores events and
// RoleBroadcaster, Publish (others get stream-added), report media, and Leave
// when it ends.
//
// # Sessions
//
// Join attaches an Endpoint. Detach keeps a member whose endpoint is gone for a
// grace period; a Join with the same uid inside it resumes the member without
// telling anyone. A Join with the uid of a member whose endpoint is still
// attached replaces it: newest wins, the old endpoint gets EventKicked with the
// uid conflict error. A channel is created by its first join and destroyed
// when its last member leaves.
//
// # Goroutines
//
// The Manager starts none. Run (owned by whoever wires the node) delivers
// observer events and stops the timers when its context ends. Timer callbacks
// run on the Clock's goroutines and take the Manager's lock.
package channel
