package client

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"strconv"
)

// Roles (protocol 4.1, 4.2).
const (
	RoleBroadcaster = "broadcaster"
	RoleAudience    = "audience"
)

// JoinParams is what the app gives the SDK's join (protocol 4.1).
type JoinParams struct {
	AppID   string
	Channel string
	UID     string // decimal uid (UIDType 0) or the user account (UIDType 1)
	UIDType int
	Key     string // the token; empty sends the appId, as the SDK does
	Role    string // RoleBroadcaster or RoleAudience (the SDK's default)
	// AudioOnly is the join's audio_only flag.
	AudioOnly bool
	// KnownSpeakers makes it a rejoin (protocol 10.3): the uids the app
	// shows, own uid included; a rejoin carries no vid, device, os or
	// version.
	KnownSpeakers []string
	// VID is the allocation's vid (Allocation.VID), "1" when empty.
	VID string
	// Extra adds or replaces clientRequest fields (device, os, …).
	Extra map[string]any
}

// Fields is the join's clientRequest, as the SDK builds it.
func (p JoinParams) Fields() map[string]any {
	key := p.Key
	if key == "" {
		key = p.AppID
	}
	role := p.Role
	if role == "" {
		role = RoleAudience
	}
	f := map[string]any{"role": role, "appId": p.AppID, "customAudioCodec": nil, "key_vocs": key, "key_vos": key,
		"channel_name": p.Channel, "uid": p.UID, "clientType": "wechat", "audio_only": p.AudioOnly, "uidType": p.UIDType}
	if p.KnownSpeakers != nil {
		f["known_speakers"] = p.KnownSpeakers
	} else {
		vid := p.VID
		if vid == "" {
			vid = "1"
		}
		f["vid"], f["device"], f["os"], f["version"] = vid, "minirtc-go-client", runtime.GOOS, "2.6.4"
	}
	for k, v := range p.Extra {
		f[k] = v
	}
	return f
}

// Join joins the channel and returns the uid the server answered (protocol
// 4.1). It also sets the envelope's identity. Pushes the server sends after
// the reply (current publishers) arrive through Next.
func (c *Conn) Join(ctx context.Context, p JoinParams) (uint32, error) {
	c.SetIdentity(p.AppID, p.Channel, p.UID)
	m, err := c.Call(ctx, "join", p.Fields())
	if err != nil {
		return 0, err
	}
	uid, ok := numberField(m.Response(), "uid")
	if !ok {
		return 0, fmt.Errorf("join: reply without serverResponse.uid: %s", m)
	}
	if uid < 0 || uid > math.MaxUint32 {
		return 0, fmt.Errorf("join: reply uid %d is not a 32-bit uid: %s", uid, m)
	}
	c.mu.Lock()
	c.joinedUID = uint32(uid)
	c.mu.Unlock()
	return uint32(uid), nil
}

// UID is the uid the join reply gave (0 before a successful Join).
func (c *Conn) UID() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.joinedUID
}

// SetRole changes the member's role (protocol 4.2).
func (c *Conn) SetRole(ctx context.Context, role string) error {
	_, err := c.Call(ctx, "set_role", map[string]any{"role": role})
	return err
}

// Publish asks for the member's push URL (protocol 4.3): the rtmp:// URL a
// pusher (ffmpeg, <live-pusher>) sends to.
func (c *Conn) Publish(ctx context.Context) (string, error) {
	m, err := c.Call(ctx, "publish", map[string]any{"uid": c.UID()})
	if err != nil {
		return "", err
	}
	return urlField("publish", m)
}

// Unpublish stops publishing (protocol 4.4).
func (c *Conn) Unpublish(ctx context.Context) error {
	_, err := c.Call(ctx, "unpublish", map[string]any{"uid": c.UID()})
	return err
}

// SubscribeOptions chooses the tracks and the play URL's protocol.
type SubscribeOptions struct {
	Audio, Video bool
	FLV          bool // an HTTP-FLV URL instead of rtmp://
}

// Play is a subscribe reply (protocol 4.5).
type Play struct {
	URL      string
	Rotation int
}

// Subscribe asks for a play URL of the publisher uid (protocol 4.5).
func (c *Conn) Subscribe(ctx context.Context, uid uint32, o SubscribeOptions) (Play, error) {
	opts := map[string]any{"audio": o.Audio, "video": o.Video}
	if o.FLV {
		opts["flv"] = true
	}
	m, err := c.Call(ctx, "subscribe", map[string]any{"uid": uid, "options": opts})
	if err != nil {
		return Play{}, err
	}
	u, err := urlField("subscribe", m)
	if err != nil {
		return Play{}, err
	}
	rot, _ := numberField(m.Response(), "rotation")
	return Play{URL: u, Rotation: int(rot)}, nil
}

// Unsubscribe stops playing uid (protocol 4.6).
func (c *Conn) Unsubscribe(ctx context.Context, uid uint32) error {
	_, err := c.Call(ctx, "unsubscribe", map[string]any{"uid": []uint32{uid}})
	return err
}

// MuteLocal announces the member's own mute state; target is "audio",
// "video" or "all" (protocol 4.7).
func (c *Conn) MuteLocal(ctx context.Context, target string, mute bool) error {
	_, err := c.Call(ctx, "mute_local", map[string]any{"uid": c.UID(), "target": target, "mute": mute})
	return err
}

// UpdateKey renews the member's token (protocol 6.2).
func (c *Conn) UpdateKey(ctx context.Context, key string) error {
	_, err := c.Call(ctx, "update_key", map[string]any{"key_vos": key})
	return err
}

// PingRequest is the request-shaped ping (action "ping"), answered with a
// reply like any request; Ping sends the heartbeat instead.
func (c *Conn) PingRequest(ctx context.Context) error {
	_, err := c.Call(ctx, "ping", nil)
	return err
}

// Leave sends leave, waits for its reply, then closes the socket the way
// the SDK does (protocol 10.4) and waits for the goroutines.
func (c *Conn) Leave(ctx context.Context) error {
	_, err := c.Call(ctx, "leave", map[string]any{"uid": strconv.FormatUint(uint64(c.UID()), 10)})
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// urlField returns serverResponse.url, which publish and subscribe replies
// must carry.
func urlField(action string, m Message) (string, error) {
	u, _ := m.Response()["url"].(string)
	if u == "" {
		return "", fmt.Errorf("%s: reply without serverResponse.url: %s", action, m)
	}
	return u, nil
}

func numberField(obj map[string]any, key string) (int64, bool) {
	n, ok := obj[key].(json.Number)
	if !ok {
		return 0, false
	}
	v, err := n.Int64()
	return v, err == nil
}
