package node

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/token"
)

// toolSessionPrefix names the channel sessions of RTMP pushes that joined
// their channel themselves (a tool with a token, no SDK member).
const toolSessionPrefix = "rtmp-token-"

// publishGate is the RTMP server's PublishGate. A member that called
// publish may push (the channel model decides, as for every pusher). A push
// with an access token for a uid that is not in the channel — ffmpeg, OBS or
// any encoder with no SDK — makes that uid a broadcaster member for as long
// as the push lasts: SDK members see its stream come (stream-added) and go
// (stream-removed, member left) like any other. The token was checked by the
// admission gate before (publish privilege, uid not 0), and the one-publisher
// rule of the hub still applies after.
func (n *Node) publishGate(maxUsers func(app string) int) func(context.Context, string, string, string, bool) (func(), error) {
	var seq atomic.Uint64
	return func(ctx context.Context, app, ch, uid string, byToken bool) (func(), error) {
		u, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, errcode.InvalidUID(err.Error())
		}
		if _, member := n.channels.Member(app, ch, uint32(u)); member || !byToken {
			return func() {}, n.channels.MayPublish(app, ch, uint32(u))
		}
		req := channel.JoinRequest{App: app, Channel: ch, UID: uint32(u), Role: channel.RoleBroadcaster,
			Profile: channel.ProfileLive, Session: fmt.Sprintf("%s%d", toolSessionPrefix, seq.Add(1)), MaxUsers: maxUsers(app)}
		req.Endpoint = &toolEndpoint{session: req.Session}
		req.Client = channel.ClientInfo{Kind: "rtmp"} // a tool (ffmpeg, OBS) pushing with a token
		req.RemoteIP = channel.AddrIP(token.RemoteAddr(ctx))
		res, err := n.channels.Join(req)
		if err != nil {
			return nil, err
		}
		ref := channel.Ref{App: app, Channel: ch, UID: res.UID, Endpoint: req.Endpoint}
		if _, _, err := n.channels.Publish(ref, "rtmp:"+req.Session); err != nil {
			_ = n.channels.Leave(ref, errcode.LeaveNormal)
			return nil, err
		}
		n.log.Info("rtmp token push joined its channel", "app", app, "channel", ch, "uid", uid, "session", req.Session)
		return func() {
			// Only this push's own membership: an SDK member that took the
			// uid over meanwhile is another endpoint and stays.
			if mi, ok := n.channels.Member(app, ch, res.UID); ok && mi.Session == req.Session {
				_ = n.channels.Leave(ref, errcode.LeaveNormal)
			}
		}, nil
	}
}

// toolEndpoint is the channel endpoint of a token push (one per push: the
// channel model tells endpoints apart by identity). It needs no events: the
// admission gate ends the push when its member is kicked or banned.
type toolEndpoint struct{ session string }

// Notify implements channel.Endpoint.
func (*toolEndpoint) Notify(channel.Event) {}
