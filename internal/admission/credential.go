package admission

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// Credential is what a principal presented to be let in: a verified
// AccessToken, or (NoToken) the appId of a development app standing in for
// one (store.AppSettings.AllowNoToken).
type Credential struct {
	NoToken bool
	Grant   token.Grant // the verified token; zero when NoToken
}

// Admit is minirtc's one media permission rule for a credential: may its
// holder do action (publish or play) in the app now, and until when? A zero
// until means no end of the credential's own. Every door applies it: the
// gateway's publish (before it hands out a push URL), RTMP/FLV with
// ?token=, WHIP and WHEP (through MediaAuthorizer).
//
//   - play: any verified credential for the channel; until the token's join
//     privilege ends.
//   - publish: a token must carry the publish privileges, whatever the app
//     settings (a subscriber-role token never publishes: 433 "no authorized:
//     token lacks publish privilege"); until the earlier of the join and
//     publish privileges' ends. The appId of a development app publishes
//     unless the app enforces publisher tokens (then only a token can).
//
// It says nothing about the channel (role, membership, a stream announced
// with publish, who may replace a live publisher): those rules belong to the
// channel model and are checked after this one. A signed media URL carries
// the outcome of this rule from when the gateway issued it.
func Admit(app store.AppSettings, cred Credential, action token.Action, now time.Time) (until time.Time, err error) {
	if cred.NoToken {
		if action == token.ActionPublish && app.EnforcePublisherToken {
			return time.Time{}, errcode.NoPublishPrivilege()
		}
		return time.Time{}, nil
	}
	g := cred.Grant
	if !g.Expires.IsZero() && !now.Before(g.Expires) {
		return time.Time{}, errcode.KeyExpired(g.Expires)
	}
	if action != token.ActionPublish {
		return g.Expires, nil
	}
	if !g.CanPublish(now) {
		return time.Time{}, errcode.NoPublishPrivilege()
	}
	until = g.Expires
	if p := g.PublishExpires; !p.IsZero() && (until.IsZero() || p.Before(until)) {
		until = p
	}
	return until, nil
}

// MediaAuthorizer decides whether an RTMP/FLV/WebRTC connection may publish
// or play a stream. It is safe for concurrent use.
type MediaAuthorizer struct {
	Signer *token.URLSigner
	Apps   interface {
		App(ctx context.Context, id string) (store.App, error)
	}
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

func (a *MediaAuthorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Authorize checks q (expire+sign, or token) for action on stream.
func (a *MediaAuthorizer) Authorize(ctx context.Context, action token.Action, stream string, q url.Values) (token.MediaGrant, error) {
	appID, channel, uid, err := token.ParseStreamName(stream)
	if err != nil {
		return token.MediaGrant{}, errcode.NotFound(err.Error())
	}
	g := token.MediaGrant{AppID: appID, Channel: channel, UID: uid}
	app, err := a.Apps.App(ctx, appID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !app.Enabled) {
		return token.MediaGrant{}, errcode.InvalidVendorKey("app " + appID + " is unknown or disabled")
	}
	if err != nil {
		if e, ok := errcode.As(err); ok { // e.g. cluster unavailable: the store is unreachable
			return token.MediaGrant{}, e
		}
		return token.MediaGrant{}, errcode.Internal(err)
	}
	now := a.now()
	tok := q.Get("token")
	if tok == "" {
		if err := a.Signer.Verify(action, stream, q, now); err != nil {
			return token.MediaGrant{}, err
		}
		if action == token.ActionPlay {
			g.Viewer = q.Get("viewer")
		}
		exp, _ := strconv.ParseInt(q.Get("expire"), 10, 64) // Verify parsed it
		g.Signed, g.Until = true, time.Unix(exp, 0)
		return g, nil
	}
	if tok == appID && app.Settings.AllowNoToken {
		// A development app: the appId stands in for a token, as it does
		// for a join (the web SDK sends it as the WHIP/WHEP bearer).
		if _, err := Admit(app.Settings, Credential{NoToken: true}, action, now); err != nil {
			return token.MediaGrant{}, err
		}
		g.Wildcard = action == token.ActionPublish
		if action == token.ActionPlay {
			g.Viewer = q.Get("uid")
		}
		return g, nil
	}
	if action == token.ActionPlay {
		// Any valid token for the channel may play; its uid is the viewer's
		// (publish checks the token against uid, below).
		var claimUID string
		t, err := token.Parse(tok)
		if err != nil {
			return token.MediaGrant{}, errcode.MalformedToken().WithCause(err)
		}
		if rtc, ok := t.RTC(); ok && !token.IsWildcardUID(rtc.UID) {
			claimUID = rtc.UID
		} else {
			// A 006 token carries only a CRC of its uid: a viewer with a
			// uid-bound 006 token names its uid in the URL (&uid=). So does
			// the holder of a token for any uid (the web SDK always does).
			claimUID = q.Get("uid")
		}
		grant, err := t.Verify(token.Claims{AppID: appID, AppCert: app.Certificate, Channel: channel, UID: claimUID}, now)
		if err != nil {
			return token.MediaGrant{}, err
		}
		if g.Until, err = Admit(app.Settings, Credential{Grant: grant}, action, now); err != nil {
			return token.MediaGrant{}, err
		}
		g.Viewer = grant.UID
		if token.IsWildcardUID(g.Viewer) {
			g.Viewer = ""
			if n, err := strconv.ParseUint(claimUID, 10, 32); err == nil && n > 0 {
				g.Viewer = claimUID
			}
		}
		return g, nil
	}
	grant, err := token.Check(tok, token.Claims{AppID: appID, AppCert: app.Certificate, Channel: channel, UID: uid}, now)
	if err != nil {
		return token.MediaGrant{}, err
	}
	if g.Until, err = Admit(app.Settings, Credential{Grant: grant}, action, now); err != nil {
		return token.MediaGrant{}, err
	}
	g.Wildcard = token.IsWildcardUID(grant.UID)
	return g, nil
}
