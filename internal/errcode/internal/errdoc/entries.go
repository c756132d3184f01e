package errdoc

import (
	"errors"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
)

// codeDoc documents one Code* constant of errcode (found by name in the
// package source, so its value always comes from the code).
type codeDoc struct {
	constant string // Go constant name, e.g. "CodeVendorKey"
	sdk      bool   // raised inside the SDK, never sent by the server
	meaning  string
	action   string // what the app or the operator does about it
}

// codeDocs lists every code constant, in the order the page shows them.
func codeDocs() []codeDoc {
	return []codeDoc{
		{"CodeOK", false, "Success.", "Nothing."},
		{"CodeVendorKey", false,
			"The request was refused because of the app or its credentials: an unknown or disabled appId, a missing, malformed, expired or mismatched token.",
			"Fix the appId or the token as the reason says. The official SDK does not retry these; build a new token and join again."},
		{"CodeTooManyRequests", false,
			"A rate limit was hit (requests per connection, log uploads per address or per app).",
			"Slow down and retry later. A well-behaved app never reaches the per-connection limit (`gateway.requestsPerSecond`)."},
		{"CodeBadRequest", false,
			"The request is malformed: an unknown action, a missing or mistyped field, an invalid uid or channel name, an unacceptable SDP offer.",
			"Fix the call; the reason names the field and the rule."},
		{"CodeBadRole", false,
			"`setRole` was called with something other than `broadcaster` or `audience`.",
			"Pass `broadcaster` or `audience`."},
		{"CodeNotPublishing", false,
			"The uid you subscribed to (or asked a WHEP/FLV stream of) is not publishing, or the stream, session or app does not exist.",
			"Subscribe only after `stream-added` for that uid; check the uid and the channel."},
		{"CodeRefused", false,
			"The action is not allowed: an audience member tried to publish, the token lacks a privilege, the channel is full, the uid is taken or banned.",
			"Read the reason: it names the rule and what to change (role, token privileges, limits)."},
		{"CodeSetRoleError", false,
			"The role change is not allowed now.",
			"Read the reason; retry the role change when it is allowed."},
		{"CodeInternal", false,
			"An unexpected fault in the server. The cause is in the server's log, never sent to clients.",
			"Destroy the client, create a new one and rejoin. Report the server log lines if it repeats."},
		{"CodeServiceLost", false,
			"The server is going away (shutdown, restart) or your session could not continue.",
			"Destroy the client, create a new one and rejoin with the same uid (the minirtc SDK's `autoRejoin` does this for you)."},
		{"CodeOverloaded", false,
			"The server is over one of its capacity limits, or (in a cluster) cannot place the channel right now.",
			"Rejoin after a pause, or on another server; the operator raises the limit, adds capacity or brings the cluster store back."},
		{"CodeServiceExited", false,
			"The server is shutting down gracefully. The official SDK ignores this push.",
			"Nothing; a 501 or a lost connection follows if the app must rejoin."},
		{"CodeAllocationFailed", true,
			"The allocation request (`POST` to `apUrl`) failed. The official Agora SDK only raises it without `apUrl` (with one it waits forever instead); the minirtc SDK raises it whenever the request fails.",
			"Check `apUrl` (`https://HOST/api/v1`), that its host is in the mini program's request domain list, and that its TLS certificate is valid."},
		{"codeNoReplyRequestID", true,
			"A reply arrived without a `requestId`. minirtc always echoes it.",
			"Nothing to fix in the app; report it with the SDK log if you see it."},
		{"CodeRequestTimeout", true,
			"No reply within 10 seconds. minirtc answers every request at once, so this means the network (or a proxy in between) lost the request or the reply.",
			"Check the network and any reverse proxy in front of minirtc (it must pass WebSocket frames through). If it happened during join, create a new client and join again."},
		{"CodeSocketLost", true,
			"The gateway WebSocket closed unexpectedly: network change, the mini program went to the background, the server restarted.",
			"Destroy the client, create a new one and rejoin with the same uid. Within `gateway.graceTimeout` (15 s) the server resumes the member and its stream without the others noticing. The minirtc SDK's `autoRejoin` does this for you."},
		{"CodeConnectFailed", true,
			"None of the gateway URLs (`servers`) could be opened within 5 seconds each.",
			"Check the `servers` URL (`wss://HOST/api`), the mini program's socket domain list, the TLS certificate and that the port is reachable."},
	}
}

// entry documents one catalogue constructor with a typical instance.
type entry struct {
	constructor string
	err         *errcode.Error
	when        string
	fix         string
}

// entries lists every exported constructor of errcode that returns *Error,
// in the order the page shows them within a code.
func entries() []entry {
	sampleTime := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) // fixed: stable output
	return []entry{
		{"InvalidVendorKey", errcode.InvalidVendorKey(`app "970ca35de60c44645bbae8a215061b33" is unknown or disabled`),
			"The appId is not known to this server, or the app is disabled.",
			"Use an appId from `minirtc app list`; enable it with `minirtc app enable APPID`."},
		{"MalformedToken", errcode.MalformedToken(),
			"The key is not a readable 006 or 007 token (cut short, wrong base64, not a token at all).",
			"Pass the token string exactly as your token server built it."},
		{"TokenAppMismatch", errcode.TokenAppMismatch(),
			"The token was built for another appId.",
			"Build the token with the same appId the client passes to `init`."},
		{"SignatureMismatch", errcode.SignatureMismatch(),
			"The token's signature does not verify with the app's certificate.",
			"Build the token with this app's appCertificate (printed by `minirtc app create`)."},
		{"TokenWrongChannel", errcode.TokenWrongChannel(),
			"The token names another channel.",
			"Build the token for the channel name the client joins, byte for byte."},
		{"TokenWrongUID", errcode.TokenWrongUID(),
			"The token names another uid.",
			"Build the token for the uid the client joins with, or with uid 0 to allow any uid."},
		{"InvalidKey", errcode.InvalidKey("this app requires a token: pass one to join()"),
			"Any other key refusal: no token for an app that needs one, a token for an app without certificate, a token without the RTC service.",
			"Do what the reason says: pass a token, or pass none (the appId) for a development app without certificate."},
		{"Unauthorized", errcode.Unauthorized("send Authorization: Bearer <AccessToken> for this channel"),
			"An HTTP request came without usable credentials: WHIP or WHEP without a token, or a REST API call without a valid API key (or before any key exists).",
			"WHIP/WHEP: send `Authorization: Bearer <AccessToken>` with a token for the channel. REST API: send an API key with HTTP Basic auth (`curl -u ID:SECRET`); create one with `minirtc apikey create`."},
		{"KeyExpired", errcode.KeyExpired(sampleTime),
			"The token, or its join privilege, expired at the time given.",
			"Build a new token; renew it before it expires with `renewToken` when `token-privilege-will-expire` arrives."},
		{"TooManyRequests", errcode.TooManyRequests("at most 20 requests per second per connection"),
			"A rate limit was hit.",
			"Send fewer requests; retry after a pause."},
		{"InvalidUID", errcode.InvalidUID(`uid must be an unsigned 32-bit integer above 0 (got "abc")`),
			"The uid is not a number from 1 to 4294967295, or a string account is empty or longer than 255 bytes.",
			"Join with a uid in range, or with a string account of 1 to 255 bytes (uidType 1)."},
		{"InvalidChannelName", errcode.InvalidChannelName("channel name must be 1..64 bytes (got 70)"),
			"The channel name is empty, longer than 64 bytes, or has a character outside a-z A-Z 0-9 space and ``!#$%&()+-:;<=.>?@[]^_{}|~,``.",
			"Use a name that tokens can carry: at most 64 bytes from that set."},
		{"BadRequest", errcode.BadRequest(`unknown action "x"`),
			"A message or request is malformed; the reason names what.",
			"Fix the request as the reason says (field, type, order of calls)."},
		{"CodecNotAcceptable", errcode.CodecNotAcceptable("this channel interoperates with mini programs, which only decode H.264; offer H.264 (packetization-mode=1, baseline/main profile)"),
			"A WHIP or WHEP offer has no codec minirtc can use: video must be H.264 (packetization mode 1), audio Opus.",
			"Offer H.264 and Opus (browsers: prefer H.264 with `setCodecPreferences`; the minirtc web SDK does this)."},
		{"BadRole", errcode.BadRole(`role must be "broadcaster" or "audience" (got "host")`),
			"The role is not `broadcaster` or `audience`.",
			"Call `setRole('broadcaster')` or `setRole('audience')`."},
		{"NotPublishing", errcode.NotPublishing("uid 9 is not publishing in this channel"),
			"The target uid has no stream in this channel.",
			"Subscribe after `stream-added` for that uid; drop its player on `stream-removed`."},
		{"NotFound", errcode.NotFound("no such WebRTC session"),
			"No such app, stream, session or URL (HTTP surfaces).",
			"Check the URL: the appId, channel and uid in it, or the session URL from the `Location` header."},
		{"NoAuthorized", errcode.NoAuthorized("audience cannot publish; call setRole('broadcaster') first"),
			"The member's role or token does not allow the action.",
			"Do what the reason says, e.g. switch to broadcaster before publishing."},
		{"NoPublishPrivilege", errcode.NoPublishPrivilege(),
			"The app enforces publisher tokens and this token has no publish privilege (or it expired).",
			"Build a publisher token (role publisher, privileges 1 to 4), or create the app without `--enforce-publisher-token`."},
		{"TooManyUsers", errcode.TooManyUsers(`channel "room-1" has 1000 users (limit 1000)`),
			"The channel is full, or a stream has as many readers as allowed.",
			"Raise the app's `--max-users`, `gateway.maxUsersPerChannel` or `media.maxReadersPerStream`, or use another channel."},
		{"UIDConflict", errcode.UIDConflict(),
			"Pushed to an older connection when the same uid joined from another one (the newest join wins); the old connection is then closed.",
			"Give every user or device its own uid. Do not rejoin automatically after this error, or the two clients take turns."},
		{"Refused", errcode.Refused(errcode.ReasonUIDConflict, "uid 42 is in use by another user in this channel"),
			"Any other refusal with code 433; the reason names the rule (e.g. a string account mapped to a uid that another user holds).",
			"Do what the reason says."},
		{"Conflict", errcode.Conflict("replaced by a reconnect of the same uid: this connection had sent no media for a while"),
			"The same uid reconnected (its push URL, or a token for that uid) after this publisher had sent no media for `media.publisherStall` (2 s), and took over the stream.",
			"Nothing if the reconnect was yours (e.g. a live-pusher back from the background); otherwise publish each uid from one place at a time."},
		{"StreamBusy", errcode.StreamBusy("uid 123 is publishing from another connection (last media 40ms ago); stop that one first, or reconnect once it has sent nothing for 2s"),
			"A second publisher asked for a stream (RTMP push, WHIP POST) while its publisher is sending media: one stream has one publisher, the first keeps it. RTMP answers `NetStream.Publish.BadName` with this reason; WHIP answers HTTP 409.",
			"Stop the other publisher first. A reconnect of the same uid is accepted once the old connection has sent nothing for `media.publisherStall` (2 s); a token with uid 0 never takes over a stream."},
		{"PublishNeedsUID", errcode.PublishNeedsUID("a token without a uid (uid 0) cannot publish over RTMP as uid 123: push with the URL that publish returned, or with a token built for uid 123"),
			"A token with uid 0 (or an appId key) asked to publish as a uid it does not name: over RTMP never; over WHIP only as a uid that joined the channel over the gateway.",
			"Push with the URL that `publish` returned, or build the token for the uid that publishes; with the web SDK, join first and publish as the joined uid."},
		{"Banned", errcode.Banned("uid 42 is banned from this channel"),
			"A ban rule on the server refuses this uid (or removed it from the channel).",
			"Ask the operator; do not rejoin automatically."},
		{"SetRoleRefused", errcode.SetRoleRefused("the role cannot change now"),
			"The role change is not allowed at this moment (reserved: the current server does not refuse role changes this way).",
			"Retry the role change later, as the reason says."},
		{"Internal", errcode.Internal(errors.New("cause")),
			"An unexpected server fault. Its cause is logged on the server and never sent.",
			"Destroy the client, create a new one and rejoin; the operator looks for `internal error` in the server log."},
		{"ServiceLost", errcode.ServiceLost("node shutting down: rejoin"),
			"The server is shutting down, or a WebRTC connection failed.",
			"Rejoin (mini programs: destroy, new client, rejoin with the same uid); WHIP/WHEP clients post a new offer."},
		{"NoICECandidates", errcode.NoICECandidates("this node's WebRTC address yields no ICE candidate, so no client can connect; set webrtc.udpAddr (--webrtc-addr) to an address of this machine, or webrtc.publicIPs (--public-ip)"),
			"A WHIP or WHEP request reached a node whose WebRTC settings produce no ICE candidate, so no peer could ever connect. The node also warns about it at start.",
			"Operator: set `webrtc.udpAddr` to an address of the machine, or `webrtc.publicIPs` behind NAT 1:1; check `webrtc.interfaces`."},
		{"Overloaded", errcode.Overloaded("WebRTC session limit of this node (10000) reached"),
			"The server reached a capacity limit.",
			"Retry later or on another server; the operator raises the limit or adds servers."},
		{"ClusterUnavailable", errcode.ClusterUnavailable("the cluster store cannot be reached to place this channel; retry the join in a few seconds"),
			"A cluster node could not place the channel of a join: its cluster store (Redis) is unreachable, or the node that owns the channel cannot be reached. Sessions already joined keep working; only new joins are refused while it lasts.",
			"Join again after a few seconds (the minirtc SDK's `autoRejoin` retries by itself). Operator: check that Redis (`cluster.redis`) is up and reachable from every node, and that the nodes reach each other's gateway."},
		{"ServiceExited", errcode.ServiceExited("node shutting down"),
			"The server is shutting down; media sessions end with this reason.",
			"Reconnect once the server is back (or to another one)."},
	}
}

// notConstructors are exported functions returning *Error that convert
// rather than construct (they have no code of their own).
func notConstructor(name string) bool { return name == "From" }

// leaveDocs explains the LeaveReason constants by name.
func leaveDocs() map[string]string {
	return map[string]string{
		"LeaveOther":       "Any other reason, e.g. the token expired.",
		"LeaveNormal":      "The client called `leave` (or a WHIP publisher ended its session).",
		"LeaveTimeout":     "Nothing arrived on the socket for `gateway.idleTimeout`, and the member did not come back within `gateway.graceTimeout`. In a cluster also: the member's node died and the member did not rejoin within `cluster.leaseTTL` of another node taking the channel over (reported by that node).",
		"LeaveKicked":      "Removed by a kick or a ban rule.",
		"LeaveDrain":       "The server shut down. In a cluster: the member's node drained (SIGTERM) and the member did not rejoin within `cluster.leaseTTL` (reported by the node that took the channel over).",
		"LeaveUIDConflict": "The same uid joined from another connection (the newest join wins).",
		"LeaveMultipleIPs": "The same member connected from several addresses.",
		"LeaveNetwork":     "The socket closed without `leave` and the member did not come back within `gateway.graceTimeout`.",
	}
}

// noReconnect names the Reason constants on which the official Agora SDK
// stops reconnecting (their spelling is part of the protocol).
func noReconnect() map[string]bool {
	return map[string]bool{
		"ReasonInvalidKey": true, "ReasonKeyExpired": true, "ReasonKeyTimeout": true, "ReasonInvalidUID": true,
		"ReasonInvalidChannelName": true, "ReasonNoAuthorized": true, "ReasonTooManyUsers": true,
		"ReasonVendorOverload": true, "ReasonNoChannel": true, "ReasonServiceUnavailable": true,
		"ReasonInternal": true, "ReasonNoActiveStatus": true, "ReasonMasterAvailable": true,
	}
}
