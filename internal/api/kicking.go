package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
)

// Agora's banning rules ("kicking-rule"): POST creates, GET lists, PUT
// changes the duration, DELETE lifts one. Rules are stored (they survive a
// restart, see the node's loadKickingRules) and applied to the channel
// model at once (Bans): matching members are kicked with the catalogue's
// banned error, or stop publishing, and the admission gate ends matching
// media sessions. docs/rest-api.md, "Banning rules".

// Bans applies banning rules (*channel.Manager has it).
type Bans interface {
	Ban(rule channel.BanRule) int
	UnbanID(id uint64) bool
}

// Durations, as Agora bounds them: time in minutes [1, 1440], or
// time_in_seconds [10, 86430] (which wins when both are given); 60 minutes
// when neither is. 0 kicks without a lasting rule.
const (
	defaultRuleTime = 60 * time.Minute
	maxRuleMinutes  = 1440
	minRuleSeconds  = 10
	maxRuleSeconds  = 86430
	maxChannelName  = 64 // Agora's channel name limit, in bytes
	// defaultMaxKickingRules caps a node's active rules (Config): every
	// join and media connection checks them in turn.
	defaultMaxKickingRules = 10000
)

// flexInt is a JSON integer that may come as a number or a numeric string
// (Agora's own examples send both).
type flexInt struct {
	v   int64
	set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	s := string(b)
	if len(b) > 1 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			return nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not a whole number", b)
	}
	f.v, f.set = n, true
	return nil
}

// ruleDuration reads time and time_in_seconds.
func ruleDuration(minutes, seconds flexInt) (time.Duration, error) {
	switch {
	case seconds.set && seconds.v < 0, !seconds.set && minutes.set && minutes.v < 0:
		return 0, errcode.BadRequest("time and time_in_seconds must not be negative (0 kicks without banning)")
	case seconds.set && seconds.v == 0, !seconds.set && minutes.set && minutes.v == 0:
		return 0, nil
	case seconds.set:
		return time.Duration(min(max(seconds.v, minRuleSeconds), maxRuleSeconds)) * time.Second, nil
	case minutes.set:
		return time.Duration(min(minutes.v, maxRuleMinutes)) * time.Minute, nil
	}
	return defaultRuleTime, nil
}

var privilegeBits = map[string]channel.Privilege{
	store.PrivilegeJoinChannel:  channel.PrivJoin,
	store.PrivilegePublishAudio: channel.PrivPublishAudio,
	store.PrivilegePublishVideo: channel.PrivPublishVideo,
}

// KickingBanRule is the channel model's form of a stored rule.
func KickingBanRule(r store.KickingRule) channel.BanRule {
	b := channel.BanRule{ID: r.ID, App: r.App, Channel: r.Channel, UID: r.UID, IP: r.IP, Until: r.Until}
	for _, p := range r.Privileges {
		b.Privileges |= privilegeBits[p]
	}
	return b
}

// agoraRule is a rule in the shape of Agora's rule list.
type agoraRule struct {
	ID         uint64   `json:"id"`
	AppID      string   `json:"appid"`
	UID        uint32   `json:"uid"`
	OpID       uint64   `json:"opid"` // minirtc: the rule id (Agora: an operation id for its support)
	Cname      string   `json:"cname"`
	IP         string   `json:"ip"`
	TS         string   `json:"ts"` // when the rule expires, UTC
	Privileges []string `json:"privileges"`
	CreateAt   string   `json:"createAt"`
	UpdateAt   string   `json:"updateAt"`
}

// agoraTime is Agora's time format in the rule list.
func agoraTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func toAgoraRule(r store.KickingRule) agoraRule {
	return agoraRule{ID: r.ID, AppID: r.App, UID: r.UID, OpID: r.ID, Cname: r.Channel, IP: r.IP, TS: agoraTime(r.Until),
		Privileges: r.Privileges, CreateAt: agoraTime(r.CreatedAt), UpdateAt: agoraTime(r.UpdatedAt)}
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// kickingReady answers 404 when the node did not wire banning rules.
func (s *Server) kickingReady(w http.ResponseWriter, r *http.Request) bool {
	if s.deps.Bans == nil {
		WriteError(w, r, errcode.NotFound("banning rules are not served by this node"))
		return false
	}
	return true
}

// ruleApp loads the app a rule call names; "" is 400.
func (s *Server) ruleApp(r *http.Request, id string) (store.App, error) {
	if id == "" {
		return store.App{}, errcode.BadRequest("appid is required")
	}
	return s.app(r, id)
}

// agoraCreateRule: POST /dev/v1/kicking-rule
// {"appid", "cname", "uid", "ip", "time", "time_in_seconds", "privileges"}
func (s *Server) agoraCreateRule(w http.ResponseWriter, r *http.Request) {
	if !s.kickingReady(w, r) {
		return
	}
	var req struct {
		AppID      string   `json:"appid"`
		Cname      string   `json:"cname"`
		UID        flexInt  `json:"uid"`
		IP         string   `json:"ip"`
		Time       flexInt  `json:"time"`
		Seconds    flexInt  `json:"time_in_seconds"`
		Privileges []string `json:"privileges"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		WriteError(w, r, err)
		return
	}
	a, err := s.ruleApp(r, req.AppID)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	rule := store.KickingRule{App: a.ID, Channel: req.Cname}
	if len(req.Cname) > maxChannelName {
		WriteError(w, r, errcode.BadRequest(fmt.Sprintf("cname must be at most %d bytes", maxChannelName)))
		return
	}
	if req.UID.set {
		if req.UID.v < 0 || req.UID.v > 1<<32-1 {
			WriteError(w, r, errcode.InvalidUID(fmt.Sprintf("uid must be 1..4294967295 (got %d)", req.UID.v)))
			return
		}
		rule.UID = uint32(req.UID.v) // 0: any uid, as if absent
	}
	if req.IP != "" && req.IP != "0" {
		ip, err := netip.ParseAddr(req.IP)
		if err != nil {
			WriteError(w, r, errcode.BadRequest(fmt.Sprintf("ip %q is not an IP address", req.IP)))
			return
		}
		rule.IP = ip.Unmap().WithZone("").String()
	}
	if rule.Channel == "" && rule.UID == 0 && rule.IP == "" {
		WriteError(w, r, errcode.BadRequest("a rule needs at least one of cname, uid and ip (it would ban the whole app)"))
		return
	}
	if len(req.Privileges) == 0 {
		req.Privileges = []string{store.PrivilegeJoinChannel}
	}
	for _, p := range req.Privileges {
		if _, ok := privilegeBits[p]; !ok {
			WriteError(w, r, errcode.BadRequest(fmt.Sprintf("privilege %q: use join_channel, publish_audio or publish_video", p)))
			return
		}
		if !slices.Contains(rule.Privileges, p) {
			rule.Privileges = append(rule.Privileges, p)
		}
	}
	d, err := ruleDuration(req.Time, req.Seconds)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	now := s.now()
	rule.Until, rule.CreatedAt, rule.UpdatedAt = now.Add(d).UTC(), now.UTC(), now.UTC()
	if d == 0 {
		rule.Until = now.Add(time.Nanosecond).UTC() // valid to store; applied once, then gone
	}
	rule.KeyID = keyID(r)
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	if d > 0 {
		if err := s.roomForRule(ctx, now); err != nil {
			WriteError(w, r, err)
			return
		}
	}
	id, err := s.deps.Store.PutKickingRule(ctx, rule)
	if err != nil {
		WriteError(w, r, fmt.Errorf("api: store kicking rule: %w", err))
		return
	}
	rule.ID = id
	if d == 0 {
		// Kick only: nothing lasts, the id is still the rule's own.
		if err := s.deps.Store.DeleteKickingRule(ctx, id); err != nil {
			WriteError(w, r, fmt.Errorf("api: drop kick-only rule: %w", err))
			return
		}
		rule.Until = now.UTC()
	}
	n := s.deps.Bans.Ban(KickingBanRule(rule))
	s.announceRule(w, r, rule, false)
	s.log.Info("kicking rule added", "rule", id, "app", rule.App, "channel", rule.Channel, "uid", rule.UID, "ip", rule.IP,
		"privileges", rule.Privileges, "until", rule.Until, "members", n)
	WriteJSON(w, http.StatusOK, map[string]any{"status": "success", "id": id})
}

// agoraListRules: GET /dev/v1/kicking-rule?appid= — the app's active rules;
// expired ones are dropped from the store on the way.
func (s *Server) agoraListRules(w http.ResponseWriter, r *http.Request) {
	if !s.kickingReady(w, r) {
		return
	}
	a, err := s.ruleApp(r, r.URL.Query().Get("appid"))
	if err != nil {
		WriteError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	rules, err := s.deps.Store.KickingRules(ctx)
	if err != nil {
		WriteError(w, r, fmt.Errorf("api: list kicking rules: %w", err))
		return
	}
	now := s.now()
	out := []agoraRule{}
	for _, rule := range rules {
		if !now.Before(rule.Until) {
			if err := s.deps.Store.DeleteKickingRule(ctx, rule.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("could not drop an expired kicking rule", "rule", rule.ID, "err", err)
			}
			continue
		}
		if rule.App == a.ID {
			out = append(out, toAgoraRule(rule))
		}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"status": "success", "rules": out})
}

// ruleRef reads {"appid", "id"} and loads that active rule of that app.
func (s *Server) ruleRef(r *http.Request, appID string, id flexInt) (store.KickingRule, error) {
	if _, err := s.ruleApp(r, appID); err != nil {
		return store.KickingRule{}, err
	}
	if !id.set || id.v <= 0 {
		return store.KickingRule{}, errcode.BadRequest("id must be the rule id that POST returned (a number from 1)")
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	rule, err := s.deps.Store.KickingRule(ctx, uint64(id.v))
	if errors.Is(err, store.ErrNotFound) || (err == nil && (rule.App != appID || !s.now().Before(rule.Until))) {
		return rule, errcode.NotFound(fmt.Sprintf("no active rule %d in app %s (see GET /dev/v1/kicking-rule?appid=%s)", id.v, appID, appID))
	}
	if err != nil {
		return rule, fmt.Errorf("api: load kicking rule: %w", err)
	}
	return rule, nil
}

// agoraUpdateRule: PUT /dev/v1/kicking-rule {"appid", "id", "time", "time_in_seconds"}:
// the rule now lasts that long from now; 0 kicks its members and lifts it.
func (s *Server) agoraUpdateRule(w http.ResponseWriter, r *http.Request) {
	if !s.kickingReady(w, r) {
		return
	}
	var req struct {
		AppID   string  `json:"appid"`
		ID      flexInt `json:"id"`
		Time    flexInt `json:"time"`
		Seconds flexInt `json:"time_in_seconds"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		WriteError(w, r, err)
		return
	}
	d, err := ruleDuration(req.Time, req.Seconds)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	rule, err := s.ruleRef(r, req.AppID, req.ID)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	now := s.now()
	rule.Until, rule.UpdatedAt = now.Add(d).UTC(), now.UTC()
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	if d == 0 {
		err = s.deps.Store.DeleteKickingRule(ctx, rule.ID)
	} else {
		_, err = s.deps.Store.PutKickingRule(ctx, rule)
	}
	if err != nil {
		WriteError(w, r, fmt.Errorf("api: update kicking rule: %w", err))
		return
	}
	s.deps.Bans.Ban(KickingBanRule(rule))
	s.announceRule(w, r, rule, false)
	s.log.Info("kicking rule updated", "rule", rule.ID, "app", rule.App, "until", rule.Until)
	WriteJSON(w, http.StatusOK, map[string]any{"status": "success",
		"result": map[string]any{"id": rule.ID, "ts": agoraTime(rule.Until)}})
}

// agoraDeleteRule: DELETE /dev/v1/kicking-rule {"appid", "id"}: lifted at once.
func (s *Server) agoraDeleteRule(w http.ResponseWriter, r *http.Request) {
	if !s.kickingReady(w, r) {
		return
	}
	var req struct {
		AppID string  `json:"appid"`
		ID    flexInt `json:"id"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		WriteError(w, r, err)
		return
	}
	rule, err := s.ruleRef(r, req.AppID, req.ID)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	if err := s.deps.Store.DeleteKickingRule(ctx, rule.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		WriteError(w, r, fmt.Errorf("api: delete kicking rule: %w", err))
		return
	}
	s.deps.Bans.UnbanID(rule.ID)
	s.announceRule(w, r, rule, true)
	s.log.Info("kicking rule deleted", "rule", rule.ID, "app", rule.App)
	WriteJSON(w, http.StatusOK, map[string]any{"status": "success", "id": rule.ID})
}

// keyID is the API key id of an authenticated call (for a call forwarded
// by another node, the key the client used there).
func keyID(r *http.Request) string {
	if c, ok := callOf(r); ok {
		return c.key
	}
	id, _, _ := r.BasicAuth()
	return id
}

// roomForRule refuses a new rule when the node has Config.MaxKickingRules active.
func (s *Server) roomForRule(ctx context.Context, now time.Time) error {
	rules, err := s.deps.Store.KickingRules(ctx)
	if err != nil {
		return fmt.Errorf("api: count kicking rules: %w", err)
	}
	active := 0
	for _, r := range rules {
		if now.Before(r.Until) {
			active++
		}
	}
	if active >= s.cfg.MaxKickingRules {
		return errcode.BadRequest(fmt.Sprintf("this node has %d active banning rules, the most it keeps: delete some (DELETE /dev/v1/kicking-rule) or let them expire", active))
	}
	return nil
}
