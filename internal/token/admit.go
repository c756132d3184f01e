package token

import (
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
)

// Credential is what a principal presented to be let in: a verified
// AccessToken, or (NoToken) the appId of a development app standing in for
// one (store.AppSettings.AllowNoToken).
type Credential struct {
	NoToken bool
	Grant   Grant // the verified token; zero when NoToken
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
func Admit(app store.AppSettings, cred Credential, action Action, now time.Time) (until time.Time, err error) {
	if cred.NoToken {
		if action == ActionPublish && app.EnforcePublisherToken {
			return time.Time{}, errcode.NoPublishPrivilege()
		}
		return time.Time{}, nil
	}
	g := cred.Grant
	if !g.Expires.IsZero() && !now.Before(g.Expires) {
		return time.Time{}, errcode.KeyExpired(g.Expires)
	}
	if action != ActionPublish {
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
