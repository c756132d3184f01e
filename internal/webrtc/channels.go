package webrtc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
)

// ChannelBridge implements Channels over the node's channel model.
//
// A WHIP publish for a uid that is already a member of the channel (a
// browser that joined over the gateway WebSocket to get events, then
// publishes with WHIP as the same uid) attaches to that member: the session
// publishes for it (stream-added to the others), unpublishes on DELETE or
// ICE failure and never removes the member; the member leaving or being
// kicked closes the session. A WHIP publish for a uid that is not a member
// joins as a broadcaster of its own and leaves with the session, so mini
// programs get stream-added and can subscribe to it over RTMP/FLV.
type ChannelBridge struct {
	Manager *channel.Manager
	// MaxUsers returns the member limit of an app's channels (nil: none).
	MaxUsers func(app string) int
}

// whipSessionPrefix marks members that a WHIP session joined itself: a new
// WHIP publish of the same uid takes such a member over instead of
// attaching to it.
const whipSessionPrefix = "whip-"

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

// JoinPublisher implements Channels. A numeric uid names that uid; any other
// string is a string account.
//
// A token without a uid (wildcard) may publish only as a uid the server gave
// a signaling session: the member must exist and have joined over the
// gateway (the web SDK joins, then publishes with WHIP as the uid it joined
// with). It cannot join a new uid, nor take over a WHIP-made member.
func (b ChannelBridge) JoinPublisher(app, ch, uid, session string, wildcard bool, kicked func(error)) (func(bool), error) {
	leave, attached, err := b.attachPublisher(app, ch, uid, session, kicked)
	if attached || err != nil {
		return leave, err
	}
	if wildcard {
		return nil, errcode.PublishNeedsUID(fmt.Sprintf("a token without a uid (uid 0) may publish over WHIP only as a uid that joined the channel; uid %s has not: join first, or use a token built for uid %s", uid, uid))
	}
	ep := &whipEndpoint{kicked: kicked}
	req := channel.JoinRequest{App: app, Channel: ch, Role: channel.RoleBroadcaster, Profile: channel.ProfileLive,
		Endpoint: ep, Session: whipSessionPrefix + session, Client: channel.ClientInfo{Kind: "whip"}}
	if u, err := strconv.ParseUint(uid, 10, 32); err == nil {
		req.UID = uint32(u)
	} else {
		req.Account = uid
	}
	if b.MaxUsers != nil {
		req.MaxUsers = b.MaxUsers(app)
	}
	res, err := b.Manager.Join(req)
	if err != nil {
		return nil, err
	}
	ref := channel.Ref{App: app, Channel: ch, UID: res.UID, Endpoint: ep}
	if _, _, err := b.Manager.Publish(ref, "whip:"+session); err != nil {
		_ = b.Manager.Leave(ref, errcode.LeaveNormal)
		return nil, err
	}
	return func(bool) { _ = b.Manager.Leave(ref, errcode.LeaveNormal) }, nil
}

// existing finds the member a WHIP publish of uid would attach to: a member
// of that uid (or string account) that no WHIP session joined itself.
func (b ChannelBridge) existing(app, ch, uid string) (channel.MemberInfo, bool) {
	var mi channel.MemberInfo
	ok := false
	if u, err := strconv.ParseUint(uid, 10, 32); err == nil {
		mi, ok = b.Manager.Member(app, ch, uint32(u))
	} else {
		for _, m := range b.Manager.Members(app, ch) {
			if m.Account == uid {
				mi, ok = m, true
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
func (b ChannelBridge) attachPublisher(app, ch, uid, session string, kicked func(error)) (func(bool), bool, error) {
	var (
		target atomic.Uint64 // the member's numeric uid + 1; 0 until known
		gone   atomic.Bool
		once   sync.Once
	)
	// Observe before looking the member up, so no departure is missed.
	stop := b.Manager.Observe(func(ev channel.Event) {
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
	mi, ok := b.existing(app, ch, uid)
	if !ok {
		stop()
		return nil, false, nil
	}
	target.Store(uint64(mi.UID) + 1)
	ref := channel.Ref{App: app, Channel: ch, UID: mi.UID}
	_, already, err := b.Manager.Publish(ref, "whip:"+session)
	if err != nil {
		stop()
		return nil, true, err
	}
	return func(published bool) {
		stop()
		if !gone.Load() && (published || !already) {
			_ = b.Manager.Unpublish(ref)
		}
	}, true, nil
}

func (b ChannelBridge) member(app, ch, uid string) (channel.MemberInfo, bool) {
	u, err := strconv.ParseUint(uid, 10, 32)
	if err != nil {
		return channel.MemberInfo{}, false
	}
	return b.Manager.Member(app, ch, uint32(u))
}

// SetRotation implements Channels.
func (b ChannelBridge) SetRotation(app, ch, uid string, degrees int) {
	if u, err := strconv.ParseUint(uid, 10, 32); err == nil {
		_ = b.Manager.SetRotation(app, ch, uint32(u), degrees)
	}
}

// Rotation implements Channels.
func (b ChannelBridge) Rotation(app, ch, uid string) int {
	if m, ok := b.member(app, ch, uid); ok {
		return m.Rotation
	}
	return 0
}

// isReplaced reports whether the hub ended a publisher because a newer one
// of the same uid took over (the member then stays, it is the newer one's).
func isReplaced(reason error) bool {
	var e *errcode.Error
	return errors.As(reason, &e) && e.Reason == errcode.ReasonConflict
}
