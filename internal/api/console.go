package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/diag"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
)

// The endpoints the web console needs (docs/console.md, docs/rest-api.md
// "Console endpoints"): a member's diagnostics timeline with diagnosis
// hints, its uploaded SDK logs, kick (and ban), a node overview and a live
// stream of changes (server-sent events). They are added by EnableConsole
// and share the API's authentication and rate limit.

// Kicker removes members (*channel.Manager has it).
type Kicker interface {
	Kick(app, channel string, uid uint32, detail string) error
	Ban(rule channel.BanRule) int
}

// NodeOverview is the node's figures for the console.
type NodeOverview struct {
	Version         string    `json:"version"`
	StartedAt       time.Time `json:"startedAt"`
	CPUs            int       `json:"cpus"`
	CPUSeconds      float64   `json:"cpuSeconds"` // process user+system time so far
	CPUPercent      float64   `json:"cpuPercent"` // of one core, since the previous call (0 on the first)
	MemoryRSS       int64     `json:"memoryRss"`  // bytes, resident set (0 when unknown)
	HeapInUse       int64     `json:"heapInUse"`
	Goroutines      int       `json:"goroutines"`
	TCPConnections  int       `json:"tcpConnections"`  // open on the node's listeners
	GatewaySessions int       `json:"gatewaySessions"` // mini program WebSockets
	Apps            int       `json:"apps"`            // apps with a channel on this node
	Channels        int       `json:"channels"`
	Members         int       `json:"members"`
	Streams         int       `json:"streams"`
	Publishers      int       `json:"publishers"`
	Readers         int       `json:"readers"`
	Transcoders     int       `json:"transcoders"` // audio bridges running (-1 when metrics are off)
}

// ConsoleDeps are the console endpoints' data sources. Events and Kicker
// are required; Diagnostics and Node may be nil (no timeline reports, no
// logs, no node figures).
type ConsoleDeps struct {
	Events      *EventLog
	Kicker      Kicker
	Diagnostics *diag.Store
	Node        func() NodeOverview
	// TokenExpiry says when a member's join privilege ends (the gateway
	// knows it for mini program members); nil or ok false: unknown.
	TokenExpiry func(app, channel string, uid uint32) (time.Time, bool)
	// Tick is how often the live stream sends a "tick" event, on which the
	// console refreshes figures that have no event of their own (network
	// reports, bitrates, node figures). Zero means 2 s.
	Tick time.Duration
}

// MaxBan is the longest ban the kick endpoint sets.
const MaxBan = 30 * 24 * time.Hour

type console struct {
	s    *Server
	deps ConsoleDeps

	mu      sync.Mutex
	lastCPU float64
	lastAt  time.Time
}

// EnableConsole adds the console endpoints. Call it before the Server serves.
func (s *Server) EnableConsole(d ConsoleDeps) error {
	if d.Events == nil || d.Kicker == nil {
		return errors.New("api: EnableConsole needs an event log and a kicker")
	}
	if d.Tick <= 0 {
		d.Tick = 2 * time.Second
	}
	c := &console{s: s, deps: d}
	const member = "/v1/apps/{appId}/channels/{channel}/members/{uid}"
	// In a cluster a member's calls are served by its channel's node.
	s.Handle("GET "+member+"/timeline", s.owned("appId", "channel", c.timeline))
	s.Handle("GET "+member+"/logs", s.owned("appId", "channel", c.memberLogs))
	s.Handle("POST "+member+"/kick", s.owned("appId", "channel", c.kick))
	s.Handle("GET /v1/apps/{appId}/logs/{day}/{name}", http.HandlerFunc(c.readLog))
	s.Handle("GET /v1/node", http.HandlerFunc(c.node))
	if s.deps.Cluster != nil {
		s.Handle("GET /v1/nodes", http.HandlerFunc(c.nodes))
		s.Handle("GET /internal/v1/node", s.nodeOnly(c.node))
	}
	s.Handle("GET /v1/events", http.HandlerFunc(c.events))
	s.Handle("GET /v1/state-codes", http.HandlerFunc(c.codes))
	return nil
}

// Unwrap lets http.ResponseController reach the connection (Flush for the
// live stream).
func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TimelineItem is one entry of a member's timeline.
type TimelineItem struct {
	At       time.Time `json:"at"`
	Source   string    `json:"source"` // channel, pusher or player
	Kind     string    `json:"kind"`   // a channel event's name, or "state"
	Code     int       `json:"code,omitempty"`
	Message  string    `json:"message,omitempty"` // the client's own words
	Meaning  string    `json:"meaning,omitempty"` // the code in words, or the event's detail
	Severity string    `json:"severity"`
	Fix      string    `json:"fix,omitempty"`
	Target   uint32    `json:"target,omitempty"` // player: the publisher it plays
}

// NetPoint is one network report in the timeline's chart series.
type NetPoint struct {
	At     time.Time     `json:"at"`
	Target uint32        `json:"target,omitempty"`
	Stats  diag.NetStats `json:"stats"`
}

// Hint is a likely cause of a classic failure, stated in words.
type Hint struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

// Timeline is GET .../members/{uid}/timeline.
type Timeline struct {
	AppID     string         `json:"appId"`
	Channel   string         `json:"channel"`
	UID       uint32         `json:"uid"`
	Member    *Member        `json:"member"` // null when it is not in the channel now
	Items     []TimelineItem `json:"items"`  // oldest first
	PusherNet []NetPoint     `json:"pusherNet"`
	PlayerNet []NetPoint     `json:"playerNet"`
	Hints     []Hint         `json:"hints"`
	// TokenExpires is when the member's token ends, when known.
	TokenExpires *time.Time `json:"tokenExpires,omitempty"`
}

func (c *console) memberRef(w http.ResponseWriter, r *http.Request) (appID, ch string, uid uint32, ok bool) {
	a, err := c.s.app(r, r.PathValue("appId"))
	if err == nil {
		uid, err = parseUID(r.PathValue("uid"))
	}
	if err != nil {
		WriteError(w, r, err)
		return "", "", 0, false
	}
	return a.ID, r.PathValue("channel"), uid, true
}

func (c *console) timeline(w http.ResponseWriter, r *http.Request) {
	appID, ch, uid, ok := c.memberRef(w, r)
	if !ok {
		return
	}
	tl := Timeline{AppID: appID, Channel: ch, UID: uid, Items: []TimelineItem{}, PusherNet: []NetPoint{},
		PlayerNet: []NetPoint{}, Hints: []Hint{}}
	var stream *Stream
	if mi, ok := c.s.deps.Channels.Member(appID, ch, uid); ok {
		m := toMember(mi)
		tl.Member = &m
		if c.s.deps.Media != nil {
			key := media.Key{AppID: appID, Channel: ch, UID: strconv.FormatUint(uint64(uid), 10)}
			for _, sd := range c.s.deps.Media.Streams() {
				if sd.Key == key {
					st := toStream(sd)
					stream = &st
					m.Stream = stream
				}
			}
		}
	}
	events := c.deps.Events.Member(appID, ch, uid)
	for _, ev := range events {
		sev := sevInfo
		if ev.Kind == channel.EventKicked.String() {
			sev = sevError
		}
		tl.Items = append(tl.Items, TimelineItem{At: ev.At, Source: "channel", Kind: ev.Kind, Meaning: ev.Detail, Severity: sev})
	}
	var rep diag.Report
	if c.deps.Diagnostics != nil {
		rep, _ = c.deps.Diagnostics.Recent(appID, ch, uid)
	}
	states := func(source string, player bool, evs []diag.StateEvent) {
		for _, ev := range evs {
			info, _ := DescribeCode(player, ev.Code)
			tl.Items = append(tl.Items, TimelineItem{At: ev.Received.UTC(), Source: source, Kind: "state", Code: ev.Code,
				Message: ev.Message, Meaning: info.Meaning, Severity: info.Severity, Fix: info.Fix, Target: ev.Target})
		}
	}
	states("pusher", false, rep.PusherStates)
	states("player", true, rep.PlayerStates)
	slices.SortStableFunc(tl.Items, func(a, b TimelineItem) int { return a.At.Compare(b.At) })
	for _, s := range rep.PusherNet {
		tl.PusherNet = append(tl.PusherNet, NetPoint{At: s.Received.UTC(), Target: s.Target, Stats: s.Stats})
	}
	for _, s := range rep.PlayerNet {
		tl.PlayerNet = append(tl.PlayerNet, NetPoint{At: s.Received.UTC(), Target: s.Target, Stats: s.Stats})
	}
	var tokenExp time.Time
	if c.deps.TokenExpiry != nil && tl.Member != nil {
		if exp, ok := c.deps.TokenExpiry(appID, ch, uid); ok {
			tokenExp = exp.UTC()
			tl.TokenExpires = &tokenExp
		}
	}
	tl.Hints = diagnose(time.Now(), tl.Member, stream, events, rep, tokenExp)
	WriteJSON(w, http.StatusOK, tl)
}

// Diagnosis thresholds; each states its reason.
const (
	// noMediaAfter: a live-pusher reaches 1002 within a few seconds of
	// publish on a working phone; 10 s leaves room for a slow network.
	noMediaAfter = 10 * time.Second
	// rejoinWindow and rejoinLoop: three joins of one uid within five
	// minutes is the 904/501 destroy-and-rejoin loop, not a user's retry.
	rejoinWindow = 5 * time.Minute
	rejoinLoop   = 3
	// poorQuality: netQualityLevel 4 and up is "bad" on the live
	// components' scale (1 excellent .. 6 down).
	poorQuality = 4
	// tokenSoon: the SDK is told 30 s ahead (key-will-expire); the console
	// warns earlier so an operator sees a renewal that is not coming.
	tokenSoon = 10 * time.Minute
)

// diagnose states the likely causes of the FAQ's classic failures from what
// is known about one member. m and stream may be nil; tokenExp is zero
// when unknown.
func diagnose(now time.Time, m *Member, stream *Stream, events []ChannelEvent, rep diag.Report, tokenExp time.Time) []Hint {
	hints := []Hint{}
	if m != nil && !tokenExp.IsZero() && tokenExp.Sub(now) <= tokenSoon {
		hints = append(hints, Hint{ID: "token-expiring", Title: "Token expiring soon",
			Text: fmt.Sprintf("The member's token ends in %s (at %s UTC). If the app does not renew it (renewToken on key-will-expire, "+
				"with a token from your token server), the member is removed when it expires.",
				max(0, tokenExp.Sub(now)).Round(time.Second), tokenExp.UTC().Format("15:04:05"))})
	}
	var published time.Time
	joins := 0
	for _, ev := range events {
		switch ev.Kind {
		case channel.EventStreamStarted.String():
			published = ev.At
		case channel.EventMemberJoined.String():
			if now.Sub(ev.At) <= rejoinWindow {
				joins++
			}
		}
	}
	reached1002, background := false, false
	for _, ev := range rep.PusherStates {
		switch ev.Code {
		case 1002:
			reached1002 = true
		case 5000, 5001:
			background = true
		}
	}
	live := stream != nil && stream.Live
	if m != nil && m.Publishing && !live && !reached1002 && !published.IsZero() && now.Sub(published) >= noMediaAfter {
		hints = append(hints, Hint{ID: "no-media", Title: "No media after publish",
			Text: fmt.Sprintf("The member published %s ago but its <live-pusher> never reported state 1002 (push started) and no media reached the node. "+
				"Check that the mini program may use live-pusher (an enterprise account in an approved category, the component enabled in the WeChat admin console) "+
				"and that the node's hosts are in the mini program's domain list.", now.Sub(published).Round(time.Second))})
	}
	if m != nil && m.Publishing && stream != nil && stream.Live && stream.Video == nil && m.Client.Kind == "whip" {
		hints = append(hints, Hint{ID: "vp8", Title: "Black video for viewers",
			Text: "The browser publishes without a video track the node can relay: its offer most likely had only VP8. " +
				"Mini programs and other viewers need H.264: make the page offer H.264 (the web SDK does; set codec preferences to H.264 in your own code)."})
	}
	if joins >= rejoinLoop || background {
		hints = append(hints, Hint{ID: "background", Title: "904/501 rejoin loop: app in the background",
			Text: fmt.Sprintf("The member joined %d times in the last %s and/or its pusher reported 5000/5001 (suspended/interrupted). "+
				"The mini program goes to the background: WeChat cuts its sockets (904/501) and the SDK rejoins. Keep the page in the foreground, "+
				"or handle onHide/onShow by leaving and rejoining once.", joins, rejoinWindow)})
	}
	bad := 0
	samples := append(append([]diag.NetSample(nil), lastN(rep.PusherNet, 3)...), lastN(rep.PlayerNet, 3)...)
	for _, s := range samples {
		if q, ok := s.Stats.Get("netQualityLevel"); ok && q >= poorQuality {
			bad++
		}
	}
	if len(samples) > 0 && 2*bad > len(samples) {
		hints = append(hints, Hint{ID: "high-loss", Title: "High loss / bad network",
			Text: "Most of the member's recent network reports rate the network bad (netQualityLevel 4 or worse): expect stutter and frozen video. " +
				"Move to a better network or lower the live-pusher's max-bitrate."})
	}
	return hints
}

func lastN[T any](s []T, n int) []T {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// memberLogs: GET .../members/{uid}/logs lists the member's uploaded SDK
// logs of the kept days, newest first.
func (c *console) memberLogs(w http.ResponseWriter, r *http.Request) {
	appID, ch, uid, ok := c.memberRef(w, r)
	if !ok {
		return
	}
	out := []diag.LogFile{}
	if d := c.deps.Diagnostics; d != nil {
		now := time.Now().UTC()
		for i := range max(1, d.Limits().RetentionDays) {
			day := now.AddDate(0, 0, -i).Format("2006-01-02")
			files, err := d.Logs(appID, day)
			if err != nil {
				WriteError(w, r, fmt.Errorf("api: list logs: %w", err))
				return
			}
			for _, f := range files {
				if f.Channel == ch && f.UID == uid {
					out = append(out, f)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b diag.LogFile) int { return cmp.Compare(b.Received.UnixNano(), a.Received.UnixNano()) })
	WriteJSON(w, http.StatusOK, list[diag.LogFile]{Items: out, Page: 1, PageSize: len(out), Total: len(out)})
}

// readLog: GET /v1/apps/{appId}/logs/{day}/{name}[?download=1] answers one
// upload as text.
func (c *console) readLog(w http.ResponseWriter, r *http.Request) {
	a, err := c.s.app(r, r.PathValue("appId"))
	if err != nil {
		WriteError(w, r, err)
		return
	}
	if c.deps.Diagnostics == nil {
		WriteError(w, r, errcode.NotFound("log upload is not enabled on this node"))
		return
	}
	day, name := r.PathValue("day"), r.PathValue("name")
	b, err := c.deps.Diagnostics.ReadLog(a.ID, day, name)
	if errors.Is(err, diag.ErrNotFound) && c.s.clustered(r) {
		// The upload went to the node the client was on: ask the others.
		if b, err = c.peerLog(r); err == nil {
			c.writeLog(w, r, name, b)
			return
		}
	}
	if errors.Is(err, diag.ErrNotFound) {
		WriteError(w, r, errcode.NotFound(fmt.Sprintf("no log %s/%s (see GET .../members/{uid}/logs)", day, name)))
		return
	}
	if err != nil {
		WriteError(w, r, err)
		return
	}
	c.writeLog(w, r, name, b)
}

func (c *console) writeLog(w http.ResponseWriter, r *http.Request, name string, b []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("download") != "" {
		// name is one diag.ReadLog accepted: [A-Za-z0-9_-] and ".log".
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	}
	_, _ = w.Write(b) //nolint:gosec // G705: served as text/plain with nosniff (and as an attachment on ?download)
}

// kickRequest is the (optional) body of POST .../members/{uid}/kick.
type kickRequest struct {
	// BanSeconds also refuses the uid's joins to the channel this long
	// (0: kick only; at most MaxBan).
	BanSeconds int64  `json:"banSeconds"`
	Reason     string `json:"reason"`
}

// KickResult answers a kick.
type KickResult struct {
	Kicked      bool       `json:"kicked"`
	BannedUntil *time.Time `json:"bannedUntil,omitempty"`
}

func (c *console) kick(w http.ResponseWriter, r *http.Request) {
	appID, ch, uid, ok := c.memberRef(w, r)
	if !ok {
		return
	}
	var req kickRequest
	if r.ContentLength != 0 {
		if err := decodeBody(r, &req, true); err != nil {
			WriteError(w, r, err)
			return
		}
	}
	if req.BanSeconds < 0 || time.Duration(req.BanSeconds)*time.Second > MaxBan {
		WriteError(w, r, errcode.BadRequest(fmt.Sprintf("banSeconds must be from 0 to %d", int64(MaxBan/time.Second))))
		return
	}
	if len(req.Reason) > 200 {
		WriteError(w, r, errcode.BadRequest("reason must be at most 200 characters"))
		return
	}
	detail := "kicked by an operator"
	if req.Reason != "" {
		detail += ": " + req.Reason
	}
	if req.BanSeconds > 0 {
		now := time.Now().UTC()
		until := now.Add(time.Duration(req.BanSeconds) * time.Second)
		rule := channel.BanRule{App: appID, Channel: ch, UID: uid, Until: until}
		// Stored like a /dev/v1/kicking-rule, so that the ban survives a
		// restart and is listed (and lifted) with the others.
		if st := c.s.deps.Store; st != nil {
			kr := store.KickingRule{App: appID, Channel: ch, UID: uid, Privileges: []string{store.PrivilegeJoinChannel},
				Until: until, CreatedAt: now, UpdatedAt: now, KeyID: keyID(r)}
			ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
			id, err := st.PutKickingRule(ctx, kr)
			cancel()
			if err != nil {
				WriteError(w, r, fmt.Errorf("api: store the ban: %w", err))
				return
			}
			kr.ID = id
			rule = KickingBanRule(kr)
		}
		n := c.deps.Kicker.Ban(rule)
		if rule.ID != 0 {
			// The ban holds on every node (a rejoin through another one).
			c.s.announceRule(w, r, store.KickingRule{ID: rule.ID, App: appID, Channel: ch, UID: uid,
				Privileges: []string{store.PrivilegeJoinChannel}, Until: until}, false)
		}
		WriteJSON(w, http.StatusOK, KickResult{Kicked: n > 0, BannedUntil: &until})
		return
	}
	if err := c.deps.Kicker.Kick(appID, ch, uid, detail); err != nil {
		WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, KickResult{Kicked: true})
}

// peerLog asks the other nodes for the log upload of the call's path (each
// answers from its own files); diag.ErrNotFound when none has it.
func (c *console) peerLog(r *http.Request) ([]byte, error) {
	ctx, cancel := context.WithTimeout(r.Context(), c.s.cfg.PeerTimeout)
	defer cancel()
	peers, err := c.s.deps.Cluster.Peers(ctx)
	if err != nil {
		return nil, diag.ErrNotFound
	}
	for _, p := range peers {
		if p.URL == "" {
			continue
		}
		//nolint:gosec // G704: the host is a peer's API address from the cluster registry, the path the one this node was asked
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.URL, "/")+r.URL.EscapedPath(), nil)
		if err != nil {
			continue
		}
		c.s.deps.Cluster.Sign(req.Header)
		resp, err := c.s.peerClient.Do(req) //nolint:gosec // G704: see above
		if err != nil {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerAnswer))
		_ = resp.Body.Close() // read side: the answer is read or failed above
		if err == nil && resp.StatusCode == http.StatusOK {
			return b, nil
		}
	}
	return nil, diag.ErrNotFound
}

// nodes: GET /v1/nodes (cluster mode) is every live node's overview, this
// one first, then by id; nodes that did not answer are in
// HeaderMissingNodes and missingNodes.
func (c *console) nodes(w http.ResponseWriter, r *http.Request) {
	if c.deps.Node == nil {
		WriteError(w, r, errcode.NotFound("node figures are not available"))
		return
	}
	out := []nodesEntry{{ID: c.s.deps.Cluster.Self(), NodeOverview: c.overview()}}
	answers, missing := gather[NodeOverview](c.s, r, http.MethodGet, "/internal/v1/node", nil)
	for _, a := range answers {
		out = append(out, nodesEntry{ID: a.Node, NodeOverview: a.V})
	}
	markMissing(w, missing)
	WriteJSON(w, http.StatusOK, list[nodesEntry]{Items: out, Page: 1, PageSize: len(out), Total: len(out), MissingNodes: missing})
}

func (c *console) node(w http.ResponseWriter, r *http.Request) {
	if c.deps.Node == nil {
		WriteError(w, r, errcode.NotFound("node figures are not available"))
		return
	}
	WriteJSON(w, http.StatusOK, c.overview())
}

// overview is the node's figures, with its CPU use since the last call.
func (c *console) overview() NodeOverview {
	o := c.deps.Node()
	now := time.Now()
	c.mu.Lock()
	if !c.lastAt.IsZero() && now.Sub(c.lastAt) > 100*time.Millisecond {
		o.CPUPercent = float64(int(1000*(o.CPUSeconds-c.lastCPU)/now.Sub(c.lastAt).Seconds())) / 10
	}
	c.lastCPU, c.lastAt = o.CPUSeconds, now
	c.mu.Unlock()
	return o
}

// codes: GET /v1/state-codes lists the pusher and player code tables.
func (c *console) codes(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]map[int]CodeInfo{"pusher": pusherCodes, "player": playerCodes})
}

// events: GET /v1/events[?appId=] is a text/event-stream of channel events
// ("event: channel") and a "tick" every ConsoleDeps.Tick. It lasts until
// the client goes or the node stops. Browsers read it with fetch (so the
// Authorization header goes with it), not EventSource.
func (c *console) events(w http.ResponseWriter, r *http.Request) {
	app := r.URL.Query().Get("appId")
	rc := http.NewResponseController(w)
	evs, cancel := c.deps.Events.Subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(kind string, v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", kind, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write("hello", map[string]any{"tickMs": c.deps.Tick.Milliseconds()}) {
		return
	}
	tick := time.NewTicker(c.deps.Tick)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-evs:
			if !ok {
				return
			}
			if app != "" && ev.AppID != app && ev.Kind != "resync" {
				continue
			}
			if !write("channel", ev) {
				return
			}
		case at := <-tick.C:
			if !write("tick", map[string]any{"at": at.UTC()}) {
				return
			}
		}
	}
}
