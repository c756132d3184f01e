package channel

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/errcode"
)

// Config holds the Manager's knobs; zero values mean the defaults of
// internal/config/defaults (config gateway.mediaStartTimeout).
type Config struct {
	// MediaStartTimeout removes a published stream whose media has not
	// started within it. Negative disables.
	MediaStartTimeout time.Duration
	// Clock is the time source (SystemClock when nil).
	Clock Clock
}

// Manager owns every channel of every app on this node. All methods are safe
// for concurrent use. Observers registered with Observe receive events on the
// goroutine that runs Run.
type Manager struct {
	log   *slog.Logger
	clock Clock
	start time.Duration

	mu       sync.Mutex
	channels map[chanKey]*chanState
	bans     []BanRule
	closed   bool

	obsMu     sync.Mutex
	observers map[int]func(Event)
	nextObs   int
	queue     []Event
	wake      chan struct{}
}

type chanKey struct{ app, name string }

type chanState struct {
	key     chanKey
	profile Profile
	created time.Time
	members map[uint32]*member
	// publishers are the members with a stream, so a join's snapshot costs
	// O(publishers), not O(members).
	publishers map[uint32]*member
	accounts   map[string]uint32
}

type member struct {
	uid        uint32
	account    string
	role       Role
	joinedAt   time.Time
	ep         Endpoint
	session    string
	gen        uint64 // bumped on every attach/detach, so stale timers do nothing
	grace      Timer
	audioMuted bool
	videoMuted bool
	stream     *stream
	subs       map[uint32]struct{}
	// endedPushURL is the push URL of a stream the media plane ended (its
	// publisher stayed away past the grace period). If the same pusher comes
	// back on that URL, MayPublish announces the stream again on its own;
	// Publish, Unpublish and a role change forget it.
	endedPushURL string
	client       ClientInfo
	ip           string // RemoteIP of its join
}

type stream struct {
	pushURL  string
	live     bool
	paused   bool
	rotation int
	timer    Timer
}

// NewManager returns an empty Manager.
func NewManager(cfg Config, log *slog.Logger) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	if cfg.MediaStartTimeout == 0 {
		cfg.MediaStartTimeout = defaults.GatewayMediaStartTimeout
	}
	return &Manager{
		log:       log,
		clock:     cfg.Clock,
		start:     cfg.MediaStartTimeout,
		channels:  make(map[chanKey]*chanState),
		observers: make(map[int]func(Event)),
		wake:      make(chan struct{}, 1),
	}
}

// Clock returns the Manager's time source.
func (m *Manager) Clock() Clock { return m.clock }

// Observe registers f to receive every event, in order, on the Run goroutine.
// f may call Manager methods. The returned function unregisters it.
func (m *Manager) Observe(f func(Event)) (cancel func()) {
	m.obsMu.Lock()
	defer m.obsMu.Unlock()
	id := m.nextObs
	m.nextObs++
	m.observers[id] = f
	return func() {
		m.obsMu.Lock()
		defer m.obsMu.Unlock()
		delete(m.observers, id)
	}
}

// Run delivers queued events to the observers until ctx ends, then stops every
// timer. It returns ctx's error.
func (m *Manager) Run(ctx context.Context) error {
	defer m.close()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.wake:
		}
		for {
			m.obsMu.Lock()
			evs := m.queue
			m.queue = nil
			obs := make([]func(Event), 0, len(m.observers))
			for i := 0; i < m.nextObs; i++ {
				if f, ok := m.observers[i]; ok {
					obs = append(obs, f)
				}
			}
			m.obsMu.Unlock()
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				for _, f := range obs {
					f(ev)
				}
			}
		}
	}
}

// close stops all timers; later timer callbacks find nothing to do.
func (m *Manager) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, ch := range m.channels {
		for _, mb := range ch.members {
			if mb.grace != nil {
				mb.grace.Stop()
			}
			if mb.stream != nil && mb.stream.timer != nil {
				mb.stream.timer.Stop()
			}
		}
	}
}

// emit queues ev for observers and, under m.mu, notifies the given endpoints.
func (m *Manager) emit(ev Event, to ...Endpoint) {
	ev.At = m.clock.Now()
	for _, ep := range to {
		if ep != nil {
			ep.Notify(ev)
		}
	}
	m.obsMu.Lock()
	if len(m.observers) > 0 {
		m.queue = append(m.queue, ev)
	}
	m.obsMu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Manager) event(kind EventKind, ch *chanState, mb *member) Event {
	return Event{Kind: kind, App: ch.key.app, Channel: ch.key.name, UID: mb.uid, Account: mb.account,
		Session: mb.session, Detached: mb.ep == nil, Role: mb.role,
		Profile: ch.profile, Client: mb.client, JoinedAt: mb.joinedAt}
}

// others are the attached endpoints of every member but uid.
func (ch *chanState) others(uid uint32) []Endpoint {
	eps := make([]Endpoint, 0, len(ch.members))
	for u, mb := range ch.members {
		if u != uid && mb.ep != nil {
			eps = append(eps, mb.ep)
		}
	}
	return eps
}

func errNotMember(ref Ref) *errcode.Error {
	return errcode.BadRequest(fmt.Sprintf("uid %d is not a member of channel %q", ref.UID, ref.Channel))
}

// lookup finds the member named by ref and checks its endpoint. m.mu held.
func (m *Manager) lookup(ref Ref) (*chanState, *member, error) {
	ch := m.channels[chanKey{ref.App, ref.Channel}]
	if ch == nil {
		return nil, nil, errNotMember(ref)
	}
	mb := ch.members[ref.UID]
	if mb == nil || (ref.Endpoint != nil && mb.ep != ref.Endpoint) {
		return nil, nil, errNotMember(ref)
	}
	return ch, mb, nil
}

func (m *Manager) banned(app, ch string, uid uint32) bool {
	_, ok := m.bannedFrom(app, ch, uid, "", PrivJoin, false)
	return ok
}

// bannedFrom finds an active rule that refuses p to uid at ip in ch of app.
// withIP: match rules with an IP against ip ("" matches none of them);
// without it, rules with an IP are skipped (the address is unknown). m.mu
// held; expired rules are dropped.
func (m *Manager) bannedFrom(app, ch string, uid uint32, ip string, p Privilege, withIP bool) (BanRule, bool) {
	now := m.clock.Now()
	m.bans = slices.DeleteFunc(m.bans, func(b BanRule) bool { return !now.Before(b.Until) })
	for _, b := range m.bans {
		if b.IP != "" && (!withIP || ip == "") {
			continue
		}
		if b.MatchesAddr(app, ch, uid, ip) && b.Refuses(p) {
			return b, true
		}
	}
	return BanRule{}, false
}

// accountUID maps an account to a stable uid: a hash of it in the upper half of
// the uid space (where SDK-chosen random uids, < 10^7, never land), probing
// past uids that are taken.
func accountUID(ch *chanState, account string) uint32 {
	if uid, ok := ch.accounts[account]; ok {
		return uid
	}
	h := fnv.New32a()
	h.Write([]byte(account))
	uid := h.Sum32() | 1<<31
	for {
		if _, taken := ch.members[uid]; !taken {
			return uid
		}
		uid++
		if uid == 0 {
			uid = 1 << 31
		}
	}
}

// Join adds a member, or takes over an existing member with the same uid:
// one in its grace period resumes silently; one with a live endpoint is
// replaced (newest wins) and its old endpoint gets EventKicked with the uid
// conflict error. The channel is created on first join.
func (m *Manager) Join(req JoinRequest) (JoinResult, error) {
	if req.Endpoint == nil {
		return JoinResult{}, fmt.Errorf("channel: join without endpoint")
	}
	if req.Account == "" && req.UID == 0 {
		return JoinResult{}, errcode.InvalidUID("uid must be 1..4294967295")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return JoinResult{}, errcode.ServiceLost("node is shutting down")
	}
	key := chanKey{req.App, req.Channel}
	ch := m.channels[key]
	created := false
	if ch == nil {
		ch = &chanState{key: key, profile: req.Profile, created: m.clock.Now(),
			members: make(map[uint32]*member), accounts: make(map[string]uint32),
			publishers: make(map[uint32]*member)}
		created = true
	}
	uid := req.UID
	if req.Account != "" {
		uid = accountUID(ch, req.Account)
	}
	if _, ok := m.bannedFrom(req.App, req.Channel, uid, req.RemoteIP, PrivJoin, true); ok {
		return JoinResult{}, errcode.Banned(fmt.Sprintf("uid %d is banned from this channel", uid))
	}
	res := JoinResult{UID: uid}
	mb := ch.members[uid]
	if mb != nil && mb.account != req.Account {
		return JoinResult{}, errcode.Refused(errcode.ReasonUIDConflict,
			fmt.Sprintf("uid %d is in use by another user in this channel", uid))
	}
	if mb == nil {
		if req.MaxUsers > 0 && len(ch.members) >= req.MaxUsers {
			return JoinResult{}, errcode.TooManyUsers(fmt.Sprintf("channel %q has %d users (limit %d)",
				req.Channel, len(ch.members), req.MaxUsers))
		}
		if created {
			m.channels[key] = ch
			m.emit(Event{Kind: EventChannelCreated, App: req.App, Channel: req.Channel})
		}
		mb = &member{uid: uid, account: req.Account, role: req.Role, joinedAt: m.clock.Now(),
			ep: req.Endpoint, session: req.Session}
		mb.client, mb.ip = req.Client, req.RemoteIP
		ch.members[uid] = mb
		if req.Account != "" {
			ch.accounts[req.Account] = uid
		}
		m.emit(m.event(EventMemberJoined, ch, mb))
	} else {
		if mb.grace != nil {
			mb.grace.Stop()
			mb.grace = nil
		}
		if old := mb.ep; old != nil {
			res.Replaced = true
			ev := m.event(EventKicked, ch, mb)
			ev.LeaveReason = errcode.LeaveUIDConflict
			ev.Err = errcode.UIDConflict()
			old.Notify(ev)
			left := m.event(EventMemberLeft, ch, mb)
			left.LeaveReason = errcode.LeaveUIDConflict
			m.emit(left)
		} else {
			res.Resumed = true
		}
		mb.gen++
		mb.ep, mb.session = req.Endpoint, req.Session
		if req.Client != (ClientInfo{}) {
			mb.client = req.Client
		}
		if req.RemoteIP != "" {
			mb.ip = req.RemoteIP
		}
		if res.Replaced {
			mb.joinedAt = m.clock.Now()
			m.emit(m.event(EventMemberJoined, ch, mb))
		}
		if mb.role != req.Role {
			mb.role = req.Role
			if mb.stream != nil && !m.mayPublish(ch, mb) {
				m.stopStream(ch, mb, StopRole)
			}
			m.emit(m.event(EventRoleChanged, ch, mb))
		}
	}
	for _, o := range ch.publishers {
		if o.uid != uid {
			res.Publishers = append(res.Publishers, o.info())
		}
	}
	slices.SortFunc(res.Publishers, func(a, b StreamInfo) int { return cmpUID(a.UID, b.UID) })
	for _, k := range req.KnownSpeakers {
		if k == uid || slices.Contains(res.Departed, k) {
			continue
		}
		if o := ch.members[k]; o == nil || o.stream == nil {
			res.Departed = append(res.Departed, k)
		}
	}
	return res, nil
}

func cmpUID(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (mb *member) info() StreamInfo {
	si := StreamInfo{UID: mb.uid, Account: mb.account, AudioMuted: mb.audioMuted, VideoMuted: mb.videoMuted}
	if mb.stream != nil {
		si.Rotation = mb.stream.rotation
		si.MediaLive = mb.stream.live
		si.VideoMuted = mb.videoMuted || mb.stream.paused
	}
	return si
}

func (m *Manager) mayPublish(ch *chanState, mb *member) bool {
	return ch.profile == ProfileCommunication || mb.role == RoleBroadcaster
}

// Leave removes the member now (leave, kick, token expiry).
func (m *Manager) Leave(ref Ref, reason errcode.LeaveReason) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.lookup(ref)
	if err != nil {
		return err
	}
	m.remove(ch, mb, reason)
	return nil
}

// TokenExpired tells observers that the member's token expired; the caller
// removes the member next (Leave).
func (m *Manager) TokenExpired(ref Ref) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.lookup(ref)
	if err != nil {
		return err
	}
	m.emit(m.event(EventTokenExpired, ch, mb))
	return nil
}

// ClientError tells observers that the member's client reported a failure
// of one of its components (webhooks report it).
func (m *Manager) ClientError(ref Ref, r ClientReport) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.lookup(ref)
	if err != nil {
		return err
	}
	ev := m.event(EventClientError, ch, mb)
	ev.Report = r
	m.emit(ev)
	return nil
}

// remove deletes mb from ch, announcing its stream's end. m.mu held.
func (m *Manager) remove(ch *chanState, mb *member, reason errcode.LeaveReason) {
	if mb.grace != nil {
		mb.grace.Stop()
		mb.grace = nil
	}
	mb.gen++
	if mb.stream != nil {
		m.stopStream(ch, mb, StopLeft)
	}
	delete(ch.members, mb.uid)
	if mb.account != "" {
		delete(ch.accounts, mb.account)
	}
	ev := m.event(EventMemberLeft, ch, mb)
	ev.LeaveReason = reason
	m.emit(ev)
	mb.ep = nil
	if len(ch.members) == 0 {
		delete(m.channels, ch.key)
		m.emit(Event{Kind: EventChannelDestroyed, App: ch.key.app, Channel: ch.key.name})
	}
}

// Detach records that the member's endpoint is gone without a leave (socket
// lost, heartbeat timeout). The member keeps its role and stream for grace;
// a Join with the same uid within it resumes the member, otherwise it is
// removed with reason. A grace <= 0 removes it at once.
func (m *Manager) Detach(ref Ref, reason errcode.LeaveReason, grace time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.lookup(ref)
	if err != nil {
		return err
	}
	if grace <= 0 || m.closed {
		m.remove(ch, mb, reason)
		return nil
	}
	mb.ep = nil
	mb.gen++
	gen := mb.gen
	key := ch.key
	mb.grace = m.clock.AfterFunc(grace, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		ch := m.channels[key]
		if ch == nil {
			return
		}
		if cur := ch.members[ref.UID]; cur == mb && mb.gen == gen {
			mb.grace = nil
			m.remove(ch, mb, reason)
		}
	})
	return nil
}

// SetRole changes the member's role. Becoming audience in a live channel ends
// its stream (stream-removed to others).
func (m *Manager) SetRole(ref Ref, role Role) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.lookup(ref)
	if err != nil {
		return err
	}
	if mb.role == role {
		return nil
	}
	mb.role = role
	mb.endedPushURL = ""
	if mb.stream != nil && !m.mayPublish(ch, mb) {
		m.stopStream(ch, mb, StopRole)
	}
	m.emit(m.event(EventRoleChanged, ch, mb))
	return nil
}

// Publish announces the member's stream (stream-added to others) with pushURL
// as its push URL. If it already publishes, nothing is announced and the
// stored URL is returned with already = true.
func (m *Manager) Publish(ref Ref, pushURL string) (url string, already bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.lookup(ref)
	if err != nil {
		return "", false, err
	}
	if !m.mayPublish(ch, mb) {
		return "", false, errcode.NoAuthorized("audience cannot publish; call setRole('broadcaster') first")
	}
	if err := m.publishBanned(ch, mb); err != nil {
		return "", false, err
	}
	if mb.stream != nil {
		return mb.stream.pushURL, true, nil
	}
	m.startStream(ch, mb, pushURL)
	return pushURL, false, nil
}

// startStream announces mb's stream (stream-added to others). m.mu held.
func (m *Manager) startStream(ch *chanState, mb *member, pushURL string) {
	mb.endedPushURL = ""
	mb.stream = &stream{pushURL: pushURL}
	ch.publishers[mb.uid] = mb
	m.armStart(ch, mb)
	m.emit(m.event(EventStreamStarted, ch, mb), ch.others(mb.uid)...)
}

// SetPushURL replaces the stored push URL of a publishing member (URL refresh).
func (m *Manager) SetPushURL(ref Ref, pushURL string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, mb, err := m.lookup(ref)
	if err != nil {
		return err
	}
	if mb.stream == nil {
		return errcode.Refused(errcode.ReasonNotPublishing, fmt.Sprintf("uid %d is not publishing", mb.uid))
	}
	mb.stream.pushURL = pushURL
	return nil
}

// armStart (re)starts the media start timer of mb's stream. m.mu held.
func (m *Manager) armStart(ch *chanState, mb *member) {
	st := mb.stream
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
	if m.start < 0 {
		return
	}
	key := ch.key
	st.timer = m.clock.AfterFunc(m.start, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		ch := m.channels[key]
		if ch == nil {
			return
		}
		if cur := ch.members[mb.uid]; cur == mb && mb.stream == st && !st.live {
			st.timer = nil
			m.log.Info("stream removed: media never started", "app", key.app, "channel", key.name,
				"uid", mb.uid, "timeout", m.start)
			m.stopStream(ch, mb, StopMediaTimeout)
		}
	})
}

// Unpublish ends the member's stream if it has one (stream-removed to others).
func (m *Manager) Unpublish(ref Ref) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.lookup(ref)
	if err != nil {
		return err
	}
	mb.endedPushURL = ""
	if mb.stream != nil {
		m.stopStream(ch, mb, StopUnpublish)
	}
	return nil
}

// stopStream ends mb's stream. m.mu held.
func (m *Manager) stopStream(ch *chanState, mb *member, why StopReason) {
	if mb.stream.timer != nil {
		mb.stream.timer.Stop()
	}
	mb.stream = nil
	delete(ch.publishers, mb.uid)
	for _, o := range ch.members {
		delete(o.subs, mb.uid)
	}
	ev := m.event(EventStreamStopped, ch, mb)
	ev.StopReason = why
	m.emit(ev, ch.others(mb.uid)...)
}

func notPublishing(uid uint32) *errcode.Error {
	return errcode.NotPublishing(fmt.Sprintf("uid %d is not publishing in this channel", uid))
}

// Subscribe records that the member plays target's stream and returns it.
// A target that does not publish (the member itself included) fails with 432.
func (m *Manager) Subscribe(ref Ref, target uint32) (StreamInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.lookup(ref)
	if err != nil {
		return StreamInfo{}, err
	}
	t := ch.members[target]
	if t == nil || t.stream == nil || target == mb.uid {
		return StreamInfo{}, notPublishing(target)
	}
	if mb.subs == nil {
		mb.subs = make(map[uint32]struct{})
	}
	mb.subs[target] = struct{}{}
	return t.info(), nil
}

// Unsubscribe forgets a subscription; it is idempotent.
func (m *Manager) Unsubscribe(ref Ref, target uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, mb, err := m.lookup(ref)
	if err != nil {
		return err
	}
	delete(mb.subs, target)
	return nil
}

// MuteLocal records the member's own mute state for the given media and tells
// every other member (audio-mute / video-mute), one event per media kind.
func (m *Manager) MuteLocal(ref Ref, muted bool, media ...Media) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.lookup(ref)
	if err != nil {
		return err
	}
	for _, k := range media {
		if k == MediaAudio {
			mb.audioMuted = muted
		} else {
			mb.videoMuted = muted
		}
		ev := m.event(EventMuteChanged, ch, mb)
		ev.Media, ev.Muted = k, muted
		m.emit(ev, ch.others(mb.uid)...)
	}
	return nil
}

// Member returns a snapshot of one member.
func (m *Manager) Member(app, channel string, uid uint32) (MemberInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := m.channels[chanKey{app, channel}]
	if ch == nil || ch.members[uid] == nil {
		return MemberInfo{}, false
	}
	return ch.memberInfo(ch.members[uid]), true
}

// Members returns snapshots of a channel's members, by uid.
func (m *Manager) Members(app, channel string) []MemberInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := m.channels[chanKey{app, channel}]
	if ch == nil {
		return nil
	}
	out := make([]MemberInfo, 0, len(ch.members))
	for _, mb := range ch.members {
		out = append(out, ch.memberInfo(mb))
	}
	slices.SortFunc(out, func(a, b MemberInfo) int { return cmpUID(a.UID, b.UID) })
	return out
}

// Channels returns the names of an app's channels, sorted.
func (m *Manager) Channels(app string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.channels {
		if k.app == app {
			out = append(out, k.name)
		}
	}
	slices.Sort(out)
	return out
}

// AppCount is how many channels an app has and how many members they hold.
type AppCount struct {
	App      string
	Channels int
	Members  int
}

// AppCounts returns every app's channel and member counts, ordered by app
// (for metrics: one pass over the channels under the lock).
func (m *Manager) AppCounts() []AppCount {
	m.mu.Lock()
	byApp := make(map[string]*AppCount)
	for k, ch := range m.channels {
		c := byApp[k.app]
		if c == nil {
			c = &AppCount{App: k.app}
			byApp[k.app] = c
		}
		c.Channels++
		c.Members += len(ch.members)
	}
	m.mu.Unlock()
	out := make([]AppCount, 0, len(byApp))
	for _, c := range byApp {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b AppCount) int { return cmp.Compare(a.App, b.App) })
	return out
}

func (ch *chanState) memberInfo(mb *member) MemberInfo {
	mi := MemberInfo{App: ch.key.app, Channel: ch.key.name, UID: mb.uid, Account: mb.account, Role: mb.role,
		Profile: ch.profile, JoinedAt: mb.joinedAt, Session: mb.session, Detached: mb.ep == nil,
		AudioMuted: mb.audioMuted, VideoMuted: mb.videoMuted}
	mi.Client, mi.RemoteIP = mb.client, mb.ip
	if st := mb.stream; st != nil {
		mi.Publishing, mi.MediaLive, mi.MediaPaused, mi.Rotation, mi.PushURL = true, st.live, st.paused, st.rotation, st.pushURL
	}
	for u := range mb.subs {
		mi.Subscriptions = append(mi.Subscriptions, u)
	}
	slices.Sort(mi.Subscriptions)
	return mi
}

// Kick removes a member: its endpoint gets EventKicked (client-is-banned-by-server),
// others get stream-removed if it published. Leave reason 3.
func (m *Manager) Kick(app, channel string, uid uint32, detail string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := m.channels[chanKey{app, channel}]
	if ch == nil || ch.members[uid] == nil {
		return errcode.NotFound(fmt.Sprintf("uid %d is not in channel %q", uid, channel))
	}
	m.kick(ch, ch.members[uid], detail)
	return nil
}

func (m *Manager) kick(ch *chanState, mb *member, detail string) {
	ev := m.event(EventKicked, ch, mb)
	ev.LeaveReason = errcode.LeaveKicked
	ev.Err = errcode.Banned(detail)
	if ep := mb.ep; ep != nil {
		ep.Notify(ev)
	}
	m.emit(ev)
	m.remove(ch, mb, errcode.LeaveKicked)
}

// publishBanned refuses mb's publishing while a rule takes its publish
// privilege away. m.mu held.
func (m *Manager) publishBanned(ch *chanState, mb *member) error {
	if _, ok := m.bannedFrom(ch.key.app, ch.key.name, mb.uid, mb.ip, PrivPublish, true); ok {
		return errcode.Banned(fmt.Sprintf("uid %d may not publish in this channel: a server rule took its publish privilege", mb.uid))
	}
	return nil
}

// Ban adds a rule (replacing the rule with the same nonzero ID) and applies
// it now: with PrivJoin it kicks the matching members, with only publish
// privileges it ends their streams. Members match by uid and, for a rule
// with an IP, by the RemoteIP of their join. Observers then get
// EventRuleAdded, so that media sessions of non-members end too. It
// returns how many members were kicked or stopped. A rule whose Until has
// passed applies once (kick only) and is not kept.
func (m *Manager) Ban(rule BanRule) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rule.ID != 0 {
		m.bans = slices.DeleteFunc(m.bans, func(b BanRule) bool { return b.ID == rule.ID })
	}
	if m.clock.Now().Before(rule.Until) {
		m.bans = append(m.bans, rule)
	}
	n := 0
	for key, ch := range m.channels {
		if key.app != rule.App || (rule.Channel != "" && rule.Channel != key.name) {
			continue
		}
		for _, mb := range ch.members {
			if !rule.MatchesAddr(key.app, key.name, mb.uid, mb.ip) || (rule.IP != "" && mb.ip == "") {
				continue
			}
			switch {
			case rule.Refuses(PrivJoin):
				m.kick(ch, mb, "banned by a server rule")
				n++
			case mb.stream != nil:
				m.stopStream(ch, mb, StopBanned)
				n++
			}
		}
	}
	m.emit(Event{Kind: EventRuleAdded, App: rule.App, Channel: rule.Channel, UID: rule.UID, Rule: rule})
	return n
}

// Unban removes every rule equal to rule except for Until (and ID).
func (m *Manager) Unban(rule BanRule) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bans = slices.DeleteFunc(m.bans, func(b BanRule) bool {
		return b.App == rule.App && b.Channel == rule.Channel && b.UID == rule.UID
	})
}

// UnbanID removes the rule with id; it reports whether there was one.
func (m *Manager) UnbanID(id uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.bans)
	m.bans = slices.DeleteFunc(m.bans, func(b BanRule) bool { return b.ID == id })
	return len(m.bans) < n
}
