package admission

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/token"
)

// Authorizer checks a media connection's credential (MediaAuthorizer).
type Authorizer interface {
	Authorize(ctx context.Context, action token.Action, stream string, q url.Values) (token.MediaGrant, error)
}

// Config holds the Gate's knobs.
type Config struct {
	// RejoinGrace: see the package comment. Zero: the default of config
	// gateway.urlRejoinGrace (internal/config/defaults);
	// negative: none (a signed play URL stops with its member's leave).
	RejoinGrace time.Duration
	// MaxUsers returns the member limit of an app's channels for the
	// publishers a media door joins itself (Members); nil: no limit.
	MaxUsers func(app string) int
	// Place, in a cluster, makes this node the channel's owner before a
	// publish is admitted, or returns the catalogue error that sends the
	// publisher to the owner. Nil: a single node, every channel is here.
	Place func(ctx context.Context, app, channel string) error
	// Elsewhere, in a cluster, reports whether uid is in app/channel on the
	// node that owns the channel when that is another node: an edge serving
	// a reader the owner sent it with a signed play URL. An error means the
	// owner cannot be asked now. Such a session's member is not seen here:
	// the Gate asks again every ElsewhereRecheck and ends the session once
	// the owner answers that its member is gone (an error keeps it). Nil: a
	// single node.
	Elsewhere func(ctx context.Context, app, channel, uid string) (bool, error)
	// ElsewhereRecheck: see Elsewhere; zero: the default of config
	// cluster.edgeMemberCheck (internal/config/defaults).
	ElsewhereRecheck time.Duration
}

// Gate admits media connections and ends them when their principal's
// access ends. Create it with New; Close stops it.
type Gate struct {
	auth  Authorizer
	chans *channel.Manager
	clock channel.Clock
	log   *slog.Logger
	grace time.Duration
	place func(ctx context.Context, app, channel string) error
	// elsewhere, recheck: Config.Elsewhere and ElsewhereRecheck; stop ends
	// the rechecks when the Gate closes.
	elsewhere func(ctx context.Context, app, channel, uid string) (bool, error)
	recheck   time.Duration
	stop      chan struct{}
	// members makes media-door publishers members of their channel.
	members *Members

	stopObserving func()

	mu       sync.Mutex
	closed   bool
	sessions map[principal]map[*entry]struct{}
	departed map[principal]*departure
}

// principal names who holds access: uid is a decimal uid or a string
// account; "" is no one (a play whose viewer is unknown).
type principal struct{ app, channel, uid string }

// entry is one registered session.
type entry struct {
	p      principal
	ip     string // the client's address (channel.AddrIP); "" unknown
	action token.Action
	until  time.Time // zero: none
	member bool      // let in by a signed URL: needs its principal in the channel
	since  time.Time // registered at
	timer  channel.Timer
	end    func(error)
	done   bool // removed; end called or released
}

// departure is a member that left with leave, within its rejoin grace.
type departure struct {
	at    time.Time
	timer channel.Timer
}

// New builds a Gate over auth (the credential check) and the channel model,
// whose events it observes until Close. It uses the channel model's clock.
func New(cfg Config, auth Authorizer, chans *channel.Manager, log *slog.Logger) (*Gate, error) {
	if auth == nil || chans == nil || log == nil {
		return nil, fmt.Errorf("admission: New needs an authorizer, the channel model and a logger")
	}
	grace := cfg.RejoinGrace
	if grace == 0 {
		grace = defaults.GatewayURLRejoinGrace
	}
	g := &Gate{auth: auth, chans: chans, clock: chans.Clock(), log: log.With("component", "admission"),
		grace: max(grace, 0), place: cfg.Place, elsewhere: cfg.Elsewhere, recheck: cmp.Or(cfg.ElsewhereRecheck, defaults.ClusterEdgeMemberCheck), stop: make(chan struct{}), members: &Members{Manager: chans, MaxUsers: cfg.MaxUsers}, sessions: make(map[principal]map[*entry]struct{}), departed: make(map[principal]*departure)}
	g.stopObserving = chans.Observe(g.observe)
	return g, nil
}

// Close stops observing the channel model and every timer; sessions stay
// open (the adapters close them at shutdown) but are no longer watched.
// Idempotent.
func (g *Gate) Close() {
	g.stopObserving()
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		close(g.stop)
	}
	g.closed = true
	for _, set := range g.sessions {
		for e := range set {
			e.done = true
			if e.timer != nil {
				e.timer.Stop()
			}
		}
	}
	for _, d := range g.departed {
		d.timer.Stop()
	}
	clear(g.sessions)
	clear(g.departed)
}

// Authorize implements the adapters' authorizer: the credential check
// (MediaAuthorizer: signature or token, Admit), then the ban
// rules for the principal, then, for a signed play URL issued to a viewer,
// that viewer's membership (or rejoin grace). The grant's Hold registers
// the session; a publish grant's Enter applies the channel's rules at
// connect time (Members: role, a stream announced with publish, a push
// that joins its channel itself), which the adapters call once they are
// ready to publish. Who may replace a live publisher stays with the hub.
func (g *Gate) Authorize(ctx context.Context, action token.Action, stream string, q url.Values) (token.MediaGrant, error) {
	grant, err := g.auth.Authorize(ctx, action, stream, q)
	if err != nil {
		return grant, err
	}
	p := principal{app: grant.AppID, channel: grant.Channel, uid: grant.UID}
	if action == token.ActionPlay {
		p.uid = grant.Viewer
	}
	ip := channel.AddrIP(token.RemoteAddr(ctx))
	if err := g.banned(p, ip, action); err != nil {
		return token.MediaGrant{}, err
	}
	member := grant.Signed && p.uid != ""
	remote := false
	if member && !g.present(p) {
		if g.elsewhere == nil || action != token.ActionPlay {
			return token.MediaGrant{}, notMember(p)
		}
		ok, err := g.elsewhere(ctx, p.app, p.channel, p.uid)
		if err != nil {
			return token.MediaGrant{}, errcode.ClusterUnavailable(fmt.Sprintf("the node that owns channel %q cannot be asked whether uid %s is in it; retry shortly: %v", p.channel, p.uid, err))
		}
		if !ok {
			return token.MediaGrant{}, notMember(p)
		}
		// A member of the channel's owner, sent here (an edge): its leave
		// is not seen here; the owner is asked again while it plays.
		member, remote = false, true
	}
	grant.Hold = func(end func(error)) func() {
		release := g.hold(p, ip, action, member, grant.Until, end)
		if !remote {
			return release
		}
		stop := make(chan struct{})
		go g.recheckElsewhere(p, end, stop)
		var once sync.Once
		return func() { once.Do(func() { close(stop) }); release() }
	}
	if action == token.ActionPublish && g.place != nil {
		if err := g.place(ctx, grant.AppID, grant.Channel); err != nil {
			return token.MediaGrant{}, err
		}
	}
	if action == token.ActionPublish {
		cred := grant
		grant.Enter = func(ctx context.Context, door token.Door, session string, kicked func(error)) (func(bool), error) {
			return g.members.enter(ctx, door, cred, session, kicked)
		}
	}
	return grant, nil
}

// recheckElsewhere asks the owner every g.recheck whether p, let in here
// as a member of a channel another node owns, is still a member there, and
// ends the session with end once it is not. It returns when stop or the
// Gate closes.
func (g *Gate) recheckElsewhere(p principal, end func(error), stop <-chan struct{}) {
	t := time.NewTicker(g.recheck)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-g.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), g.recheck)
		ok, err := g.elsewhere(ctx, p.app, p.channel, p.uid)
		cancel()
		if err == nil && !ok {
			end(notMember(p))
			return
		}
	}
}

// Members is the Gate's channel half for publishers that come in by a
// media door (the WHIP server's webrtc.Channels).
func (g *Gate) Members() *Members { return g.members }

// privilege is the channel privilege a media action needs: playing needs
// the right to be in the channel, publishing the right to publish.
func privilege(a token.Action) channel.Privilege {
	if a == token.ActionPublish {
		return channel.PrivPublish
	}
	return channel.PrivJoin
}

// principalUID is p's numeric uid, or 0 when it has none (unknown viewer)
// or is a string account: then only rules without a uid match it.
func principalUID(p principal) uint32 {
	u, err := strconv.ParseUint(p.uid, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(u)
}

// banned refuses p at ip when a ban rule takes away the privilege action
// needs.
func (g *Gate) banned(p principal, ip string, action token.Action) error {
	if _, ok := g.chans.BannedFrom(p.app, p.channel, principalUID(p), ip, privilege(action)); !ok {
		return nil
	}
	who := "uid " + p.uid
	if p.uid == "" {
		who = "this client"
	}
	if action == token.ActionPublish {
		return errcode.Banned(fmt.Sprintf("%s may not publish in this channel: a server rule took its publish privilege", who))
	}
	return errcode.Banned(fmt.Sprintf("%s is banned from this channel", who))
}

// ruleCovers reports whether rule (just added) ends e.
func ruleCovers(rule channel.BanRule, e *entry) bool {
	if rule.IP != "" && e.ip == "" {
		return false
	}
	return rule.MatchesAddr(e.p.app, e.p.channel, principalUID(e.p), e.ip) && rule.Refuses(privilege(e.action))
}

func notMember(p principal) *errcode.Error {
	return errcode.NoAuthorized(fmt.Sprintf("uid %s is not in the channel: this URL was issued to it; join and subscribe again for a new one", p.uid))
}

// hold registers a session of p; see token.MediaGrant.Register.
func (g *Gate) hold(p principal, ip string, action token.Action, member bool, until time.Time, end func(error)) func() {
	e := &entry{p: p, ip: ip, action: action, until: until, member: member, since: g.clock.Now(), end: end}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return func() {}
	}
	set := g.sessions[p]
	if set == nil {
		set = make(map[*entry]struct{})
		g.sessions[p] = set
	}
	set[e] = struct{}{}
	g.armLocked(e)
	g.mu.Unlock()
	// The principal may have gone between Authorize and now (its leave was
	// observed before this session was registered): end it now.
	if member && !g.present(p) {
		g.endAll([]*entry{g.take(e)}, notMember(p))
	}
	// Likewise a ban rule added in between.
	if err := g.banned(p, ip, action); err != nil {
		g.endAll([]*entry{g.take(e)}, err)
	}
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.removeLocked(e)
	}
}

// armLocked (re)starts e's deadline timer; g.mu held.
func (g *Gate) armLocked(e *entry) {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	if e.until.IsZero() {
		return
	}
	until := e.until
	e.timer = g.clock.AfterFunc(until.Sub(g.clock.Now()), func() {
		g.mu.Lock()
		if e.done || !e.until.Equal(until) {
			g.mu.Unlock()
			return
		}
		g.removeLocked(e)
		g.mu.Unlock()
		g.log.Info("media access expired", "app", e.p.app, "channel", e.p.channel, "uid", e.p.uid,
			"action", string(e.action), "until", until)
		e.end(errcode.KeyExpired(until))
	})
}

// removeLocked forgets e; g.mu held. It reports whether e was registered.
func (g *Gate) removeLocked(e *entry) bool {
	if e.done {
		return false
	}
	e.done = true
	if e.timer != nil {
		e.timer.Stop()
	}
	if set := g.sessions[e.p]; set != nil {
		delete(set, e)
		if len(set) == 0 {
			delete(g.sessions, e.p)
		}
	}
	return true
}

// take removes e and returns it, or nil if it was already gone.
func (g *Gate) take(e *entry) *entry {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.removeLocked(e) {
		return e
	}
	return nil
}

func (g *Gate) endAll(es []*entry, reason error) {
	for _, e := range es {
		if e != nil {
			e.end(reason)
		}
	}
}

// Revoke ends every session of uid (a decimal uid or a string account) in
// channel of app with reason. It returns how many it ended.
func (g *Gate) Revoke(app, channel, uid string, reason error) int {
	return g.revoke(principal{app, channel, uid}, func(*entry) bool { return true }, reason)
}

// revoke ends p's sessions that match with reason.
func (g *Gate) revoke(p principal, match func(*entry) bool, reason error) int {
	g.mu.Lock()
	set := g.sessions[p]
	es := make([]*entry, 0, len(set))
	for e := range set {
		if match(e) {
			es = append(es, e)
		}
	}
	for _, e := range es {
		g.removeLocked(e)
	}
	g.mu.Unlock()
	g.endAll(es, reason)
	return len(es)
}

// Renew extends to until the deadline of uid's sessions of the given action
// whose deadline is earlier (never one without a deadline): the member
// renewed its token (update_key) or was handed fresh signed URLs.
func (g *Gate) Renew(app, channel, uid string, action token.Action, until time.Time) {
	if until.IsZero() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for e := range g.sessions[principal{app, channel, uid}] {
		if e.action == action && !e.until.IsZero() && e.until.Before(until) {
			e.until = until
			g.armLocked(e)
		}
	}
}

// Present reports whether uid (a decimal uid or a string account) is in
// app/channel on this node, or left it with leave within the rejoin grace:
// whether a signed play URL issued to it lets a new connection in.
func (g *Gate) Present(app, channel, uid string) bool {
	return g.present(principal{app: app, channel: channel, uid: uid})
}

// present reports whether p is a member of its channel, or left it with
// leave less than the rejoin grace ago.
func (g *Gate) present(p principal) bool {
	if u, err := strconv.ParseUint(p.uid, 10, 32); err == nil {
		if _, ok := g.chans.Member(p.app, p.channel, uint32(u)); ok {
			return true
		}
	} else {
		for _, m := range g.chans.Members(p.app, p.channel) {
			if m.Account == p.uid {
				return true
			}
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.departed[p]
	return d != nil && g.clock.Now().Before(d.at.Add(g.grace))
}

// observe follows the channel model: a member that goes loses its media
// sessions; one that left with leave keeps its signed play URLs for the
// rejoin grace.
func (g *Gate) observe(ev channel.Event) {
	names := []string{strconv.FormatUint(uint64(ev.UID), 10)}
	if ev.Account != "" {
		names = append(names, ev.Account)
	}
	switch ev.Kind {
	case channel.EventRuleAdded:
		g.applyRule(ev.Rule)
	case channel.EventMemberJoined:
		g.mu.Lock()
		for _, n := range names {
			if d := g.departed[principal{ev.App, ev.Channel, n}]; d != nil {
				d.timer.Stop()
				delete(g.departed, principal{ev.App, ev.Channel, n})
			}
		}
		g.mu.Unlock()
	case channel.EventKicked, channel.EventMemberLeft:
		var reason error = errcode.NoAuthorized(fmt.Sprintf("uid %d left the channel (leave reason %s)", ev.UID, ev.LeaveReason))
		switch {
		case ev.Err != nil:
			reason = ev.Err
		case ev.LeaveReason == errcode.LeaveUIDConflict:
			reason = errcode.UIDConflict()
		}
		// The grace starts before the sessions end, so that a player that
		// reconnects at once finds it.
		if ev.Kind == channel.EventMemberLeft && ev.LeaveReason == errcode.LeaveNormal && g.grace > 0 {
			for _, name := range names {
				g.depart(principal{ev.App, ev.Channel, name}, ev.At)
			}
		}
		// Only sessions opened before the event: one opened since belongs
		// to whoever took the uid over (uid conflict), or was checked
		// against the channel as it is now.
		before := func(e *entry) bool { return !e.since.After(ev.At) }
		n := 0
		for _, name := range names {
			n += g.revoke(principal{ev.App, ev.Channel, name}, before, reason)
		}
		if n > 0 {
			g.log.Info("media sessions ended: the member is gone", "app", ev.App, "channel", ev.Channel, "uid", ev.UID,
				"sessions", n, "event", ev.Kind.String(), "leave_reason", int(ev.LeaveReason))
		}
	}
}

// depart records p's leave and ends, at the end of the rejoin grace, the
// sessions its signed URLs let in meanwhile unless it is back.
func (g *Gate) depart(p principal, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	if d := g.departed[p]; d != nil {
		d.timer.Stop()
	}
	d := &departure{at: at}
	d.timer = g.clock.AfterFunc(g.grace, func() {
		g.mu.Lock()
		if g.departed[p] != d {
			g.mu.Unlock()
			return
		}
		delete(g.departed, p)
		g.mu.Unlock()
		if !g.present(p) {
			g.revoke(p, func(e *entry) bool { return e.member }, errcode.NoAuthorized(
				fmt.Sprintf("uid %s left the channel and did not rejoin within %s", p.uid, g.grace)))
		}
	})
	g.departed[p] = d
}

// applyRule ends the sessions a new ban rule covers, members' or not (a
// token push or play needs no membership): every session for a join ban,
// the publishing ones for a publish ban.
func (g *Gate) applyRule(rule channel.BanRule) {
	g.mu.Lock()
	var es []*entry
	for _, set := range g.sessions {
		for e := range set {
			if ruleCovers(rule, e) {
				es = append(es, e)
			}
		}
	}
	for _, e := range es {
		g.removeLocked(e)
	}
	g.mu.Unlock()
	if len(es) == 0 {
		return
	}
	g.log.Info("media sessions ended by a ban rule", "app", rule.App, "channel", rule.Channel, "uid", rule.UID,
		"ip", rule.IP, "rule", rule.ID, "sessions", len(es))
	reason := errcode.Banned("banned by a server rule")
	if !rule.Refuses(channel.PrivJoin) {
		reason = errcode.Banned("a server rule took the publish privilege")
	}
	g.endAll(es, reason)
}
