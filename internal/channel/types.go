package channel

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
)

// Role is a member's role in a channel.
type Role int

// Roles. The zero value is audience, the Miniapp SDK 2.6.4 default.
const (
	RoleAudience Role = iota
	RoleBroadcaster
)

// String is the wire spelling ("audience", "broadcaster").
func (r Role) String() string {
	if r == RoleBroadcaster {
		return "broadcaster"
	}
	return "audience"
}

// ParseRole accepts exactly "broadcaster" or "audience".
func ParseRole(s string) (Role, error) {
	switch s {
	case "broadcaster":
		return RoleBroadcaster, nil
	case "audience":
		return RoleAudience, nil
	}
	return RoleAudience, errcode.BadRole(fmt.Sprintf("role must be \"broadcaster\" or \"audience\" (got %q)", s))
}

// Profile is a channel's profile, fixed when the channel is created.
type Profile int

// Profiles. In live channels only broadcasters publish; in communication
// channels everyone may. Mini program channels are live channels.
const (
	ProfileLive Profile = iota
	ProfileCommunication
)

// String names the profile.
func (p Profile) String() string {
	if p == ProfileCommunication {
		return "communication"
	}
	return "live"
}

// Media selects audio or video in mute events.
type Media int

// Media kinds.
const (
	MediaAudio Media = iota
	MediaVideo
)

// String names the media kind.
func (k Media) String() string {
	if k == MediaVideo {
		return "video"
	}
	return "audio"
}

// StopReason says why a published stream ended.
type StopReason int

// Stop reasons.
const (
	StopUnpublish    StopReason = iota // the member unpublished
	StopLeft                           // the member left or was removed
	StopRole                           // the member became audience
	StopMediaTimeout                   // media never started within the media start timeout
	StopMediaEnded                     // the media plane ended the stream (publisher gone past its grace period)
	StopBanned                         // a ban rule took the member's publish privilege away
)

// String names the stop reason for logs.
func (r StopReason) String() string {
	switch r {
	case StopUnpublish:
		return "unpublish"
	case StopLeft:
		return "left"
	case StopRole:
		return "role"
	case StopMediaTimeout:
		return "media-timeout"
	case StopMediaEnded:
		return "media-ended"
	case StopBanned:
		return "banned"
	}
	return "unknown"
}

// EventKind is the kind of a channel event.
type EventKind int

// Event kinds. The comment says who receives it: "others" are the endpoints of
// every other member of the channel, "self" the member's own endpoint,
// "subscribers" the endpoints of members that subscribed to the stream.
// Observers receive every event.
const (
	EventMemberJoined     EventKind = iota // observers only
	EventMemberLeft                        // observers only; LeaveReason set
	EventRoleChanged                       // observers only; Role set
	EventStreamStarted                     // others: a member published (stream-added)
	EventStreamStopped                     // others: the stream ended (stream-removed); StopReason set. The media plane drops the ingest.
	EventMuteChanged                       // others: Media and Muted set
	EventRotationChanged                   // subscribers: Rotation set
	EventKicked                            // self: Err explains it; LeaveReason is Kicked or UIDConflict. The member is already gone (or taken over).
	EventMediaStarted                      // observers only
	EventMediaStopped                      // observers only
	EventChannelCreated                    // observers only
	EventChannelDestroyed                  // observers only
	EventRuleAdded                         // observers only: Rule set; App is the rule's app. Matching members were kicked (or stopped publishing) before it.
	EventMediaPaused                       // observers only: the publisher's media stopped, within the media plane's grace period
	EventMediaResumed                      // observers only: the publisher came back within the grace period
	EventTokenExpired                      // observers only: the member's token expired (its removal follows)
	EventClientError                       // observers only: the member's client reported a component failure; Report set
)

var eventNames = [...]string{
	"member-joined", "member-left", "role-changed", "stream-started", "stream-stopped",
	"mute-changed", "rotation-changed", "kicked", "media-started", "media-stopped",
	"channel-created", "channel-destroyed", "rule-added", "media-paused", "media-resumed", "token-expired",
	"client-error",
}

// String names the event kind.
func (k EventKind) String() string {
	if int(k) >= 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// ClientReport is a failure a member's client reported about one of its
// components (a live-pusher or live-player state code).
type ClientReport struct {
	Component string // "pusher" or "player"
	Code      int    // the component's state code, e.g. -1307, 3005
	Message   string // the component's own message, as reported
	Target    uint32 // player: the uid of the stream it plays
}

// Event is one change of channel state. Fields that do not apply to the kind
// are zero.
type Event struct {
	Kind        EventKind
	App         string
	Channel     string
	UID         uint32 // the member the event is about
	Account     string // its string account, if it joined with one
	Session     string // the session id of the member's (last) endpoint
	Detached    bool   // the member had no endpoint (it was in its grace period)
	Role        Role
	LeaveReason errcode.LeaveReason
	StopReason  StopReason
	Media       Media
	Muted       bool
	Rotation    int
	Err         *errcode.Error // EventKicked: the explanation for the client
	Rule        BanRule        // EventRuleAdded
	Report      ClientReport   // EventClientError
	At          time.Time
	// Profile, Client and JoinedAt describe the channel and the member for
	// events about a member (webhooks report them).
	Profile  Profile
	Client   ClientInfo
	JoinedAt time.Time
}

// Endpoint receives the events addressed to one member (usually a gateway
// session). Notify is called while the Manager's lock is held: it must not
// block and must not call back into the Manager; queue the event instead.
type Endpoint interface {
	Notify(Event)
}

// Ref names a member for an operation. Endpoint must be the endpoint that
// joined (or took over) the member; operations from an endpoint that no longer
// owns the member fail, so a replaced session cannot act for its successor.
// A nil Endpoint skips that check (administrative callers).
type Ref struct {
	App      string
	Channel  string
	UID      uint32
	Endpoint Endpoint
}

// JoinRequest asks to join (or rejoin) a channel.
type JoinRequest struct {
	App, Channel string
	// UID is the numeric uid (1..2^32-1); ignored when Account is set.
	UID uint32
	// Account is the string account (uidType 1); the Manager assigns a stable
	// numeric uid to it while it is in the channel.
	Account  string
	Role     Role
	Profile  Profile // used when the join creates the channel
	Endpoint Endpoint
	Session  string // session id, for events and logs
	// MaxUsers caps the channel's members (0 = no limit). Resuming or taking
	// over an existing member never counts as a new user.
	MaxUsers int
	// KnownSpeakers are the uids a rejoining client shows; those that are not
	// publishing now come back in JoinResult.Departed.
	KnownSpeakers []uint32
	// Client describes the joining client (for operators); a rejoin that
	// leaves it empty keeps what the member had.
	Client ClientInfo
	// RemoteIP is the client's IP address as this node saw it (the remote
	// address of its connection), matched by ban rules with an IP; "" when
	// unknown. A rejoin that leaves it empty keeps what the member had.
	RemoteIP string
}

// ClientInfo is what a client said about itself when it joined.
type ClientInfo struct {
	Kind       string // "wechat", "qq" (mini programs), "whip", ...
	SDKVersion string
	Device     string
	OS         string
}

// StreamInfo describes a published stream.
type StreamInfo struct {
	UID        uint32
	Account    string
	AudioMuted bool
	VideoMuted bool // the member muted video, or its media is paused
	Rotation   int
	MediaLive  bool
}

// JoinResult is what a joiner must be told, computed atomically with the join:
// every event for the joiner's endpoint that follows happened after it.
type JoinResult struct {
	UID        uint32
	Resumed    bool         // took over a member that was in its grace period
	Replaced   bool         // took over a member whose endpoint was still attached (uid conflict)
	Publishers []StreamInfo // current publishers, the joiner excluded
	Departed   []uint32     // KnownSpeakers (the joiner excluded) that do not publish now
}

// MemberInfo is a snapshot of one member.
type MemberInfo struct {
	App, Channel  string
	UID           uint32
	Account       string
	Role          Role
	Profile       Profile
	JoinedAt      time.Time
	Session       string // its (last) endpoint's session id
	Detached      bool   // its endpoint is gone; it is in its grace period
	AudioMuted    bool
	VideoMuted    bool
	Publishing    bool
	MediaLive     bool
	MediaPaused   bool
	Rotation      int
	PushURL       string
	Subscriptions []uint32
	Client        ClientInfo
	RemoteIP      string
}

// Privilege is what a ban rule takes away (a bit set).
type Privilege uint8

// Privileges. PrivJoin refuses joins and removes matching members;
// PrivPublishAudio and PrivPublishVideo refuse publishing and end matching
// members' streams (a minirtc stream carries both, so either one stops it).
// A join ban also refuses publishing: a member must be in the channel.
const (
	PrivJoin Privilege = 1 << iota
	PrivPublishAudio
	PrivPublishVideo

	PrivPublish = PrivPublishAudio | PrivPublishVideo
)

// BanRule refuses joins and removes matching members until Until.
// An empty Channel matches every channel of the app; UID 0 matches every
// uid; an empty IP every address (a member whose address is unknown only
// matches rules without an IP). Privileges 0 means PrivJoin. A rule with
// an ID replaces the rule with the same ID (see Manager.Ban).
type BanRule struct {
	ID         uint64
	App        string
	Channel    string
	UID        uint32
	IP         string // a canonical IP address (netip.Addr.String)
	Privileges Privilege
	Until      time.Time
}

func (b BanRule) privileges() Privilege {
	if b.Privileges == 0 {
		return PrivJoin
	}
	return b.Privileges
}

func (b BanRule) matches(app, ch string, uid uint32) bool {
	return b.App == app && (b.Channel == "" || b.Channel == ch) && (b.UID == 0 || b.UID == uid)
}

// MatchesAddr reports whether the rule covers uid at ip in channel of app
// (privileges aside).
func (b BanRule) MatchesAddr(app, ch string, uid uint32, ip string) bool {
	return b.matches(app, ch, uid) && (b.IP == "" || b.IP == ip)
}

// Refuses reports whether the rule refuses privilege p (a join rule
// refuses publishing too).
func (b BanRule) Refuses(p Privilege) bool {
	have := b.privileges()
	if have&PrivJoin != 0 {
		return true
	}
	return have&p != 0
}

// AddrIP is the canonical IP address (IPv4-mapped IPv6 unmapped) of a
// connection's remote address ("host:port" or a bare address), as ban rules
// match it; "" when addr holds no IP address.
func AddrIP(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	return ip.Unmap().WithZone("").String()
}
