package admission

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/token"
)

// Members is the channel half of the seam for publishers that come in by a
// media door rather than the gateway: it makes them publishing members of
// their channel, so that SDK members see their stream come (stream-added)
// and go (stream-removed), and it carries video rotation between WebRTC and
// the channel. The Gate uses it for RTMP pushes (through the grant's Enter);
// the WHIP server receives it as its webrtc.Channels. The rules:
//
//   - A pusher whose credential names no uid (Wildcard: a uid-0 token or a
//     development app's appId) never joins a uid itself. Over RTMP it may
//     not push at all (an RTMP pusher cannot be given a uid); over WHIP only
//     as a uid that joined the channel over the gateway (the web SDK joins,
//     then publishes with WHIP as that uid).
//   - RTMP with a signed push URL, or with a token for a uid that is a
//     member: the member's own stream; the channel model decides
//     (channel.Manager.MayPublish: role, a stream announced with publish).
//   - RTMP with a token for a uid that is not a member (ffmpeg, OBS): that
//     uid joins as a broadcaster for as long as the push lasts.
//   - WHIP for a uid that is a member the gateway made: the session
//     publishes for it (leave then only unpublishes); the member leaving or
//     being kicked ends the session.
//   - WHIP for a uid that is not a member: it joins as a broadcaster that
//     publishes, and leaves with the session.
//
// Both doors' own joins use the same member limit (MaxUsers). Members is
// safe for concurrent use; create it with a Manager and share it.
type Members struct {
	Manager *channel.Manager
	// MaxUsers returns the member limit of an app's channels (the app's
	// setting, else the node's); nil or 0: no limit.
	MaxUsers func(app string) int

	seq atomic.Uint64 // names the RTMP token pushes' channel sessions
}

// Session name prefixes of members a media door joined itself.
const (
	// toolSessionPrefix: an RTMP push with a token (a tool, no SDK member).
	toolSessionPrefix = "rtmp-token-"
	// whipSessionPrefix: a WHIP session; a new WHIP publish of the same uid
	// takes such a member over instead of attaching to it.
	whipSessionPrefix = "whip-"
)

// enter applies the rules above for door; see token.MediaGrant.Enter.
func (m *Members) enter(ctx context.Context, door token.Door, grant token.MediaGrant, session string,
	kicked func(error)) (func(bool), error) {
	switch door {
	case token.DoorRTMP:
		if grant.Wildcard {
			// A uid-0 token names no uid, and an RTMP pusher cannot be given
			// one: it may not push in some member's name.
			return nil, errcode.PublishNeedsUID(fmt.Sprintf(
				"a token without a uid (uid 0) cannot publish over RTMP as uid %s: push with the URL that publish returned, or with a token built for uid %s", grant.UID, grant.UID))
		}
		leave, err := m.toolPush(ctx, grant.AppID, grant.Channel, grant.UID, !grant.Signed)
		if err != nil {
			return nil, err
		}
		return func(bool) { leave() }, nil
	case token.DoorWHIP:
		return m.JoinPublisher(grant.AppID, grant.Channel, grant.UID, session, grant.Wildcard, kicked)
	}
	return nil, errcode.Internal(fmt.Errorf("admission: no publish rule for door %q", door))
}

func (m *Members) maxUsers(app string) int {
	if m.MaxUsers == nil {
		return 0
	}
	return m.MaxUsers(app)
}

// toolPush is the RTMP rule: a member (or a signed URL) publishes as the
// channel model allows; a token for a uid that is not in the channel makes
// that uid a broadcaster member for as long as the push lasts. The token
// was checked before (publish privilege, uid not 0), and the hub's
// one-publisher rule still applies after.
func (m *Members) toolPush(ctx context.Context, app, ch, uid string, byToken bool) (func(), error) {
	u, err := strconv.ParseUint(uid, 10, 32)
	if err != nil {
		return nil, errcode.InvalidUID(err.Error())
	}
	if _, member := m.Manager.Member(app, ch, uint32(u)); member || !byToken {
		return func() {}, m.Manager.MayPublish(app, ch, uint32(u))
	}
	req := channel.JoinRequest{App: app, Channel: ch, UID: uint32(u), Role: channel.RoleBroadcaster,
		Profile: channel.ProfileLive, Session: fmt.Sprintf("%s%d", toolSessionPrefix, m.seq.Add(1)), MaxUsers: m.maxUsers(app)}
	req.Endpoint = &toolEndpoint{session: req.Session}
	req.Client = channel.ClientInfo{Kind: "rtmp"} // a tool (ffmpeg, OBS) pushing with a token
	req.RemoteIP = channel.AddrIP(token.RemoteAddr(ctx))
	res, err := m.Manager.Join(req)
	if err != nil {
		return nil, err
	}
	ref := channel.Ref{App: app, Channel: ch, UID: res.UID, Endpoint: req.Endpoint}
	if _, _, err := m.Manager.Publish(ref, "rtmp:"+req.Session); err != nil {
		_ = m.Manager.Leave(ref, errcode.LeaveNormal)
		return nil, err
	}
	return func() {
		// Only this push's own membership: an SDK member that took the
		// uid over meanwhile is another endpoint and stays.
		if mi, ok := m.Manager.Member(app, ch, res.UID); ok && mi.Session == req.Session {
			_ = m.Manager.Leave(ref, errcode.LeaveNormal)
		}
	}, nil
}

// toolEndpoint is the channel endpoint of a token push (one per push: the
// channel model tells endpoints apart by identity). It needs no events: the
// Gate ends the push when its member is kicked or banned.
type toolEndpoint struct{ session string }

// Notify implements channel.Endpoint.
func (*toolEndpoint) Notify(channel.Event) {}

// whipEndpoint is the channel endpoint of a WHIP publisher. Notify runs
// under the Manager's lock: it only hands the kick to the server, which
// closes the session on its own goroutine.
type whipEndpoint struct{ kicked func(error) }

func (e *whipEndpoint) Notify(ev channel.Event) {
	if ev.Kind == channel.EventKicked {
		var err error = errcode.NoAuthorized("removed from the channel")
		if ev.Err != nil {
			err = ev.Err
		}
		e.kicked(err)
	}
}

// JoinPublisher implements webrtc.Channels: the WHIP rule. A numeric uid
// names that uid; any other string is a string account.
func (m *Members) JoinPublisher(app, ch, uid, session string, wildcard bool, kicked func(error)) (func(bool), error) {
	leave, attached, err := m.attachPublisher(app, ch, uid, session, kicked)
	if attached || err != nil {
		return leave, err
	}
	if wildcard {
		return nil, errcode.PublishNeedsUID(fmt.Sprintf("a token without a uid (uid 0) may publish over WHIP only as a uid that joined the channel; uid %s has not: join first, or use a token built for uid %s", uid, uid))
	}
	ep := &whipEndpoint{kicked: kicked}
	req := channel.JoinRequest{App: app, Channel: ch, Role: channel.RoleBroadcaster, Profile: channel.ProfileLive,
		Endpoint: ep, Session: whipSessionPrefix + session, Client: channel.ClientInfo{Kind: "whip"}, MaxUsers: m.maxUsers(app)}
	if u, err := strconv.ParseUint(uid, 10, 32); err == nil {
		req.UID = uint32(u)
	} else {
		req.Account = uid
	}
	res, err := m.Manager.Join(req)
	if err != nil {
		return nil, err
	}
	ref := channel.Ref{App: app, Channel: ch, UID: res.UID, Endpoint: ep}
	if _, _, err := m.Manager.Publish(ref, "whip:"+session); err != nil {
		_ = m.Manager.Leave(ref, errcode.LeaveNormal)
		return nil, err
	}
	return func(bool) { _ = m.Manager.Leave(ref, errcode.LeaveNormal) }, nil
}

// existing finds the member a WHIP publish of uid would attach to: a member
// of that uid (or string account) that no WHIP session joined itself.
func (m *Members) existing(app, ch, uid string) (channel.MemberInfo, bool) {
	var mi channel.MemberInfo
	ok := false
	if u, err := strconv.ParseUint(uid, 10, 32); err == nil {
		mi, ok = m.Manager.Member(app, ch, uint32(u))
	} else {
		for _, mb := range m.Manager.Members(app, ch) {
			if mb.Account == uid {
				mi, ok = mb, true
				break
			}
		}
	}
	if !ok || strings.HasPrefix(mi.Session, whipSessionPrefix) {
		return channel.MemberInfo{}, false
	}
	return mi, true
}

// attachPublisher publishes for an existing member of uid (attached true),
// watching the channel so that the member leaving or being kicked ends the
// session. The returned leave unpublishes unless the member is gone, or the
// stream was announced before (by the member's own pusher) and the session's
// media never reached the hub.
func (m *Members) attachPublisher(app, ch, uid, session string, kicked func(error)) (func(bool), bool, error) {
	var (
		target atomic.Uint64 // the member's numeric uid + 1; 0 until known
		gone   atomic.Bool
		once   sync.Once
	)
	// Observe before looking the member up, so no departure is missed.
	stop := m.Manager.Observe(func(ev channel.Event) {
		if ev.App != app || ev.Channel != ch || uint64(ev.UID)+1 != target.Load() {
			return
		}
		var reason error
		switch ev.Kind {
		case channel.EventKicked:
			if ev.Err != nil {
				reason = ev.Err
			} else {
				reason = errcode.NoAuthorized("removed from the channel")
			}
		case channel.EventMemberLeft:
			reason = errcode.NotPublishing("uid " + uid + " left the channel")
		default:
			return
		}
		gone.Store(true)
		once.Do(func() { kicked(reason) })
	})
	mi, ok := m.existing(app, ch, uid)
	if !ok {
		stop()
		return nil, false, nil
	}
	target.Store(uint64(mi.UID) + 1)
	ref := channel.Ref{App: app, Channel: ch, UID: mi.UID}
	_, already, err := m.Manager.Publish(ref, "whip:"+session)
	if err != nil {
		stop()
		return nil, true, err
	}
	return func(published bool) {
		stop()
		if !gone.Load() && (published || !already) {
			_ = m.Manager.Unpublish(ref)
		}
	}, true, nil
}

func (m *Members) member(app, ch, uid string) (channel.MemberInfo, bool) {
	u, err := strconv.ParseUint(uid, 10, 32)
	if err != nil {
		return channel.MemberInfo{}, false
	}
	return m.Manager.Member(app, ch, uint32(u))
}

// SetRotation implements webrtc.Channels: the rotation (degrees clockwise)
// of uid's video, for the members that subscribe over signaling.
func (m *Members) SetRotation(app, ch, uid string, degrees int) {
	if u, err := strconv.ParseUint(uid, 10, 32); err == nil {
		_ = m.Manager.SetRotation(app, ch, uint32(u), degrees)
	}
}

// Rotation implements webrtc.Channels.
func (m *Members) Rotation(app, ch, uid string) int {
	if mi, ok := m.member(app, ch, uid); ok {
		return mi.Rotation
	}
	return 0
}
