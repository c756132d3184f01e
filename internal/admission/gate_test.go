package admission

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/channel/fakeclock"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/token"
)

// fixedAuth grants every request what grant says (the credential check is
// MediaAuthorizer's, tested in credential_test.go).
type fixedAuth struct{ grant token.MediaGrant }

func (a *fixedAuth) Authorize(context.Context, token.Action, string, url.Values) (token.MediaGrant, error) {
	return a.grant, nil
}

type nopEndpoint struct{}

func (nopEndpoint) Notify(channel.Event) {}

type fixture struct {
	t    *testing.T
	clk  *fakeclock.Clock
	mgr  *channel.Manager
	auth *fixedAuth
	gate *Gate
}

func newFixture(t *testing.T, grace time.Duration) *fixture {
	t.Helper()
	clk := fakeclock.New(time.Unix(1_800_000_000, 0))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr := channel.NewManager(channel.Config{Clock: clk, MediaStartTimeout: -1}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = mgr.Run(ctx)
	}()
	auth := &fixedAuth{}
	g, err := New(Config{RejoinGrace: grace}, auth, mgr, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Close()
		cancel()
		<-done
	})
	return &fixture{t: t, clk: clk, mgr: mgr, auth: auth, gate: g}
}

// join makes uid a member of "room" with endpoint ep.
func (f *fixture) join(uid uint32, ep channel.Endpoint) channel.Ref {
	f.t.Helper()
	if _, err := f.mgr.Join(channel.JoinRequest{App: "app", Channel: "room", UID: uid, Endpoint: ep}); err != nil {
		f.t.Fatal(err)
	}
	return channel.Ref{App: "app", Channel: "room", UID: uid, Endpoint: ep}
}

// session is a registered media session: ended receives its end reason.
type session struct {
	ended   chan error
	release func()
}

// open admits a play of uid 42's stream by viewer with the given credential
// kind and deadline, and registers it.
func (f *fixture) open(viewer string, signed bool, until time.Time) (*session, error) {
	f.auth.grant = token.MediaGrant{AppID: "app", Channel: "room", UID: "42", Viewer: viewer, Signed: signed, Until: until}
	g, err := f.gate.Authorize(context.Background(), token.ActionPlay, "stream", nil)
	if err != nil {
		return nil, err
	}
	s := &session{ended: make(chan error, 1)}
	s.release = g.Register(func(reason error) { s.ended <- reason })
	return s, nil
}

func (f *fixture) mustOpen(viewer string, signed bool, until time.Time) *session {
	f.t.Helper()
	s, err := f.open(viewer, signed, until)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// waitEnded waits for the session's end (channel events arrive on the
// Manager's Run goroutine) and returns its reason.
func (s *session) waitEnded(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.ended:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("session not ended")
		return nil
	}
}

func (s *session) stillOpen(t *testing.T) {
	t.Helper()
	select {
	case err := <-s.ended:
		t.Fatalf("session ended: %v", err)
	default:
	}
}

// TestDeadlineAndRenew: a session ends when its deadline passes (401
// dynamic key expired); Renew for its principal and action pushes the
// deadline out, Renew for another action or principal does not.
func TestDeadlineAndRenew(t *testing.T) {
	f := newFixture(t, 0)
	start := f.clk.Now()
	s := f.mustOpen("7", false, start.Add(10*time.Second))
	other := f.mustOpen("8", false, start.Add(10*time.Second))
	f.clk.Advance(5 * time.Second)
	f.gate.Renew("app", "room", "7", token.ActionPlay, start.Add(30*time.Second))
	f.gate.Renew("app", "room", "7", token.ActionPublish, start.Add(60*time.Second))
	f.gate.Renew("app", "room", "7", token.ActionPlay, start.Add(20*time.Second)) // earlier: ignored
	f.clk.Advance(6 * time.Second)
	s.stillOpen(t)
	if err := other.waitEnded(t); !errors.Is(err, errcode.KeyExpired(start.Add(10*time.Second))) {
		t.Fatalf("other session ended with %v, want its key expired", err)
	}
	f.clk.Advance(19 * time.Second)
	if e, ok := errcode.As(s.waitEnded(t)); !ok || e.Code != errcode.CodeVendorKey || e.Reason != errcode.ReasonKeyExpired {
		t.Fatalf("renewed session ended with %v", e)
	}
	s.release()
	s.release() // idempotent
}

// TestReleaseStopsWatching: a released session is never ended.
func TestReleaseStopsWatching(t *testing.T) {
	f := newFixture(t, 0)
	ref := f.join(7, nopEndpoint{})
	s := f.mustOpen("7", false, f.clk.Now().Add(time.Second))
	s.release()
	f.clk.Advance(time.Minute)
	if err := f.mgr.Leave(ref, errcode.LeaveNormal); err != nil {
		t.Fatal(err)
	}
	// A second session of the same member proves the leave was observed.
	f.join(7, nopEndpoint{})
	s2 := f.mustOpen("7", false, time.Time{})
	if err := f.mgr.Kick("app", "room", 7, "test"); err != nil {
		t.Fatal(err)
	}
	s2.waitEnded(t)
	s.stillOpen(t)
}

// TestUIDConflictSparesTheTakeover: the same uid joining from elsewhere
// ends the sessions of the member it replaces, not those opened since (the
// newcomer's, e.g. a WHIP publish that took the uid over).
func TestUIDConflictSparesTheTakeover(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.join(7, nopEndpoint{})
	old := f.mustOpen("7", true, time.Time{})
	f.join(7, nopEndpoint{}) // another endpoint: newest wins
	f.clk.Advance(time.Millisecond)
	taker := f.mustOpen("7", true, time.Time{})
	if e, ok := errcode.As(old.waitEnded(t)); !ok || e.Reason != errcode.ReasonUIDConflict {
		t.Fatalf("old session ended with %v, want uid conflict", e)
	}
	taker.stillOpen(t)
}

// TestSignedURLMembership: a signed play URL lets new connections in while
// its viewer is a member; after a leave only during the rejoin grace, whose
// sessions end with it unless the viewer rejoined; after a kick or a ban
// not at all. A token play does not need membership, but a ban refuses it.
func TestSignedURLMembership(t *testing.T) {
	const grace = 10 * time.Second
	f := newFixture(t, grace)
	if _, err := f.open("7", true, time.Time{}); !isRefused(err) {
		t.Fatalf("signed URL of a uid that never joined: %v", err)
	}
	token7 := f.mustOpen("7", false, time.Time{}) // a token: no membership needed
	ref := f.join(7, nopEndpoint{})
	s := f.mustOpen("7", true, time.Time{})
	if err := f.mgr.Leave(ref, errcode.LeaveNormal); err != nil {
		t.Fatal(err)
	}
	s.waitEnded(t)
	token7.waitEnded(t) // the member's token sessions end with it too

	// Within the grace: a player may come back, and goes at its end.
	back := f.mustOpen("7", true, time.Time{})
	f.clk.Advance(grace)
	if e, ok := errcode.As(back.waitEnded(t)); !ok || e.Code != errcode.CodeRefused {
		t.Fatalf("player let in during the grace ended with %v", e)
	}
	if _, err := f.open("7", true, time.Time{}); !isRefused(err) {
		t.Fatalf("signed URL after the grace: %v", err)
	}

	// A rejoin within the grace keeps the player that came back.
	ref = f.join(7, nopEndpoint{})
	if err := f.mgr.Leave(ref, errcode.LeaveNormal); err != nil {
		t.Fatal(err)
	}
	waitQuiet(f) // the leave was observed
	f.clk.Advance(time.Millisecond)
	back = f.mustOpen("7", true, time.Time{})
	f.join(7, nopEndpoint{})
	f.clk.Advance(grace)
	waitQuiet(f)
	back.stillOpen(t)

	// A kick gives no grace.
	if err := f.mgr.Kick("app", "room", 7, "test"); err != nil {
		t.Fatal(err)
	}
	back.waitEnded(t)
	if _, err := f.open("7", true, time.Time{}); !isRefused(err) {
		t.Fatalf("signed URL after a kick: %v", err)
	}

	// A ban refuses even a token play.
	f.mgr.Ban(channel.BanRule{App: "app", Channel: "room", UID: 7, Until: f.clk.Now().Add(time.Hour)})
	_, err := f.open("7", false, time.Time{})
	if e, ok := errcode.As(err); !ok || e.Reason != errcode.ReasonBanned {
		t.Fatalf("token play of a banned uid: %v", err)
	}
}

func isRefused(err error) bool {
	e, ok := errcode.As(err)
	return ok && e.Code == errcode.CodeRefused && e.Reason == errcode.ReasonNoAuthorized
}

// waitQuiet lets the Manager's Run goroutine deliver what is queued: a
// marker member's join and kick pass through the same queue.
func waitQuiet(f *fixture) {
	f.t.Helper()
	f.join(99, nopEndpoint{})
	marker := f.mustOpen("99", false, time.Time{})
	if err := f.mgr.Kick("app", "room", 99, "marker"); err != nil {
		f.t.Fatal(err)
	}
	marker.waitEnded(f.t)
}

// openFrom admits action on uid 42's stream from addr (viewer for a play)
// and registers it.
func (f *fixture) openFrom(action token.Action, viewer, addr string) (*session, error) {
	f.auth.grant = token.MediaGrant{AppID: "app", Channel: "room", UID: "42", Viewer: viewer}
	g, err := f.gate.Authorize(token.WithRemoteAddr(context.Background(), addr), action, "stream", nil)
	if err != nil {
		return nil, err
	}
	s := &session{ended: make(chan error, 1)}
	s.release = g.Register(func(reason error) { s.ended <- reason })
	return s, nil
}

// TestRuleEndsSessionsOfNonMembers: a ban rule ends the media sessions it
// covers whether or not their principal is a member (a token play or
// push needs no membership), by uid, by IP address, and for a publish
// rule only the publishing ones; new ones are refused while it holds.
func TestRuleEndsSessionsOfNonMembers(t *testing.T) {
	f := newFixture(t, 0)
	until := f.clk.Now().Add(time.Hour)
	mustOpen := func(action token.Action, viewer, addr string) *session {
		t.Helper()
		s, err := f.openFrom(action, viewer, addr)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	banned := func(err error) bool {
		e, ok := errcode.As(err)
		return ok && e.Reason == errcode.ReasonBanned && e.Code == errcode.CodeRefused
	}
	v7 := mustOpen(token.ActionPlay, "7", "192.0.2.1:5000")
	v9 := mustOpen(token.ActionPlay, "9", "192.0.2.9:5000")
	f.mgr.Ban(channel.BanRule{ID: 1, App: "app", Channel: "room", UID: 7, Until: until})
	if err := v7.waitEnded(t); !banned(err) {
		t.Fatalf("uid rule ended a non-member's play with %v", err)
	}
	v9.stillOpen(t)
	if _, err := f.openFrom(token.ActionPlay, "7", "192.0.2.1:5001"); !banned(err) {
		t.Fatalf("play under a uid rule: %v", err)
	}
	f.mgr.UnbanID(1)
	mustOpen(token.ActionPlay, "7", "192.0.2.1:5002") // lifted at once

	// By address: an unknown viewer (no uid) from that address too.
	anon := mustOpen(token.ActionPlay, "", "[::ffff:192.0.2.9]:6000")
	f.mgr.Ban(channel.BanRule{ID: 2, App: "app", IP: "192.0.2.9", Until: until})
	if err := v9.waitEnded(t); !banned(err) {
		t.Fatalf("IP rule: %v", err)
	}
	if err := anon.waitEnded(t); !banned(err) {
		t.Fatalf("IP rule, unknown viewer: %v", err)
	}
	if _, err := f.openFrom(token.ActionPlay, "11", "192.0.2.9:7000"); !banned(err) {
		t.Fatalf("play from a banned address: %v", err)
	}
	mustOpen(token.ActionPlay, "11", "192.0.2.10:7000")
	f.mgr.UnbanID(2)

	// A publish rule ends the publisher's push, not its plays.
	pub := mustOpen(token.ActionPublish, "", "192.0.2.42:1935")
	play := mustOpen(token.ActionPlay, "42", "192.0.2.42:8080")
	f.mgr.Ban(channel.BanRule{ID: 3, App: "app", UID: 42, Privileges: channel.PrivPublishAudio, Until: until})
	if err := pub.waitEnded(t); !banned(err) {
		t.Fatalf("publish rule: %v", err)
	}
	play.stillOpen(t)
	if _, err := f.openFrom(token.ActionPublish, "", "192.0.2.42:1936"); !banned(err) {
		t.Fatalf("publish under a publish rule: %v", err)
	}
	// Rules end by themselves.
	f.clk.Advance(time.Hour)
	mustOpen(token.ActionPublish, "", "192.0.2.42:1937")
}
