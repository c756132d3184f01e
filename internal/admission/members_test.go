package admission

import (
	"context"
	"strings"
	"testing"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/token"
)

// TestEnterRTMP is the channel's publish rule for RTMP behind the seam: a
// token push for a uid that is not in the channel joins it for as long as
// it lasts (within the member limit); a uid-0 token never pushes; a signed
// URL or a member's token needs the member's publish; a play grant has
// nothing to enter.
func TestEnterRTMP(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		grant    token.MediaGrant
		members  []uint32 // in the channel before
		maxUsers int
		code     int    // 0: let in
		reason   string // errcode reason when refused
		joins    bool   // the push made its uid a member
	}{
		{name: "token-joins", grant: token.MediaGrant{UID: "7"}, joins: true},
		{name: "token-full-channel", grant: token.MediaGrant{UID: "7"}, members: []uint32{1}, maxUsers: 1,
			code: errcode.CodeRefused, reason: errcode.ReasonTooManyUsers},
		{name: "wildcard", grant: token.MediaGrant{UID: "7", Wildcard: true}, code: errcode.CodeRefused, reason: errcode.ReasonNoAuthorized},
		{name: "signed-not-member", grant: token.MediaGrant{UID: "7", Signed: true}, code: errcode.CodeRefused, reason: errcode.ReasonNoAuthorized},
		{name: "signed-member-not-published", grant: token.MediaGrant{UID: "7", Signed: true}, members: []uint32{7},
			code: errcode.CodeRefused, reason: errcode.ReasonNoAuthorized},
		{name: "member-not-published", grant: token.MediaGrant{UID: "7"}, members: []uint32{7}, code: errcode.CodeRefused, reason: errcode.ReasonNoAuthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 0)
			f.gate.members.MaxUsers = func(string) int { return c.maxUsers }
			for _, u := range c.members {
				f.join(u, nopEndpoint{})
			}
			c.grant.AppID, c.grant.Channel = "app", "room"
			f.auth.grant = c.grant
			// Refused by the admission (a signed URL of no member) or by the
			// channel's rule when entering.
			var leave func(bool)
			g, err := f.gate.Authorize(ctx, token.ActionPublish, "", nil)
			if err == nil {
				leave, err = g.EnterChannel(ctx, token.DoorRTMP, "", nil)
			}
			if c.code != 0 {
				if e, ok := errcode.As(err); !ok || e.Code != c.code || e.Reason != c.reason {
					t.Fatalf("got %v, want %d %s", err, c.code, c.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mi, ok := f.mgr.Member("app", "room", 7)
			if ok != c.joins || (ok && (!strings.HasPrefix(mi.Session, toolSessionPrefix) || !mi.Publishing)) {
				t.Fatalf("member %+v %v, want joined %v and publishing", mi, ok, c.joins)
			}
			leave(true)
			if _, ok := f.mgr.Member("app", "room", 7); ok {
				t.Fatal("the push's membership outlived it")
			}
		})
	}
	f := newFixture(t, 0)
	f.auth.grant = token.MediaGrant{AppID: "app", Channel: "room", UID: "7"}
	g, err := f.gate.Authorize(ctx, token.ActionPlay, "", nil)
	if err != nil || g.Enter != nil {
		t.Fatalf("play grant %+v %v: nothing to enter", g, err)
	}
}
