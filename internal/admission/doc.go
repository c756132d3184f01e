// Package admission is minirtc's one seam for access (ARCHITECTURE.md,
// "Admission (one seam)"): every media door — RTMP publish and play,
// HTTP-FLV and WS-FLV, WHIP, WHEP — asks its Gate whether a principal may
// publish or play a stream and until when, and registers the session it
// opens so that the session ends when the principal's access ends. The
// gateway's join and publish apply the same permission rule (Admit) to the
// token it checked, and the channel model the same ban rules.
//
// A principal is (app, channel, uid): the publisher's uid for a publish, the
// viewer's uid for a play (named by the play token, or by the viewer
// parameter of a signed play URL; a play whose viewer is unknown has no
// principal and only a deadline). The Gate answers with the credential
// check (MediaAuthorizer: signature, app, channel, uid) and the permission
// rule (Admit), the ban rules and, for signed URLs, the membership rule; the
// answer (token.MediaGrant) carries the deadline (Until), the revocation
// handle (Hold) and, for a publish, the channel's publish rule for the door
// (Enter, implemented by Members: a tool pushing with a token or a WHIP
// session joins its channel while it publishes).
//
// A registered session ends, within a second, when:
//   - its principal leaves the channel, is kicked or banned, or is replaced
//     by the same uid joining elsewhere (the channel model's events);
//   - a ban rule is added that covers it (EventRuleAdded), member or not:
//     by app, channel, uid and the client's address (token.RemoteAddr in
//     the request's context); a publish-only rule ends only pushes;
//   - its deadline passes: the token's expiry for ?token= and Bearer media,
//     the URL's expire for signed URLs. Renew (the gateway's update_key, and
//     its URL refresh) extends the deadlines of the principal's sessions.
//
// A signed play URL is issued to a member: it lets new connections in only
// while that member is in the channel, or for RejoinGrace after it left with
// leave (reason 1), so that a leave followed by a rejoin keeps its players;
// sessions let in during that grace end with it unless the member is back.
// After a kick, a ban, a token expiry or a uid conflict it stops at once.
//
// It imports channel, token, store (the apps' certificates and settings)
// and errcode, never an adapter: adapters see only the grant, and the WHIP
// server sees Members only as its webrtc.Channels. The Gate starts no goroutines; its deadline and grace
// callbacks run on the Clock's timers and the channel events on the
// goroutine running channel.Manager.Run. Every method is safe for
// concurrent use.
package admission
