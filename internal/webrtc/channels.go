package webrtc

import (
	"errors"
	"strconv"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
)

// ChannelBridge implements Channels over the node's channel model: a WHIP
// publisher joins as a broadcaster and publishes at once, so mini programs
// get stream-added and can subscribe to it over RTMP/FLV.
type ChannelBridge struct {
	Manager *channel.Manager
	// MaxUsers returns the member limit of an app's channels (nil: none).
	MaxUsers func(app string) int
}

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

// JoinPublisher implements Channels. A numeric uid joins as that uid; any
// other string joins as a string account.
func (b ChannelBridge) JoinPublisher(app, ch, uid, session string, kicked func(error)) (func(), error) {
	ep := &whipEndpoint{kicked: kicked}
	req := channel.JoinRequest{App: app, Channel: ch, Role: channel.RoleBroadcaster, Profile: channel.ProfileLive,
		Endpoint: ep, Session: "whip-" + session}
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
	return func() { _ = b.Manager.Leave(ref, errcode.LeaveNormal) }, nil
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
