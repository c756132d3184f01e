package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // G505: Agora-Signature (v1) is HMAC-SHA1 by protocol; v2 (SHA-256) is sent beside it
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
)

// ProductID is Agora's product id of RTC channel event notifications.
const ProductID = 1

// Agora's channel event types.
const (
	EventChannelCreate      = 101
	EventChannelDestroy     = 102
	EventBroadcasterJoin    = 103
	EventBroadcasterLeave   = 104
	EventAudienceJoin       = 105
	EventAudienceLeave      = 106
	EventCommunicationJoin  = 107
	EventCommunicationLeave = 108
	EventRoleToBroadcaster  = 111
	EventRoleToAudience     = 112
	firstMinirtcEvent       = 1000
	EventTest               = 1000 // a test notice sent on an operator's request
	EventStreamPublished    = 1001 // media of a published stream started, with protocol and codecs
	EventStreamUnpublished  = 1002 // a published stream ended, with the reason
	EventPublisherInterrupt = 1003 // a publisher stopped sending; its grace period runs
	EventPublisherResumed   = 1004 // the publisher came back within its grace period
	EventKickedByRule       = 1005 // a member was removed by a kick or ban rule
	EventTokenExpired       = 1006 // a member's token expired (its leave follows)
	EventClientErrorReport  = 1007 // a member's client reported a pusher or player failure
	lastMinirtcEvent        = 1099
	headerSignature         = "Agora-Signature"
	headerSignatureV2       = "Agora-Signature-V2"
	platformOther           = 0
	platformAndroid         = 1
	platformIOS             = 2
	platformWindows         = 5
	platformLinux           = 6
	platformWeb             = 7
	platformMac             = 8
)

// Notice is the body of one delivery, as Agora sends it.
type Notice struct {
	NoticeID  string          `json:"noticeId"`
	ProductID int             `json:"productId"`
	EventType int             `json:"eventType"`
	NotifyMs  int64           `json:"notifyMs"` // when this attempt was sent (ms)
	Payload   json.RawMessage `json:"payload"`
}

// Payload is a notice's payload. Agora's fields are always present where
// Agora has them; minirtc's own events add theirs.
type Payload struct {
	ChannelName string  `json:"channelName"`
	UID         *uint32 `json:"uid,omitempty"`
	Account     string  `json:"account,omitempty"`
	Platform    *int    `json:"platform,omitempty"`
	ClientSeq   int64   `json:"clientSeq,omitempty"`
	Reason      *int    `json:"reason,omitempty"`
	TS          int64   `json:"ts"`                 // Unix seconds of the event
	Duration    *int64  `json:"duration,omitempty"` // seconds in the channel (leave events)
	LastUID     *uint32 `json:"lastUid,omitempty"`  // 102: the last member to leave

	// minirtc's own (1000-1099).
	Protocol   string `json:"protocol,omitempty"`
	VideoCodec string `json:"videoCodec,omitempty"`
	AudioCodec string `json:"audioCodec,omitempty"`
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	StopReason string `json:"stopReason,omitempty"`
	Detail     string `json:"detail,omitempty"`
	Message    string `json:"message,omitempty"`
	// 1007: the failing component ("pusher", "player"), its state code
	// and, for a player, the uid it plays.
	Component string  `json:"component,omitempty"`
	Code      *int    `json:"code,omitempty"`
	Target    *uint32 `json:"target,omitempty"`
}

// StreamInfo describes a published stream for EventStreamPublished; the
// zero value leaves the fields out.
type StreamInfo struct {
	Protocol               string // "rtmp", "whip"
	VideoCodec, AudioCodec string
	Width, Height          int
}

// notice is a mapped event waiting for the outbox.
type notice struct {
	id        string
	app       string
	channel   string
	eventType int
	payload   []byte
	at        time.Time
}

// mapper turns channel events into notices. It remembers, per channel, the
// last member that left (102's lastUid) and hands out clientSeq values. Use
// it from one goroutine (the channel model's observer).
type mapper struct {
	// Stream describes a stream when its media starts (may be nil).
	Stream func(app, channel string, uid uint32) StreamInfo

	mu      sync.Mutex
	seq     int64
	lastUID map[[2]string]uint32
}

// clientSeq increases across events and, being the wall clock in
// microseconds at least, across restarts (as long as the clock does).
// Microseconds stay exact in a JavaScript number.
func (m *mapper) clientSeq(at time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq = max(m.seq+1, at.UnixMicro())
	return m.seq
}

func ptr[T any](v T) *T { return &v }

// Map returns the notices for ev (none for events webhooks do not report).
func (m *mapper) Map(ev channel.Event) []notice {
	if m.lastUID == nil {
		m.lastUID = map[[2]string]uint32{}
	}
	at := ev.At
	if at.IsZero() {
		at = time.Now()
	}
	p := Payload{ChannelName: ev.Channel, TS: at.Unix()}
	member := func() {
		p.UID = ptr(ev.UID)
		p.Account = ev.Account
		p.Platform = ptr(platform(ev.Client))
		p.ClientSeq = m.clientSeq(at)
	}
	live := ev.Profile == channel.ProfileLive
	var typ int
	switch ev.Kind {
	case channel.EventChannelCreated:
		typ = EventChannelCreate
	case channel.EventChannelDestroyed:
		typ = EventChannelDestroy
		key := [2]string{ev.App, ev.Channel}
		if u, ok := m.lastUID[key]; ok {
			p.LastUID = ptr(u)
			delete(m.lastUID, key)
		}
	case channel.EventMemberJoined:
		member()
		switch {
		case !live:
			typ = EventCommunicationJoin
		case ev.Role == channel.RoleBroadcaster:
			typ = EventBroadcasterJoin
		default:
			typ = EventAudienceJoin
		}
	case channel.EventMemberLeft:
		member()
		p.Reason = ptr(agoraReason(ev.LeaveReason))
		if !ev.JoinedAt.IsZero() {
			p.Duration = ptr(int64(max(0, at.Sub(ev.JoinedAt)/time.Second)))
		}
		m.lastUID[[2]string{ev.App, ev.Channel}] = ev.UID
		switch {
		case !live:
			typ = EventCommunicationLeave
		case ev.Role == channel.RoleBroadcaster:
			typ = EventBroadcasterLeave
		default:
			typ = EventAudienceLeave
		}
	case channel.EventRoleChanged:
		if !live {
			return nil // communication channels have no roles
		}
		p.UID = ptr(ev.UID)
		p.ClientSeq = m.clientSeq(at)
		typ = EventRoleToAudience
		if ev.Role == channel.RoleBroadcaster {
			typ = EventRoleToBroadcaster
		}
	case channel.EventMediaStarted:
		member()
		typ = EventStreamPublished
		if m.Stream != nil {
			si := m.Stream(ev.App, ev.Channel, ev.UID)
			p.Protocol, p.VideoCodec, p.AudioCodec, p.Width, p.Height = si.Protocol, si.VideoCodec, si.AudioCodec, si.Width, si.Height
		}
	case channel.EventMediaPaused:
		member()
		typ = EventPublisherInterrupt
	case channel.EventMediaResumed:
		member()
		typ = EventPublisherResumed
	case channel.EventTokenExpired:
		member()
		typ = EventTokenExpired
	case channel.EventClientError:
		member()
		typ = EventClientErrorReport
		p.Component, p.Code, p.Message = ev.Report.Component, ptr(ev.Report.Code), ev.Report.Message
		if ev.Report.Target != 0 {
			p.Target = ptr(ev.Report.Target)
		}
	case channel.EventStreamStopped:
		member()
		typ = EventStreamUnpublished
		p.StopReason = ev.StopReason.String()
	case channel.EventKicked:
		if ev.LeaveReason != errcode.LeaveKicked {
			return nil // a uid conflict: the leave (reason 5) says it
		}
		member()
		typ = EventKickedByRule
		p.Reason = ptr(agoraReason(ev.LeaveReason))
		if ev.Err != nil {
			p.Detail = ev.Err.Message()
		}
	default:
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil // a Payload always marshals
	}
	return []notice{{id: newNoticeID(), app: ev.App, channel: ev.Channel, eventType: typ, payload: b, at: at}}
}

// agoraReason is the leave reason number Agora's 104/106/108 carry; minirtc's
// leave reasons use Agora's numbers (error-codes.md).
func agoraReason(r errcode.LeaveReason) int { return int(r) }

// platform maps what the client said about itself to Agora's platform
// numbers: 1 Android, 2 iOS, 5 Windows, 6 Linux, 7 Web, 8 macOS, 0 other.
func platform(c channel.ClientInfo) int {
	os := strings.ToLower(c.OS)
	switch {
	case strings.Contains(os, "android"):
		return platformAndroid
	case strings.Contains(os, "ios"), strings.Contains(os, "iphone"), strings.Contains(os, "ipad"):
		return platformIOS
	case strings.Contains(os, "windows"):
		return platformWindows
	case strings.Contains(os, "mac"), strings.Contains(os, "darwin"):
		return platformMac
	case strings.Contains(os, "linux"):
		return platformLinux
	}
	switch strings.ToLower(c.Kind) {
	case "whip", "whep", "web", "browser":
		return platformWeb
	}
	return platformOther
}

func newNoticeID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go 1.24+ panics instead)
	return hex.EncodeToString(b)
}

// Sign returns the Agora-Signature (HMAC-SHA1) and Agora-Signature-V2
// (HMAC-SHA256) of body with secret, in lowercase hex.
func Sign(secret string, body []byte) (v1, v2 string) {
	h1 := hmac.New(sha1.New, []byte(secret))
	h1.Write(body)
	h2 := hmac.New(sha256.New, []byte(secret))
	h2.Write(body)
	return hex.EncodeToString(h1.Sum(nil)), hex.EncodeToString(h2.Sum(nil))
}

// Verify checks a delivery as a receiver does: the Agora-Signature-V2 of
// body with secret. It is what docs/webhooks.md shows in Go.
func Verify(secret string, body []byte, signatureV2 string) bool {
	_, want := Sign(secret, body)
	return hmac.Equal([]byte(want), []byte(strings.ToLower(signatureV2)))
}
