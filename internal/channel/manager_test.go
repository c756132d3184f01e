package channel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/channel/fakeclock"
	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/errcode"
)

type rec struct {
	mu  sync.Mutex
	evs []channel.Event
}

func (r *rec) Notify(ev channel.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

// take returns and clears the recorded events as "kind uid" strings.
func (r *rec) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.evs {
		s := fmt.Sprintf("%s %d", ev.Kind, ev.UID)
		if ev.Kind == channel.EventMuteChanged {
			s += fmt.Sprintf(" %s=%v", ev.Media, ev.Muted)
		}
		if ev.Kind == channel.EventKicked {
			s += " " + ev.Err.Message()
		}
		out = append(out, s)
	}
	r.evs = nil
	return out
}

const app, room = "0123456789abcdef0123456789abcdef", "room"

func newManager(t *testing.T) (*channel.Manager, *fakeclock.Clock) {
	t.Helper()
	clk := fakeclock.New(time.Unix(1_800_000_000, 0))
	m := channel.NewManager(channel.Config{Clock: clk}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return m, clk
}

func join(t *testing.T, m *channel.Manager, uid uint32, role channel.Role, known ...uint32) (*rec, channel.Ref, channel.JoinResult) {
	t.Helper()
	r := &rec{}
	res, err := m.Join(channel.JoinRequest{App: app, Channel: room, UID: uid, Role: role, Endpoint: r, KnownSpeakers: known})
	if err != nil {
		t.Fatalf("join %d: %v", uid, err)
	}
	return r, channel.Ref{App: app, Channel: room, UID: uid, Endpoint: r}, res
}

func code(err error) int {
	if e, ok := errcode.As(err); ok {
		return e.Code
	}
	return 0
}

func TestPublishFlow(t *testing.T) {
	m, _ := newManager(t)
	ra, a, _ := join(t, m, 111, channel.RoleBroadcaster)
	rb, b, _ := join(t, m, 222, channel.RoleAudience)

	if _, _, err := m.Publish(b, "u"); code(err) != 433 {
		t.Fatalf("audience publish: %v", err)
	}
	if err := m.MayPublish(app, room, 111); code(err) != 433 {
		t.Fatalf("may publish before publish: %v", err)
	}
	url, already, err := m.Publish(a, "rtmp://x/a")
	if err != nil || already || url != "rtmp://x/a" {
		t.Fatalf("publish: %q %v %v", url, already, err)
	}
	url, already, _ = m.Publish(a, "rtmp://x/other")
	if !already || url != "rtmp://x/a" {
		t.Fatalf("republish: %q %v", url, already)
	}
	if err := m.MayPublish(app, room, 111); err != nil {
		t.Fatal(err)
	}
	if got := rb.take(); !slices.Equal(got, []string{"stream-started 111"}) {
		t.Fatalf("b got %v", got)
	}
	if got := ra.take(); len(got) != 0 {
		t.Fatalf("a got %v", got)
	}
	if _, err := m.Subscribe(b, 333); code(err) != 432 {
		t.Fatalf("subscribe nobody: %v", err)
	}
	if _, err := m.Subscribe(a, 111); code(err) != 432 {
		t.Fatalf("subscribe self: %v", err)
	}
	if _, err := m.Subscribe(b, 111); err != nil {
		t.Fatal(err)
	}
	if err := m.SetRotation(app, room, 111, -90); err != nil {
		t.Fatal(err)
	}
	if mi, _ := m.Member(app, room, 111); mi.Rotation != 270 {
		t.Fatalf("rotation %d", mi.Rotation)
	}
	if got := rb.take(); !slices.Equal(got, []string{"rotation-changed 111"}) {
		t.Fatalf("b got %v", got)
	}
	if err := m.MuteLocal(a, true, channel.MediaAudio, channel.MediaVideo); err != nil {
		t.Fatal(err)
	}
	if got := rb.take(); !slices.Equal(got, []string{"mute-changed 111 audio=true", "mute-changed 111 video=true"}) {
		t.Fatalf("b got %v", got)
	}
	if err := m.SetRole(a, channel.RoleAudience); err != nil {
		t.Fatal(err)
	}
	if got := rb.take(); !slices.Equal(got, []string{"stream-stopped 111"}) {
		t.Fatalf("b got %v", got)
	}
	if mi, _ := m.Member(app, room, 222); len(mi.Subscriptions) != 0 {
		t.Fatalf("subscription survived the stream: %v", mi.Subscriptions)
	}
}

func TestJoinSnapshotAndKnownSpeakers(t *testing.T) {
	m, _ := newManager(t)
	_, a, _ := join(t, m, 1, channel.RoleBroadcaster)
	_, c, _ := join(t, m, 3, channel.RoleBroadcaster)
	m.Publish(a, "a")
	m.Publish(c, "c")
	m.MuteLocal(c, true, channel.MediaVideo)
	_, _, res := join(t, m, 5, channel.RoleAudience, 5, 1, 4, 4, 9)
	if len(res.Publishers) != 2 || res.Publishers[0].UID != 1 || res.Publishers[1].UID != 3 || !res.Publishers[1].VideoMuted {
		t.Fatalf("publishers %+v", res.Publishers)
	}
	if !slices.Equal(res.Departed, []uint32{4, 9}) {
		t.Fatalf("departed %v", res.Departed)
	}
}

func TestGraceResumeAndExpiry(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rejoin   bool
		role     channel.Role
		wantB    []string
		wantLeft bool
	}{
		{"resume as broadcaster", true, channel.RoleBroadcaster, nil, false},
		{"resume as audience", true, channel.RoleAudience, []string{"stream-stopped 1"}, false},
		{"grace expires", false, 0, []string{"stream-stopped 1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, clk := newManager(t)
			_, a, _ := join(t, m, 1, channel.RoleBroadcaster)
			rb, _, _ := join(t, m, 2, channel.RoleAudience)
			m.Publish(a, "a")
			m.MediaStarted(app, room, 1)
			rb.take()
			if err := m.Detach(a, errcode.LeaveTimeout, 15*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := m.Detach(a, errcode.LeaveTimeout, time.Second); err == nil {
				t.Fatal("second detach with the old endpoint succeeded")
			}
			clk.Advance(10 * time.Second)
			if mi, ok := m.Member(app, room, 1); !ok || !mi.Detached || !mi.Publishing {
				t.Fatalf("member during grace: %+v %v", mi, ok)
			}
			if tc.rejoin {
				_, a2, res := join(t, m, 1, tc.role)
				if !res.Resumed || res.Replaced {
					t.Fatalf("result %+v", res)
				}
				url, already, err := m.Publish(a2, "new")
				if tc.role == channel.RoleBroadcaster && (err != nil || !already || url != "a") {
					t.Fatalf("publish after resume: %q %v %v", url, already, err)
				}
			}
			clk.Advance(time.Minute)
			_, ok := m.Member(app, room, 1)
			if ok == tc.wantLeft {
				t.Fatalf("member present = %v", ok)
			}
			if got := rb.take(); !slices.Equal(got, tc.wantB) {
				t.Fatalf("b got %v, want %v", got, tc.wantB)
			}
		})
	}
}

func TestUIDConflictNewestWins(t *testing.T) {
	m, _ := newManager(t)
	old, a, _ := join(t, m, 1, channel.RoleBroadcaster)
	rb, _, _ := join(t, m, 2, channel.RoleAudience)
	m.Publish(a, "a")
	rb.take()
	_, a2, res := join(t, m, 1, channel.RoleBroadcaster)
	if !res.Replaced {
		t.Fatalf("%+v", res)
	}
	if got := old.take(); !slices.Equal(got, []string{"kicked 1 uid conflict: the same uid joined from another connection"}) {
		t.Fatalf("old got %v", got)
	}
	if err := m.Leave(a, errcode.LeaveNormal); err == nil {
		t.Fatal("old endpoint could leave for the new one")
	}
	if _, already, _ := m.Publish(a2, "b"); !already {
		t.Fatal("publishing state not taken over")
	}
	if got := rb.take(); len(got) != 0 {
		t.Fatalf("b got %v", got)
	}
}

func TestMediaSeam(t *testing.T) {
	m, clk := newManager(t)
	ra, a, _ := join(t, m, 1, channel.RoleBroadcaster)
	rb, _, _ := join(t, m, 2, channel.RoleAudience)
	var (
		mu      sync.Mutex
		stopped []string
	)
	m.Observe(func(ev channel.Event) {
		if ev.Kind == channel.EventStreamStopped {
			mu.Lock()
			stopped = append(stopped, fmt.Sprintf("%d %s", ev.UID, ev.StopReason))
			mu.Unlock()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	if err := m.MediaStarted(app, room, 1); code(err) != 432 {
		t.Fatalf("media before publish: %v", err)
	}
	m.Publish(a, "a")
	clk.Advance(29 * time.Second)
	m.MediaStarted(app, room, 1)
	clk.Advance(time.Hour)
	if mi, _ := m.Member(app, room, 1); !mi.Publishing || !mi.MediaLive {
		t.Fatalf("%+v", mi)
	}
	m.MediaPaused(app, room, 1)
	m.MediaResumed(app, room, 1)
	m.MuteLocal(a, true, channel.MediaVideo)
	m.MediaPaused(app, room, 1)
	m.MediaResumed(app, room, 1)
	m.MediaStopped(app, room, 1) // no clock advance: the stream ends at once
	want := []string{"stream-started 1", "mute-changed 1 video=true", "mute-changed 1 video=false",
		"mute-changed 1 video=true", "stream-stopped 1"}
	if got := rb.take(); !slices.Equal(got, want) {
		t.Fatalf("b got %v, want %v", got, want)
	}
	if got := ra.take(); len(got) != 0 {
		t.Fatalf("a got %v", got)
	}
	// The pusher coming back later may push again: its stream is announced anew.
	if err := m.MayPublish(app, room, 1); err != nil {
		t.Fatalf("may publish after media ended: %v", err)
	}
	if got := rb.take(); !slices.Equal(got, []string{"stream-started 1"}) {
		t.Fatalf("b got %v after the pusher came back", got)
	}
	for i := 0; ; i++ {
		mu.Lock()
		got := slices.Clone(stopped)
		mu.Unlock()
		if slices.Equal(got, []string{"1 media-ended"}) {
			break
		}
		if i > 500 {
			t.Fatalf("observer saw %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMediaStopped: the media plane's MediaStopped (grace expired) removes the
// stream at once; the member stays, unpublished, and may publish again.
// Media that never started is left to the media start timeout.
func TestMediaStopped(t *testing.T) {
	tests := []struct {
		name    string
		steps   func(m *channel.Manager, a channel.Ref, clk *fakeclock.Clock) error // error of the last MediaStopped
		wantB   []string
		wantErr int
		publish bool // still publishing afterwards
	}{
		{
			name: "live stream stops at once",
			steps: func(m *channel.Manager, a channel.Ref, clk *fakeclock.Clock) error {
				m.Publish(a, "u")
				m.MediaStarted(app, room, 1)
				return m.MediaStopped(app, room, 1)
			},
			wantB: []string{"stream-started 1", "stream-stopped 1"},
		},
		{
			name: "paused stream stops at once",
			steps: func(m *channel.Manager, a channel.Ref, clk *fakeclock.Clock) error {
				m.Publish(a, "u")
				m.MediaStarted(app, room, 1)
				m.MediaPaused(app, room, 1)
				clk.Advance(time.Second)
				return m.MediaStopped(app, room, 1)
			},
			wantB: []string{"stream-started 1", "mute-changed 1 video=true", "stream-stopped 1"},
		},
		{
			name: "publish again after the stop",
			steps: func(m *channel.Manager, a channel.Ref, clk *fakeclock.Clock) error {
				m.Publish(a, "u")
				m.MediaStarted(app, room, 1)
				m.MediaStopped(app, room, 1)
				if _, already, err := m.Publish(a, "u2"); err != nil || already {
					return fmt.Errorf("publish again: %v already=%v", err, already)
				}
				if err := m.MediaStarted(app, room, 1); err != nil {
					return err
				}
				clk.Advance(time.Hour)
				return nil
			},
			wantB:   []string{"stream-started 1", "stream-stopped 1", "stream-started 1"},
			publish: true,
		},
		{
			name: "the pusher comes back after the stop: announced again",
			steps: func(m *channel.Manager, a channel.Ref, clk *fakeclock.Clock) error {
				m.Publish(a, "u")
				m.MediaStarted(app, room, 1)
				m.MediaStopped(app, room, 1)
				if err := m.MayPublish(app, room, 1); err != nil {
					return fmt.Errorf("returning pusher refused: %v", err)
				}
				if url, already, err := m.Publish(a, "other"); err != nil || !already || url != "u" {
					return fmt.Errorf("stream not restored with its URL: %q %v %v", url, already, err)
				}
				return m.MediaStarted(app, room, 1)
			},
			wantB:   []string{"stream-started 1", "stream-stopped 1", "stream-started 1"},
			publish: true,
		},
		{
			name: "unpublish after the stop: a returning pusher is refused",
			steps: func(m *channel.Manager, a channel.Ref, clk *fakeclock.Clock) error {
				m.Publish(a, "u")
				m.MediaStarted(app, room, 1)
				m.MediaStopped(app, room, 1)
				m.Unpublish(a)
				return m.MayPublish(app, room, 1)
			},
			wantB:   []string{"stream-started 1", "stream-stopped 1"},
			wantErr: 433,
		},
		{
			name: "media never started: no stop until the start timeout",
			steps: func(m *channel.Manager, a channel.Ref, clk *fakeclock.Clock) error {
				m.Publish(a, "u")
				err := m.MediaStopped(app, room, 1)
				clk.Advance(defaults.GatewayMediaStartTimeout - time.Second)
				return err
			},
			wantB:   []string{"stream-started 1"},
			publish: true,
		},
		{
			name: "not publishing",
			steps: func(m *channel.Manager, a channel.Ref, clk *fakeclock.Clock) error {
				m.Publish(a, "u")
				m.MediaStarted(app, room, 1)
				m.Unpublish(a)
				return m.MediaStopped(app, room, 1)
			},
			wantB:   []string{"stream-started 1", "stream-stopped 1"},
			wantErr: 432,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, clk := newManager(t)
			ra, a, _ := join(t, m, 1, channel.RoleBroadcaster)
			rb, _, _ := join(t, m, 2, channel.RoleAudience)
			err := tc.steps(m, a, clk)
			if code(err) != tc.wantErr {
				t.Fatalf("MediaStopped: %v, want code %d", err, tc.wantErr)
			}
			if got := rb.take(); !slices.Equal(got, tc.wantB) {
				t.Fatalf("b got %v, want %v", got, tc.wantB)
			}
			if got := ra.take(); len(got) != 0 {
				t.Fatalf("a got %v", got)
			}
			mi, ok := m.Member(app, room, 1)
			if !ok {
				t.Fatal("the publisher left the channel")
			}
			if mi.Publishing != tc.publish {
				t.Fatalf("publishing %v, want %v", mi.Publishing, tc.publish)
			}
		})
	}
}

func TestLimitsBansAccounts(t *testing.T) {
	m, clk := newManager(t)
	join(t, m, 1, channel.RoleAudience)
	_, err := m.Join(channel.JoinRequest{App: app, Channel: room, UID: 2, Endpoint: &rec{}, MaxUsers: 1})
	if e, _ := errcode.As(err); e == nil || e.Reason != errcode.ReasonTooManyUsers {
		t.Fatalf("capacity: %v", err)
	}
	// Taking over uid 1 is not a new user.
	if _, err := m.Join(channel.JoinRequest{App: app, Channel: room, UID: 1, Endpoint: &rec{}, MaxUsers: 1}); err != nil {
		t.Fatal(err)
	}
	acc := &rec{}
	res, err := m.Join(channel.JoinRequest{App: app, Channel: room, Account: "alice", Endpoint: acc})
	if err != nil || res.UID < 1<<31 {
		t.Fatalf("account: %+v %v", res, err)
	}
	res2, err := m.Join(channel.JoinRequest{App: app, Channel: room, Account: "alice", Endpoint: &rec{}})
	if err != nil || res2.UID != res.UID || !res2.Replaced {
		t.Fatalf("account rejoin: %+v %v", res2, err)
	}
	if _, err := m.Join(channel.JoinRequest{App: app, Channel: room, UID: res.UID, Endpoint: &rec{}}); code(err) != 433 {
		t.Fatalf("numeric uid over an account: %v", err)
	}
	if n := m.Ban(channel.BanRule{App: app, Channel: room, UID: 1, Until: clk.Now().Add(time.Minute)}); n != 1 {
		t.Fatalf("ban kicked %d", n)
	}
	_, err = m.Join(channel.JoinRequest{App: app, Channel: room, UID: 1, Endpoint: &rec{}})
	if e, _ := errcode.As(err); e == nil || e.Reason != errcode.ReasonBanned {
		t.Fatalf("banned join: %v", err)
	}
	clk.Advance(2 * time.Minute)
	if _, err := m.Join(channel.JoinRequest{App: app, Channel: room, UID: 1, Endpoint: &rec{}}); err != nil {
		t.Fatalf("after ban expiry: %v", err)
	}
	if err := m.Kick(app, room, 77, "x"); !errors.Is(err, errcode.NotFound("")) {
		t.Fatalf("kick unknown: %v", err)
	}
}

func TestChannelLifecycle(t *testing.T) {
	m, _ := newManager(t)
	_, a, _ := join(t, m, 1, channel.RoleAudience)
	_, b, _ := join(t, m, 2, channel.RoleAudience)
	if got := m.Channels(app); !slices.Equal(got, []string{room}) {
		t.Fatalf("%v", got)
	}
	m.Leave(a, errcode.LeaveNormal)
	m.Leave(b, errcode.LeaveNormal)
	if got := m.Channels(app); len(got) != 0 {
		t.Fatalf("channel not destroyed: %v", got)
	}
}

func TestCommunicationProfileLetsEveryonePublish(t *testing.T) {
	m, _ := newManager(t)
	r := &rec{}
	if _, err := m.Join(channel.JoinRequest{App: app, Channel: "c", UID: 1, Profile: channel.ProfileCommunication, Endpoint: r}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Publish(channel.Ref{App: app, Channel: "c", UID: 1, Endpoint: r}, "u"); err != nil {
		t.Fatal(err)
	}
}

// TestBanRulesByAddressAndPrivilege: rules match members by the address
// they joined from, publish rules stop streams and refuse publishing but
// keep the member, a rule with an ID replaces its previous version and is
// lifted by UnbanID, a rule already over applies once (kick only), and
// observers get EventRuleAdded.
func TestBanRulesByAddressAndPrivilege(t *testing.T) {
	m, clk := newManager(t)
	var mu sync.Mutex
	var added []channel.BanRule
	m.Observe(func(ev channel.Event) {
		if ev.Kind == channel.EventRuleAdded {
			mu.Lock()
			added = append(added, ev.Rule)
			mu.Unlock()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	until := clk.Now().Add(time.Hour)
	joinFrom := func(uid uint32, ip string) (channel.Ref, error) {
		r := &rec{}
		_, err := m.Join(channel.JoinRequest{App: app, Channel: room, UID: uid, Role: channel.RoleBroadcaster, Endpoint: r, RemoteIP: ip})
		return channel.Ref{App: app, Channel: room, UID: uid, Endpoint: r}, err
	}
	a, _ := joinFrom(1, "192.0.2.1")
	b, _ := joinFrom(2, "192.0.2.2")
	unknown, _ := joinFrom(3, "")
	for _, ref := range []channel.Ref{a, b, unknown} {
		if _, _, err := m.Publish(ref, "rtmp://x"); err != nil {
			t.Fatal(err)
		}
	}
	if mi, _ := m.Member(app, room, 1); mi.RemoteIP != "192.0.2.1" {
		t.Fatalf("member address: %+v", mi)
	}

	// A publish rule by address: the stream stops, the member stays.
	if n := m.Ban(channel.BanRule{ID: 10, App: app, IP: "192.0.2.1", Privileges: channel.PrivPublishVideo, Until: until}); n != 1 {
		t.Fatalf("publish rule hit %d members", n)
	}
	if mi, ok := m.Member(app, room, 1); !ok || mi.Publishing {
		t.Fatalf("after a publish rule: %+v %v", mi, ok)
	}
	if _, _, err := m.Publish(a, "rtmp://x"); code(err) != 433 {
		t.Fatalf("publish under a publish rule: %v", err)
	}
	if err := m.MayPublish(app, room, 1); code(err) != 433 {
		t.Fatalf("MayPublish under a publish rule: %v", err)
	}
	if mi, _ := m.Member(app, room, 2); !mi.Publishing {
		t.Fatal("a rule for another address stopped a stream")
	}
	if !m.UnbanID(10) || m.UnbanID(10) {
		t.Fatal("UnbanID")
	}
	if _, _, err := m.Publish(a, "rtmp://x"); err != nil {
		t.Fatalf("publish after the rule was lifted: %v", err)
	}

	// A join rule by address kicks; a member whose address is unknown is not matched.
	if n := m.Ban(channel.BanRule{ID: 11, App: app, IP: "192.0.2.2", Until: until}); n != 1 {
		t.Fatalf("join rule by address hit %d", n)
	}
	if _, ok := m.Member(app, room, 2); ok {
		t.Fatal("member at a banned address stayed")
	}
	if _, err := joinFrom(4, "192.0.2.2"); code(err) != 433 {
		t.Fatalf("join from a banned address: %v", err)
	}
	if _, err := joinFrom(4, "192.0.2.5"); err != nil {
		t.Fatalf("join from another address: %v", err)
	}
	if _, ok := m.Member(app, room, 3); !ok {
		t.Fatal("a member with no known address matched an IP rule")
	}
	if _, ok := m.BannedFrom(app, "elsewhere", 99, "192.0.2.2", channel.PrivJoin); !ok {
		t.Fatal("BannedFrom: an app-wide address rule")
	}
	// The same ID replaces the rule: now it names uid 3 only.
	m.Ban(channel.BanRule{ID: 11, App: app, UID: 3, Until: until})
	if _, ok := m.BannedFrom(app, room, 99, "192.0.2.2", channel.PrivJoin); ok {
		t.Fatal("the replaced rule still holds")
	}
	if _, ok := m.Member(app, room, 3); ok {
		t.Fatal("the replacing rule did not apply")
	}

	// A rule that is already over kicks and is not kept.
	m.Ban(channel.BanRule{ID: 12, App: app, UID: 4, Until: clk.Now()})
	if _, ok := m.Member(app, room, 4); ok {
		t.Fatal("kick-only rule kept the member")
	}
	if _, err := joinFrom(4, "192.0.2.5"); err != nil {
		t.Fatalf("rejoin after a kick-only rule: %v", err)
	}
	waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(added) == 4 })
	mu.Lock()
	defer mu.Unlock()
	if added[0].ID != 10 || added[3].ID != 12 {
		t.Fatalf("rule events: %+v", added)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 500 {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMediaResumedStartsUnseenStream: the media plane may report a resume
// for a stream whose start the channel never saw (in a cluster: the stream
// was a relay from a node that died, and the member's push to this node
// took it over). For the channel that is the start: the media start timeout
// is cancelled, the stream stays live and EventMediaStarted is emitted once.
func TestMediaResumedStartsUnseenStream(t *testing.T) {
	m, clk := newManager(t)
	_, a, _ := join(t, m, 1, channel.RoleBroadcaster)
	var (
		mu      sync.Mutex
		started int
	)
	m.Observe(func(ev channel.Event) {
		if ev.Kind == channel.EventMediaStarted {
			mu.Lock()
			started++
			mu.Unlock()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	m.Publish(a, "a")
	if err := m.MediaResumed(app, room, 1); err != nil {
		t.Fatalf("resume of a stream not seen started: %v", err)
	}
	m.MediaResumed(app, room, 1) // a second report changes nothing
	clk.Advance(time.Hour)       // past the media start timeout
	if mi, _ := m.Member(app, room, 1); !mi.Publishing || !mi.MediaLive {
		t.Fatalf("after the resume and an hour: %+v, want publishing and live", mi)
	}
	for i := 0; ; i++ {
		mu.Lock()
		n := started
		mu.Unlock()
		if n == 1 {
			break
		}
		if n > 1 || i > 500 {
			t.Fatalf("EventMediaStarted emitted %d times, want 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
