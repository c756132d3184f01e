// Package defaults holds the default values of the settings that components
// also fall back to when a Config field is left at its zero value (library
// and test use). It is part of the defaults table of internal/config:
// config.Default() is built from these constants, internal/config/minirtc.yml
// documents them, and a test of internal/config fails when a package outside
// it keeps a default of its own for a setting. Each constant is named after
// its key (media.gopCacheBytes -> MediaGOPCacheBytes) and states its reason.
//
// It imports only the standard library, so any package may use it.
package defaults

import "time"

// rtmp.*
const (
	// RTMPHandshakeTimeout bounds the handshake and command phase.
	RTMPHandshakeTimeout = 10 * time.Second
	// RTMPReadTimeout: a publisher that sends nothing for this long is gone
	// (a backgrounded live-pusher still sends its waiting image).
	RTMPReadTimeout = 15 * time.Second
	// RTMPPreAuthMaxMessageSize caps the message length before publish or
	// play is authorized; connect, createStream and publish or play commands
	// are well under 4 KiB.
	RTMPPreAuthMaxMessageSize = 64 << 10
	// RTMPMaxMessageSize caps the message length afterwards, and the chunk
	// size at any time: the largest keyframe of a 1080p stream at a high
	// bitrate is about 1 MiB.
	RTMPMaxMessageSize = 4 << 20
)

// gateway.*
const (
	// GatewayGraceTimeout keeps a member whose socket died: the SDK reports
	// 904 and the tutorial rejoins after ~1 s plus an AP round trip.
	GatewayGraceTimeout = 15 * time.Second
	// GatewayIdleTimeout: the SDK pings every 3 s; three missed pings mean
	// the connection is dead.
	GatewayIdleTimeout = 10 * time.Second
	// GatewayKeyWillExpireLead: key-will-expire goes out 30 s before the
	// join privilege ends.
	GatewayKeyWillExpireLead = 30 * time.Second
	// GatewayMediaStartTimeout: a <live-pusher> normally connects within a
	// few seconds of publish; 30 s covers slow networks and a pusher retry.
	GatewayMediaStartTimeout = 30 * time.Second
	// GatewayMaxMessageBytes: the largest legitimate frame (a join with a
	// 2 KB token and a few dozen known speakers) is far below 64 KiB.
	GatewayMaxMessageBytes = 64 << 10
	// GatewayPreJoinMaxBytes caps a frame before the socket has joined: a
	// join with a 2 KB token fits several times over.
	GatewayPreJoinMaxBytes = 16 << 10
	// GatewayJoinTimeout closes a socket that has not joined this long after
	// it opened (the SDK sends join as soon as the socket is open).
	GatewayJoinTimeout = 30 * time.Second
	// GatewayRequestsPerSecond bounds frames per connection (burst: twice as
	// many); the SDK sends a handful per user action and a ping every 3 s.
	GatewayRequestsPerSecond = 20
	// GatewayMaxUsersPerChannel applies when the app sets no limit.
	GatewayMaxUsersPerChannel = 1000
	// GatewayURLLifetime: signed push/play URLs outlive the longest token
	// (24 h) and a rejoin, so pusher reconnects and rejoins keep working
	// (docs/protocol.md); update-url refreshes them an hour before they
	// expire.
	GatewayURLLifetime = 25 * time.Hour
	// GatewayURLRejoinGrace is how long a signed play URL keeps working for
	// new connections after its member left: the gateway's grace for a lost
	// socket, long enough for a leave, a new client and a rejoin.
	GatewayURLRejoinGrace = 15 * time.Second
)

// media.*
const (
	// MediaPublisherGrace is how long readers wait for an interrupted publisher.
	MediaPublisherGrace = 30 * time.Second
	// MediaPublisherStall is how long a publisher may send nothing before a
	// reconnect of the same uid may replace it. 25 fps video never leaves
	// such a gap and a backgrounded live-pusher sends its waiting image
	// about every second; a dead TCP connection, which the ingest notices
	// only after its read timeout, stops at once.
	MediaPublisherStall = 2 * time.Second
	// MediaHoldTimeout is how long a reader waits for a stream to go live.
	MediaHoldTimeout = 30 * time.Second
	// MediaReaderQueue holds about 5 s of a 25 fps + AAC stream: long enough
	// to ride out a short TCP stall, small enough (4 KiB of pointers) per reader.
	MediaReaderQueue = 512
	// MediaGOPCacheFrames bounds the GOP cache: a 10 s GOP at 60 fps with AAC
	// audio fits; longer GOPs are not cached (new readers wait for an IDR).
	MediaGOPCacheFrames = 2048
	// MediaGOPCacheBytes bounds the GOP cache memory per stream: a 10 s GOP
	// at 6 Mbit/s fits.
	MediaGOPCacheBytes = 8 << 20
	// MediaWriteTimeout bounds one batch write to a viewer: a viewer whose
	// socket accepts nothing for this long is dropped.
	MediaWriteTimeout = 10 * time.Second
	// MediaBatchInterval is the egress loop's least time between two passes
	// (internal/egress): none. A viewer is written as soon as its reader has
	// data, and what queued while the loop was busy shares one writev. A
	// positive interval (100 ms was the default before issue 17) holds
	// viewers so more packets share a write: less CPU, more latency
	// (BENCHMARKS.md, "Egress loop"). The first write (the GOP cache) is
	// never delayed.
	MediaBatchInterval = 0
	// MediaAudioWait is the longest an RTMP/FLV reader's audio waits in its
	// queue for the stream's next video frame so that both share one write:
	// at 25 fps audio waits 20 ms on average, and a reader needs about a
	// third of the system calls (BENCHMARKS.md, "Audio rides with video").
	// Video is never held.
	MediaAudioWait = 50 * time.Millisecond
)

// webrtc.*
const (
	// WebRTCUDPAddr is the one UDP address all WHIP/WHEP peers share.
	WebRTCUDPAddr = ":8443"
)

// diagnostics.*
const (
	// DiagnosticsMaxMembers bounds memory: a full member costs a few tens of
	// KB at most (four rings of short records), so 4096 stay well under
	// 200 MB even when every ring is full of maximal messages.
	DiagnosticsMaxMembers = 4096
	// DiagnosticsMemberMaxAge forgets members that stopped reporting:
	// diagnostics are about what happens now or just happened.
	DiagnosticsMemberMaxAge = time.Hour
	// DiagnosticsLogRetentionDays: day directories of uploaded logs older
	// than this are removed.
	DiagnosticsLogRetentionDays = 7
	// DiagnosticsLogDayMiB is the disk budget of one app for one day of
	// uploaded logs; older files of that day are removed to make room.
	DiagnosticsLogDayMiB = 64
	// DiagnosticsLogTicketTTL: an app uploads logs right after a problem,
	// and a longer meeting re-proves itself with the join token (the SDK
	// sends both).
	DiagnosticsLogTicketTTL = time.Hour
)

// api.*
const (
	// APIRequestsPerSecond per API key (burst: twice as many): Agora's limit
	// on its console API.
	APIRequestsPerSecond = 10
)

// cluster.*
const (
	// ClusterPrefix starts every Redis key of the cluster's shared state.
	ClusterPrefix = "minirtc"
	// ClusterNodeTTL: a node missing this long from the registry is dead (its
	// webhook deliveries are adopted by another node, which looks this often).
	ClusterNodeTTL = 10 * time.Second
	// ClusterEdgeMemberCheck is how often an edge asks the owner whether the
	// member an edge reader's signed URL was issued to is still there
	// (cluster.edgeMemberCheck).
	ClusterEdgeMemberCheck = 10 * time.Second
	// ClusterPullLinger keeps a stream pulled from another node this long
	// after its last local reader left: a reader that reconnects (a network
	// switch, a page reload) finds the GOP cache and starts at once.
	ClusterPullLinger = 5 * time.Second
	// ClusterPullMinBackoff is the first wait before a failed pull is tried
	// again (the origin's stream not live yet, a failover in progress); it
	// doubles, with jitter, up to ClusterPullMaxBackoff.
	ClusterPullMinBackoff = 250 * time.Millisecond
	// ClusterPullMaxBackoff bounds the wait between two tries: a new owner
	// of a failed-over channel is found within about a lease time plus this.
	ClusterPullMaxBackoff = 5 * time.Second
)

// webhooks.*
const (
	// WebhooksRetryFor: a receiver down for a day still gets its events.
	WebhooksRetryFor = 24 * time.Hour
	// WebhooksTimeout bounds one delivery attempt.
	WebhooksTimeout = 5 * time.Second
	// WebhooksConcurrency is the deliveries in flight, all endpoints.
	WebhooksConcurrency = 16
	// WebhooksMinBackoff and WebhooksMaxBackoff bound the wait before a retry.
	WebhooksMinBackoff = time.Second
	WebhooksMaxBackoff = 10 * time.Minute
	// WebhooksRetention keeps finished deliveries listed for a week.
	WebhooksRetention = 7 * 24 * time.Hour
)
