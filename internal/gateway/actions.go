package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/admission"
	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// storeTimeout bounds an app lookup during join.
const storeTimeout = 5 * time.Second

// dispatch runs one action. It returns the serverResponse (nil for none), or
// an after function that must queue the reply itself (join: the reply and the
// join pushes must precede any event), or an error for the error reply.
func (s *session) dispatch(ctx context.Context, req *request) (any, func([]byte), error) {
	switch req.Action {
	case "join":
		return s.join(ctx, req)
	case "ping":
		return struct{}{}, nil, nil
	}
	switch req.Action {
	case "set_role", "publish", "unpublish", "subscribe", "unsubscribe", "mute_local", "mute", "unmute",
		"set_remote_stream_type", "update_key", "update_url", "leave":
	case "report_pusher_state", "report_player_state", "report_pusher_net", "report_player_net":
		if s.g.diag.Load() == nil { // a node without diagnostics: the SDK then stops sending them
			return nil, nil, errcode.BadRequest(fmt.Sprintf("unknown action %q", req.Action))
		}
	default:
		return nil, nil, errcode.BadRequest(fmt.Sprintf("unknown action %q", req.Action))
	}
	s.mu.Lock()
	st := s.st
	s.mu.Unlock()
	if st == nil {
		return nil, nil, errcode.BadRequest(fmt.Sprintf("%q before join", req.Action))
	}
	var (
		resp any
		err  error
	)
	switch req.Action {
	case "set_role":
		err = s.setRole(st, req)
	case "publish":
		resp, err = s.publish(st)
	case "unpublish":
		err = s.g.channels.Unpublish(st.ref)
	case "subscribe":
		resp, err = s.subscribe(st, req)
	case "unsubscribe":
		err = s.unsubscribe(st, req)
	case "mute_local":
		err = s.muteLocal(st, req)
	case "mute", "unmute":
		if _, err = req.targetUID("uid"); err == nil {
			_, err = muteTarget(req)
		}
	case "set_remote_stream_type":
		err = s.setRemoteStreamType(req)
	case "update_key":
		err = s.updateKey(st, req)
	case "update_url":
		resp, err = s.updateURL(st, req)
	case "leave":
		err = s.leave(st)
	case "report_pusher_state", "report_player_state", "report_pusher_net", "report_player_net":
		err = s.report(st, req, s.g.diag.Load())
	}
	return resp, nil, err
}

type joinReply struct {
	UID uint32 `json:"uid"`
	// LogTicket lets the member upload SDK logs (POST /api/v1/logs); only
	// sent when the join asks for it with logTicket: true (our SDK), so the
	// official SDK's reply stays {uid}.
	LogTicket string `json:"logTicket,omitempty"`
}

// join implements docs/protocol.md 4.1.
func (s *session) join(ctx context.Context, req *request) (any, func([]byte), error) {
	s.mu.Lock()
	joined := s.st != nil
	s.mu.Unlock()
	if joined {
		return nil, nil, errcode.BadRequest("already joined on this connection")
	}
	appID, err := req.str("appId")
	if err != nil {
		return nil, nil, err
	}
	if appID == "" {
		appID = req.AppID
	}
	appID = strings.TrimSpace(appID)
	chName, err := req.str("channel_name")
	if err != nil {
		return nil, nil, err
	}
	if !req.has("channel_name") {
		chName = req.Cname
	}
	uidText, err := req.scalar("uid")
	if err != nil {
		return nil, nil, err
	}
	uidType, err := req.scalar("uidType")
	if err != nil {
		return nil, nil, err
	}
	key, err := req.str("key_vos")
	if err != nil {
		return nil, nil, err
	}
	if key == "" {
		if key, err = req.str("key_vocs"); err != nil {
			return nil, nil, err
		}
	}
	roleText, err := req.str("role")
	if err != nil {
		return nil, nil, err
	}
	if roleText == "" {
		roleText = "audience"
	}
	known, err := req.uidList("known_speakers", false)
	if err != nil {
		return nil, nil, err
	}
	if _, err := req.boolean("audio_only"); err != nil {
		return nil, nil, err
	}
	wantTicket, err := req.boolean("logTicket")
	if err != nil {
		return nil, nil, err
	}

	// 1. app
	lctx, cancel := context.WithTimeout(ctx, storeTimeout)
	app, err := s.g.apps.App(lctx, appID)
	cancel()
	if errors.Is(err, store.ErrNotFound) || (err == nil && !app.Enabled) {
		return nil, nil, errcode.InvalidVendorKey(fmt.Sprintf("app %q is unknown or disabled", appID))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: load app: %w", err)
	}
	// 2. channel
	if err := validateChannel(chName); err != nil {
		return nil, nil, err
	}
	// 3. uid
	isAccount := uidType == "1"
	uid, err := validateUID(uidText, isAccount)
	if err != nil {
		return nil, nil, err
	}
	st := &member{app: app, claimUID: strconv.FormatUint(uint64(uid), 10)}
	if isAccount {
		st.account, st.claimUID = uidText, uidText
	}
	// 4. key, and the media permission rule every door applies (the
	// admission seam: a join needs what a play needs)
	if err := s.checkKey(st, key, chName); err != nil {
		return nil, nil, err
	}
	if _, err := admission.Admit(app.Settings, st.credential(), token.ActionPlay, s.g.cfg.Clock.Now()); err != nil {
		return nil, nil, err
	}
	// 5. role
	role, err := channel.ParseRole(roleText)
	if err != nil {
		return nil, nil, err
	}
	// In a cluster: the channel's node serves the join (this one, or the
	// owner the session is forwarded to).
	if s.g.cfg.Router != nil {
		fwd, err := s.routeJoin(ctx, req, app.ID, chName)
		if err != nil || fwd {
			// Forwarded: the owner answers the join through the pipe.
			return nil, func([]byte) {}, err
		}
	}
	// 6. bans and capacity (in the channel)
	maxUsers := app.Settings.MaxUsersPerChannel
	if maxUsers <= 0 {
		maxUsers = s.g.cfg.MaxUsersPerChannel
	}
	s.mu.Lock()
	s.holding = true
	if s.leaveClose != nil {
		s.leaveClose.Stop()
		s.leaveClose = nil
	}
	s.mu.Unlock()
	res, err := s.g.channels.Join(channel.JoinRequest{
		App: app.ID, Channel: chName, UID: uid, Account: st.account, Role: role, Profile: channel.ProfileLive,
		Endpoint: s, Session: s.id, MaxUsers: maxUsers, KnownSpeakers: known, Client: req.clientInfo(),
		RemoteIP: channel.AddrIP(s.remote),
	})
	if err != nil {
		s.mu.Lock()
		s.holding = false
		s.mu.Unlock()
		return nil, nil, err
	}
	st.ref = channel.Ref{App: app.ID, Channel: chName, UID: res.UID, Endpoint: s}
	st.uidStr = strconv.FormatUint(uint64(res.UID), 10)
	after := func(reply []byte) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.st = st
		if !s.joinedOnce {
			// The socket has proven a valid key: full-size frames from now on.
			s.joinedOnce = true
			if s.joinTimer != nil {
				s.joinTimer.Stop()
			}
			s.conn.SetReadLimit(s.g.cfg.MaxMessageBytes)
		}
		s.queueLocked(reply)
		for _, p := range res.Publishers {
			s.queueLocked(encodePush(uidStatus("stream-added", p.UID)))
		}
		for _, p := range res.Publishers {
			if p.AudioMuted {
				s.queueLocked(encodePush(muteStatus("audio-mute", p.UID, true)))
			}
			if p.VideoMuted {
				s.queueLocked(encodePush(muteStatus("video-mute", p.UID, true)))
			}
		}
		for _, u := range res.Departed {
			s.queueLocked(encodePush(uidStatus("stream-removed", u)))
		}
		s.scheduleLocked(st)
		s.holding = false
		held := s.held
		s.held = nil
		for _, ev := range held {
			s.eventLocked(ev)
		}
	}
	s.log.Info("session joined", "app", app.ID, "channel", chName, "uid", res.UID, "account", st.account,
		"role", role.String(), "resumed", res.Resumed, "replaced", res.Replaced, "rejoin", req.has("known_speakers"))
	reply := joinReply{UID: res.UID}
	if wantTicket && s.g.diag.Load() != nil {
		reply.LogTicket = s.g.signer.LogTicket(app.ID, chName, res.UID, s.g.cfg.Clock.Now().Add(s.g.cfg.LogTicketTTL))
	}
	return reply, after, nil
}

// routeJoin asks the Router where the channel is served. It returns false
// when this node serves it, true once the session is forwarded to the owner,
// or the error to answer.
func (s *session) routeJoin(ctx context.Context, req *request, app, chName string) (bool, error) {
	rt, err := s.g.route(ctx, app, chName)
	if err != nil {
		s.log.Warn("join refused: channel placement failed", "app", app, "channel", chName, "err", err)
		if e, ok := errcode.As(err); ok {
			return false, e
		}
		return false, errcode.ClusterUnavailable("the cluster store cannot be reached to place this channel; retry the join in a few seconds").WithCause(err)
	}
	if rt.Local {
		return false, nil
	}
	if s.relayed {
		// Never forward twice: the placement changed between the two nodes'
		// looks; a new allocation finds the owner.
		return false, errcode.ClusterUnavailable(fmt.Sprintf("the channel moved to node %q while this join was forwarded; retry the join", rt.Node))
	}
	if err := s.forwardJoin(ctx, rt, req.raw); err != nil {
		s.log.Warn("join refused: the channel's node cannot be reached", "app", app, "channel", chName, "node", rt.Node, "err", err)
		return false, err
	}
	return true, nil
}

// checkKey verifies the join key (4.1 step 4) and records the grant in st.
func (s *session) checkKey(st *member, key, chName string) error {
	app := st.app
	if key == "" || key == app.ID {
		if app.Certificate == "" || app.Settings.AllowNoToken {
			st.noToken, st.grant = true, token.Grant{}
			return nil
		}
		return errcode.InvalidKey("this app requires a token: pass one to join()")
	}
	if app.Certificate == "" {
		return errcode.InvalidKey("this app has no certificate: pass no token (or the appId)")
	}
	g, err := token.Check(key, token.Claims{AppID: app.ID, AppCert: app.Certificate, Channel: chName, UID: st.claimUID},
		s.g.cfg.Clock.Now())
	if err != nil {
		return err
	}
	st.noToken, st.grant = false, g
	return nil
}

// scheduleLocked (re)arms st's key expiry and URL refresh timers; s.mu held.
func (s *session) scheduleLocked(st *member) {
	st.stopTimers()
	clk := s.g.cfg.Clock
	if !st.noToken && !st.grant.Expires.IsZero() {
		left := st.grant.Expires.Sub(clk.Now())
		will := left - s.g.cfg.KeyWillExpireLead
		if will <= 0 {
			s.queueLocked(encodePush(&status{Action: "key-will-expire"}))
		} else {
			st.willExp = clk.AfterFunc(will, func() { s.keyWillExpire(st) })
		}
		st.expired = clk.AfterFunc(max(left, 0), func() { s.keyExpired(st) })
	}
	st.refresh = clk.AfterFunc(s.g.cfg.URLTTL-s.g.cfg.URLRefreshLead, func() { s.refreshURLs(st) })
}

func (s *session) keyWillExpire(st *member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st == st {
		s.queueLocked(encodePush(&status{Action: "key-will-expire"}))
	}
}

// keyExpired pushes key-expired, removes the member and closes after a moment.
func (s *session) keyExpired(st *member) {
	s.mu.Lock()
	if s.st != st {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	_ = s.g.channels.TokenExpired(st.ref) // for observers (webhooks); the leave follows
	// The push says why with the catalogue code (the SDK emits error {401,
	// "dynamic key expired: …"}, then token-privilege-did-expire).
	s.terminate(encodeStatusPush(errcode.KeyExpired(st.grant.Expires), &status{Action: "key-expired"}),
		s.g.cfg.ExpiredCloseDelay, errcode.LeaveOther)
}

// refreshURLs pushes update-url with fresh URLs for every subscription and the
// member's own push URL before the old ones expire, then re-arms itself.
func (s *session) refreshURLs(st *member) {
	s.mu.Lock()
	if s.st != st {
		s.mu.Unlock()
		return
	}
	subs := make(map[uint32]bool, len(st.subs))
	for k, v := range st.subs {
		subs[k] = v
	}
	edges := make(map[uint32]playHost, len(st.edges))
	for k, v := range st.edges {
		edges[k] = v
	}
	s.mu.Unlock()
	var frames [][]byte
	publishing := false
	if mi, ok := s.g.channels.Member(st.ref.App, st.ref.Channel, st.ref.UID); ok && mi.Publishing {
		publishing = true
		u := s.pushURL(st)
		if s.g.channels.SetPushURL(st.ref, u) == nil {
			uid := st.ref.UID
			frames = append(frames, encodePush(&status{Action: "update-url", UID: &uid, URL: u}))
		}
	}
	for target, flv := range subs {
		t := target
		frames = append(frames, encodePush(&status{Action: "update-url", UID: &t, URL: s.playURLAt(st, target, flv, edges[target])}))
	}
	// The member's media sessions its signed URLs let in last as long as the
	// URLs it now holds.
	s.renewMedia(st, token.ActionPlay, s.g.cfg.Clock.Now().Add(s.g.cfg.URLTTL))
	if publishing {
		s.renewMedia(st, token.ActionPublish, s.g.cfg.Clock.Now().Add(s.g.cfg.URLTTL))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st != st {
		return
	}
	for _, f := range frames {
		s.queueLocked(f)
	}
	st.refresh = s.g.cfg.Clock.AfterFunc(s.g.cfg.URLTTL-s.g.cfg.URLRefreshLead, func() { s.refreshURLs(st) })
}

func (s *session) stream(st *member, uid string) string {
	return token.StreamName(st.ref.App, st.ref.Channel, uid)
}

func (s *session) pushURL(st *member) string {
	name := s.stream(st, st.uidStr)
	exp := s.g.cfg.Clock.Now().Add(s.g.cfg.URLTTL)
	return "rtmp://" + s.rtmpHost + "/live/" + name + "?" + s.g.signer.Query(token.ActionPublish, name, exp)
}

// playURLAt is the signed play URL of target's stream for st, at the edge
// node at (this node when at is the zero value).
func (s *session) playURLAt(st *member, target uint32, flv bool, at playHost) string {
	rtmpHost, httpBase := s.rtmpHost, s.httpBase
	if at.rtmp != "" {
		rtmpHost = at.rtmp
	}
	if at.httpBase != "" {
		httpBase = at.httpBase
	}
	name := s.stream(st, strconv.FormatUint(uint64(target), 10))
	q := s.g.signer.ViewerQuery(token.ActionPlay, name, st.uidStr, s.g.cfg.Clock.Now().Add(s.g.cfg.URLTTL))
	if flv {
		return httpBase + "/live/" + name + ".flv?" + q
	}
	return "rtmp://" + rtmpHost + "/live/" + name + "?" + q
}

func (s *session) setRole(st *member, req *request) error {
	if !req.has("role") {
		return errcode.BadRole("role is missing")
	}
	text, err := req.str("role")
	if err != nil {
		return errcode.BadRole("role must be a string")
	}
	role, err := channel.ParseRole(text)
	if err != nil {
		return err
	}
	return s.g.channels.SetRole(st.ref, role)
}

type urlReply struct {
	URL string `json:"url"`
}

// credential is what the member joined (or renewed) with.
func (st *member) credential() admission.Credential {
	return admission.Credential{NoToken: st.noToken, Grant: st.grant}
}

// renewMedia extends the deadline of the member's media sessions that do
// action (see Config.Access).
func (s *session) renewMedia(st *member, action token.Action, until time.Time) {
	if s.g.cfg.Access == nil || until.IsZero() {
		return
	}
	s.g.cfg.Access.Renew(st.ref.App, st.ref.Channel, st.uidStr, action, until)
	if st.account != "" {
		s.g.cfg.Access.Renew(st.ref.App, st.ref.Channel, st.account, action, until)
	}
}

func (s *session) publish(st *member) (any, error) {
	// The one credential rule of every door (a subscriber token never
	// publishes); the channel model then checks the role.
	if _, err := admission.Admit(st.app.Settings, st.credential(), token.ActionPublish, s.g.cfg.Clock.Now()); err != nil {
		return nil, err
	}
	u, _, err := s.g.channels.Publish(st.ref, s.pushURL(st))
	if err != nil {
		return nil, err
	}
	return urlReply{URL: u}, nil
}

type subscribeReply struct {
	URL      string `json:"url"`
	Rotation int    `json:"rotation"`
}

func (s *session) subscribe(st *member, req *request) (any, error) {
	target, err := req.targetUID("uid")
	if err != nil {
		return nil, err
	}
	opts, err := req.object("options")
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"audio", "video"} {
		if _, err := opts.boolean(f); err != nil {
			return nil, err
		}
	}
	flv := s.g.cfg.FLV
	if opts.has("flv") {
		if flv, err = opts.boolean("flv"); err != nil {
			return nil, err
		}
	}
	info, err := s.g.channels.Subscribe(st.ref, target)
	if err != nil {
		return nil, err
	}
	// In a cluster, a busy stream's readers are sent to an edge node.
	at, edge := s.g.playHost(st.ref.App, st.ref.Channel, strconv.FormatUint(uint64(target), 10), st.uidStr, flv)
	s.mu.Lock()
	if st.subs == nil {
		st.subs = make(map[uint32]bool)
	}
	st.subs[target] = flv
	if edge {
		if st.edges == nil {
			st.edges = make(map[uint32]playHost)
		}
		st.edges[target] = at
	} else {
		delete(st.edges, target)
	}
	s.mu.Unlock()
	return subscribeReply{URL: s.playURLAt(st, target, flv, at), Rotation: info.Rotation}, nil
}

func (s *session) unsubscribe(st *member, req *request) error {
	targets, err := req.uidList("uid", true)
	if err != nil {
		return err
	}
	for _, t := range targets {
		if err := s.g.channels.Unsubscribe(st.ref, t); err != nil {
			return err
		}
		s.mu.Lock()
		delete(st.subs, t)
		delete(st.edges, t)
		s.mu.Unlock()
	}
	return nil
}

func muteTarget(req *request) ([]channel.Media, error) {
	t, err := req.str("target")
	if err != nil {
		return nil, err
	}
	switch t {
	case "audio":
		return []channel.Media{channel.MediaAudio}, nil
	case "video":
		return []channel.Media{channel.MediaVideo}, nil
	case "all":
		return []channel.Media{channel.MediaAudio, channel.MediaVideo}, nil
	}
	return nil, errcode.BadRequest(fmt.Sprintf("target must be \"audio\", \"video\" or \"all\" (got %q)", t))
}

func (s *session) muteLocal(st *member, req *request) error {
	media, err := muteTarget(req)
	if err != nil {
		return err
	}
	if !req.has("mute") {
		return errcode.BadRequest("field \"mute\" is missing")
	}
	mute, err := req.boolean("mute")
	if err != nil {
		return err
	}
	return s.g.channels.MuteLocal(st.ref, mute, media...)
}

func (s *session) setRemoteStreamType(req *request) error {
	if _, err := req.targetUID("uid"); err != nil {
		return err
	}
	t, err := req.scalar("type")
	if err != nil {
		return err
	}
	if t != "0" && t != "1" {
		return errcode.BadRequest(fmt.Sprintf("type must be 0 (high) or 1 (low) (got %q)", t))
	}
	return nil // one quality per stream: nothing changes
}

func (s *session) updateKey(st *member, req *request) error {
	key, err := req.str("key_vos")
	if err != nil {
		return err
	}
	if key == "" {
		if key, err = req.str("key_vocs"); err != nil {
			return err
		}
	}
	next := *st
	if err := s.checkKey(&next, key, st.ref.Channel); err != nil {
		return err
	}
	s.mu.Lock()
	if s.st != st {
		s.mu.Unlock()
		return errcode.BadRequest("\"update_key\" before join")
	}
	st.noToken, st.grant = next.noToken, next.grant
	s.scheduleLocked(st)
	s.mu.Unlock()
	s.log.Info("token renewed", "app", st.ref.App, "channel", st.ref.Channel, "uid", st.ref.UID, "expires", next.grant.Expires)
	// The media sessions the member's token let in (WHIP/WHEP with the old
	// token) last as long as the new one allows.
	now := s.g.cfg.Clock.Now()
	for _, a := range []token.Action{token.ActionPlay, token.ActionPublish} {
		if until, err := admission.Admit(st.app.Settings, next.credential(), a, now); err == nil {
			s.renewMedia(st, a, until)
		}
	}
	return nil
}

func (s *session) updateURL(st *member, req *request) (any, error) {
	role, err := req.str("role")
	if err != nil {
		return nil, err
	}
	if role != "" && role != "publish" {
		return nil, errcode.BadRequest(fmt.Sprintf("role must be \"publish\" (got %q)", role))
	}
	u := s.pushURL(st)
	if err := s.g.channels.SetPushURL(st.ref, u); err != nil {
		return nil, err
	}
	return urlReply{URL: u}, nil
}

func (s *session) leave(st *member) error {
	if err := s.g.channels.Leave(st.ref, errcode.LeaveNormal); err != nil {
		return err
	}
	s.mu.Lock()
	if s.st == st {
		s.st = nil
		st.stopTimers()
	}
	if s.leaveClose != nil {
		s.leaveClose.Stop()
	}
	s.leaveClose = time.AfterFunc(s.g.cfg.LeaveCloseDelay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.st == nil && !s.closing {
			s.closing = true
			s.kickLocked()
		}
	})
	s.mu.Unlock()
	s.log.Info("session left", "app", st.ref.App, "channel", st.ref.Channel, "uid", st.ref.UID,
		"leave_reason", int(errcode.LeaveNormal), "reason", errcode.LeaveNormal.String())
	return nil
}
