package token

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
)

// Action is what a signed media URL allows.
type Action string

// Media URL actions.
const (
	ActionPublish Action = "publish"
	ActionPlay    Action = "play"
)

// maxStreamNameLen bounds a stream name: a 32-char appId, a 64-byte channel
// in base64 (86 chars), a uid of at most 10 digits and two separators.
const maxStreamNameLen = 32 + 1 + 86 + 1 + 10

// StreamName is the media stream name of (appID, channel, uid):
// {appId}_{base64url(channel), no padding}_{uid}.
func StreamName(appID, channel, uid string) string {
	return appID + "_" + base64.RawURLEncoding.EncodeToString([]byte(channel)) + "_" + uid
}

// ParseStreamName splits a stream name made by StreamName. The uid must be a
// decimal uint32 other than 0.
func ParseStreamName(name string) (appID, channel, uid string, err error) {
	if len(name) > maxStreamNameLen {
		return "", "", "", fmt.Errorf("stream name: %d bytes, at most %d", len(name), maxStreamNameLen)
	}
	if len(name) < 32+1+1+1+1 || name[32] != '_' {
		return "", "", "", errors.New("stream name: want {appId}_{channel}_{uid}")
	}
	// base64 decoding skips \r and \n, even strict: a name with line
	// breaks would alias the name without them.
	if strings.ContainsAny(name, "\r\n") {
		return "", "", "", errors.New("stream name: contains a line break")
	}
	appID = name[:32]
	rest := name[33:]
	i := strings.LastIndexByte(rest, '_')
	if i <= 0 {
		return "", "", "", errors.New("stream name: want {appId}_{channel}_{uid}")
	}
	ch, err := base64.RawURLEncoding.Strict().DecodeString(rest[:i])
	if err != nil {
		return "", "", "", fmt.Errorf("stream name: channel is not base64url: %w", err)
	}
	uid = rest[i+1:]
	if n, err := strconv.ParseUint(uid, 10, 32); err != nil || n == 0 || strconv.FormatUint(n, 10) != uid {
		return "", "", "", fmt.Errorf("stream name: uid %q is not a decimal uint32 above 0", uid)
	}
	return appID, string(ch), uid, nil
}

// URLSigner signs and checks media URLs with the node secret:
// sign = base64url(HMAC-SHA256(secret, "{action}\n{stream}\n{expire}")), or,
// for a URL issued to a known viewer (a play URL from the gateway's
// subscribe), over "{action}\n{stream}\n{expire}\n{viewer}" with the viewer's
// uid in the query as viewer={uid}, so that the player can be closed when
// that member is kicked or leaves.
type URLSigner struct {
	secret []byte
}

// maxViewerLen bounds the viewer parameter: a decimal uint32.
const maxViewerLen = 10

// NewURLSigner returns a signer using secret.
func NewURLSigner(secret []byte) *URLSigner {
	return &URLSigner{secret: append([]byte(nil), secret...)}
}

func (s *URLSigner) sign(action Action, stream, expire, viewer string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(action))
	m.Write([]byte{'\n'})
	m.Write([]byte(stream))
	m.Write([]byte{'\n'})
	m.Write([]byte(expire))
	if viewer != "" {
		m.Write([]byte{'\n'})
		m.Write([]byte(viewer))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Query returns the query string "expire={unix}&sign={sig}" for action on stream.
func (s *URLSigner) Query(action Action, stream string, expire time.Time) string {
	e := strconv.FormatInt(expire.Unix(), 10)
	return "expire=" + e + "&sign=" + s.sign(action, stream, e, "")
}

// ViewerQuery is Query for a URL issued to viewer (a decimal uid):
// "expire={unix}&viewer={uid}&sign={sig}", the viewer under the signature.
// An empty viewer gives Query's form.
func (s *URLSigner) ViewerQuery(action Action, stream, viewer string, expire time.Time) string {
	if viewer == "" {
		return s.Query(action, stream, expire)
	}
	e := strconv.FormatInt(expire.Unix(), 10)
	return "expire=" + e + "&viewer=" + url.QueryEscape(viewer) + "&sign=" + s.sign(action, stream, e, viewer)
}

// Verify checks the expire, viewer (if present) and sign parameters of q for
// action on stream. A URL without viewer is checked as Query made it.
func (s *URLSigner) Verify(action Action, stream string, q url.Values, now time.Time) error {
	e, sig, viewer := q.Get("expire"), q.Get("sign"), q.Get("viewer")
	if e == "" || sig == "" {
		return errcode.Unauthorized("media URL is not signed: ask the gateway for a URL (publish/subscribe) or add ?token=")
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return errcode.Unauthorized("media URL expire is not a unix time")
	}
	if len(viewer) > maxViewerLen {
		return errcode.Unauthorized("media URL viewer is not a uid")
	}
	if !hmac.Equal([]byte(s.sign(action, stream, e, viewer)), []byte(sig)) {
		return errcode.Unauthorized("media URL signature mismatch (wrong stream, action, viewer or node)")
	}
	if now.Unix() >= exp {
		return errcode.KeyExpired(time.Unix(exp, 0))
	}
	return nil
}

// MediaGrant says who may use a media connection.
type MediaGrant struct {
	AppID, Channel string
	// UID is the stream's publisher uid.
	UID string
	// Viewer is the uid that plays: named by a play token, or by the viewer
	// parameter of a signed play URL (ViewerQuery); "" when unknown.
	Viewer string
	// Wildcard (publish only): the credential names no uid — a uid-0 token
	// (tokens.md: uid 0 matches any uid) or a development app's appId key —
	// so it does not show that the client is UID. Each door decides what such
	// a client may publish (RTMP: nothing; WHIP: only as a uid that joined the
	// channel), and it never takes over a current publisher (media.PublishOptions).
	Wildcard bool
	// Signed: a signed media URL let the connection in (the gateway issued it
	// to a member); otherwise a token or a development app's appId did.
	Signed bool
	// Until is when this access ends: the signed URL's expire, or the
	// token's end as Admit computes it. Zero: no end of its own (a
	// development app's appId).
	Until time.Time
	// Hold, when set, registers the session this grant let in with the
	// node's admission registry (internal/admission), which ends it when its
	// principal's access ends. Adapters call it through Register.
	Hold func(end func(reason error)) (release func())
	// Enter, set by the admission seam on a publish grant, makes the
	// publisher a publishing member of its channel by door's rule
	// (internal/admission.Members). Adapters call it through EnterChannel.
	Enter func(ctx context.Context, door Door, session string, kicked func(reason error)) (leave func(published bool), err error)
}

// Door names the protocol a media connection came in by: the publish rule
// of the channel (MediaGrant.Enter) differs between them.
type Door string

// Media doors that publish.
const (
	DoorRTMP Door = "rtmp"
	DoorWHIP Door = "whip"
)

// EnterChannel makes the publisher this grant let in a publishing member of
// its channel, as door's rule says (a push that joins its channel itself,
// or one that publishes for the member the gateway made); it returns a
// catalogue error to refuse. session names the door's session (it may be
// ""). kicked, when not nil, is called at most once, on any goroutine and
// possibly under the channel model's lock, when the member goes (the
// adapter must only hand it off). Call leave when the session ends; its
// published says whether media reached the hub. Without a seam (Enter nil:
// media only, no channel) it lets every credential that names a uid
// publish, and refuses one that names none (Wildcard).
func (g MediaGrant) EnterChannel(ctx context.Context, door Door, session string, kicked func(reason error)) (leave func(published bool), err error) {
	if g.Enter == nil {
		if g.Wildcard {
			return nil, errcode.PublishNeedsUID(fmt.Sprintf("a token without a uid (uid 0) cannot publish over %s on this server: use a token built for uid %s",
				strings.ToUpper(string(door)), g.UID))
		}
		return func(bool) {}, nil
	}
	return g.Enter(ctx, door, session, kicked)
}

// Register registers the session this grant let in: end is called at most
// once, on another goroutine, when the principal's access ends (it left
// the channel or was kicked or banned, or Until passed without renewal);
// the adapter must then close the session with that reason. Call release
// when the session ends on its own. Without a registry (Hold nil) it does
// nothing.
func (g MediaGrant) Register(end func(reason error)) (release func()) {
	if g.Hold == nil {
		return func() {}
	}
	return g.Hold(end)
}
