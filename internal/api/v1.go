package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/diag"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
)

// minirtc's own endpoints under /v1. Field names are camelCase and stable;
// listings are paginated with ?page= (from 1) and ?pageSize= (1..500,
// default 100).

// App is an app as /v1 shows it.
type App struct {
	ID                    string    `json:"appId"`
	Certificate           string    `json:"appCertificate"`
	Name                  string    `json:"name"`
	Enabled               bool      `json:"enabled"`
	CreatedAt             time.Time `json:"createdAt"`
	AllowNoToken          bool      `json:"allowNoToken"`
	EnforcePublisherToken bool      `json:"enforcePublisherToken"`
	MaxUsersPerChannel    int       `json:"maxUsersPerChannel"`
}

func toApp(a store.App) App {
	return App{ID: a.ID, Certificate: a.Certificate, Name: a.Name, Enabled: a.Enabled, CreatedAt: a.CreatedAt,
		AllowNoToken: a.Settings.AllowNoToken, EnforcePublisherToken: a.Settings.EnforcePublisherToken,
		MaxUsersPerChannel: a.Settings.MaxUsersPerChannel}
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r, "page", "pageSize", 1)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	apps, err := s.deps.Store.Apps(ctx)
	if err != nil {
		WriteError(w, r, fmt.Errorf("api: list apps: %w", err))
		return
	}
	out := make([]App, 0, len(apps))
	for _, a := range apps {
		out = append(out, toApp(a))
	}
	WriteJSON(w, http.StatusOK, paginate(out, p))
}

// createRequest is the body of POST /v1/apps.
type createRequest struct {
	Name                  string `json:"name"`
	AllowNoToken          bool   `json:"allowNoToken"`
	EnforcePublisherToken bool   `json:"enforcePublisherToken"`
	MaxUsersPerChannel    int    `json:"maxUsersPerChannel"`
}

func (s *Server) createApp(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := decodeBody(r, &req, true); err != nil {
		WriteError(w, r, err)
		return
	}
	if len(req.Name) > maxProjectName {
		WriteError(w, r, errcode.BadRequest(fmt.Sprintf("name must be at most %d characters", maxProjectName)))
		return
	}
	a, err := store.NewApp(req.Name, time.Now())
	if err != nil {
		WriteError(w, r, err)
		return
	}
	a.Settings = store.AppSettings{AllowNoToken: req.AllowNoToken, EnforcePublisherToken: req.EnforcePublisherToken,
		MaxUsersPerChannel: req.MaxUsersPerChannel}
	if err := s.putApp(r, a); err != nil {
		WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/apps/"+a.ID)
	WriteJSON(w, http.StatusCreated, toApp(a))
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request) {
	a, err := s.app(r, r.PathValue("appId"))
	if err != nil {
		WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toApp(a))
}

// setEnabled: POST /v1/apps/{appId}/enable|disable. The store is read at
// every join and media connection, so it applies to the next one; members
// already in a channel stay.
func (s *Server) setEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := s.updateApp(r, r.PathValue("appId"), func(a *store.App) error { a.Enabled = enabled; return nil })
		if err != nil {
			WriteError(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, toApp(a))
	}
}

// rotateCertificate: POST /v1/apps/{appId}/rotate-certificate. Tokens
// signed with the old certificate are refused from the next join on.
func (s *Server) rotateCertificate(w http.ResponseWriter, r *http.Request) {
	a, err := s.updateApp(r, r.PathValue("appId"), rotate)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toApp(a))
}

// ChannelSummary is one channel of an app.
type ChannelSummary struct {
	Name         string `json:"name"`
	Profile      string `json:"profile"` // live or communication
	Members      int    `json:"members"`
	Broadcasters int    `json:"broadcasters"`
	Publishing   int    `json:"publishing"`
	// Node is the node that serves it (in a cluster).
	Node string `json:"node,omitempty"`
}

// channelPage reads the app named by the path value appKey and the page the
// query asks for (pageKey, sizeKey, numbered from base), and returns the
// app, the page, that page of its channel names and how many channels it
// has in all; on a bad request it has answered and ok is false. Agora's and
// minirtc's channel lists share it.
func (s *Server) channelPage(w http.ResponseWriter, r *http.Request, appKey, pageKey, sizeKey string, base int) (a store.App, p page, names []string, total int, ok bool) {
	if a, p, ok = s.appPage(w, r, appKey, pageKey, sizeKey, base); !ok {
		return a, p, nil, 0, false
	}
	all := s.deps.Channels.Channels(a.ID)
	lo, hi := p.bounds(len(all))
	return a, p, all[lo:hi], len(all), true
}

// appPage reads the app named by the path value appKey and the page the
// query asks for; on a bad request it has answered and ok is false.
func (s *Server) appPage(w http.ResponseWriter, r *http.Request, appKey, pageKey, sizeKey string, base int) (a store.App, p page, ok bool) {
	a, err := s.app(r, r.PathValue(appKey))
	if err != nil {
		WriteError(w, r, err)
		return a, p, false
	}
	if p, err = parsePage(r, pageKey, sizeKey, base); err != nil {
		WriteError(w, r, err)
		return a, p, false
	}
	return a, p, true
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) {
	if s.clustered(r) {
		a, p, ok := s.appPage(w, r, "appId", "page", "pageSize", 1)
		if !ok {
			return
		}
		all, missing := s.clusterChannels(r, a.ID)
		l := paginate(all, p)
		l.MissingNodes = missing
		markMissing(w, missing)
		WriteJSON(w, http.StatusOK, l)
		return
	}
	a, p, names, total, ok := s.channelPage(w, r, "appId", "page", "pageSize", 1)
	if !ok {
		return
	}
	items := make([]ChannelSummary, 0, len(names))
	for _, name := range names {
		items = append(items, s.channelSummary(a.ID, name))
	}
	WriteJSON(w, http.StatusOK, list[ChannelSummary]{Items: items, Page: p.no + 1, PageSize: p.size, Total: total})
}

// Client is what a member's client said about itself at join.
type Client struct {
	Kind       string `json:"kind"` // wechat, qq (mini programs), whip, rtmp (a tool pushing with a token), or "" when unknown
	SDKVersion string `json:"sdkVersion"`
	Device     string `json:"device"`
	OS         string `json:"os"`
}

// Member is one member of a channel. Stream and Network are only in the
// detail (GET .../members/{uid}).
type Member struct {
	AppID         string    `json:"appId"`
	Channel       string    `json:"channel"`
	UID           uint32    `json:"uid"`
	Account       string    `json:"account,omitempty"`
	Role          string    `json:"role"`    // broadcaster or audience
	Profile       string    `json:"profile"` // live or communication
	JoinedAt      time.Time `json:"joinedAt"`
	Session       string    `json:"session"`  // its connection's session id (server logs)
	Detached      bool      `json:"detached"` // its connection is gone; it is in its grace period
	Client        Client    `json:"client"`
	AudioMuted    bool      `json:"audioMuted"`
	VideoMuted    bool      `json:"videoMuted"`
	Publishing    bool      `json:"publishing"`
	Subscriptions []uint32  `json:"subscriptions"` // uids it plays
	Stream        *Stream   `json:"stream,omitempty"`
	Network       *Network  `json:"network,omitempty"`
}

func toMember(m channel.MemberInfo) Member {
	subs := m.Subscriptions
	if subs == nil {
		subs = []uint32{}
	}
	return Member{AppID: m.App, Channel: m.Channel, UID: m.UID, Account: m.Account, Role: m.Role.String(),
		Profile: m.Profile.String(), JoinedAt: m.JoinedAt.UTC(), Session: m.Session, Detached: m.Detached,
		Client:     Client{Kind: m.Client.Kind, SDKVersion: m.Client.SDKVersion, Device: m.Client.Device, OS: m.Client.OS},
		AudioMuted: m.AudioMuted, VideoMuted: m.VideoMuted, Publishing: m.Publishing, Subscriptions: subs}
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	a, err := s.app(r, r.PathValue("appId"))
	if err != nil {
		WriteError(w, r, err)
		return
	}
	p, err := parsePage(r, "page", "pageSize", 1)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	ms := s.deps.Channels.Members(a.ID, r.PathValue("channel"))
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, toMember(m))
	}
	WriteJSON(w, http.StatusOK, paginate(out, p))
}

// Network is the member's last network reports (bindnetstatus of its
// <live-pusher> and of one of its <live-player>s), when it sent any lately.
type Network struct {
	Pusher *NetSample `json:"pusher"`
	Player *NetSample `json:"player"`
}

// NetSample is one report: when the server got it, which publisher a player
// played, and the values the client reported (videoBitrate, netSpeed,
// netQualityLevel, ... as WeChat names them).
type NetSample struct {
	Received time.Time     `json:"received"`
	Target   uint32        `json:"target,omitempty"`
	Stats    diag.NetStats `json:"stats"`
}

func lastSample(ss []diag.NetSample) *NetSample {
	if len(ss) == 0 {
		return nil
	}
	l := ss[len(ss)-1]
	return &NetSample{Received: l.Received.UTC(), Target: l.Target, Stats: l.Stats}
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request) {
	a, err := s.app(r, r.PathValue("appId"))
	if err != nil {
		WriteError(w, r, err)
		return
	}
	uid, err := parseUID(r.PathValue("uid"))
	if err != nil {
		WriteError(w, r, err)
		return
	}
	ch := r.PathValue("channel")
	mi, ok := s.deps.Channels.Member(a.ID, ch, uid)
	if !ok {
		WriteError(w, r, errcode.NotFound(fmt.Sprintf("uid %d is not in channel %q", uid, ch)))
		return
	}
	m := toMember(mi)
	if s.deps.Media != nil {
		key := media.Key{AppID: a.ID, Channel: ch, UID: strconv.FormatUint(uint64(uid), 10)}
		for _, sd := range s.deps.Media.Streams() {
			if sd.Key == key {
				st := toStream(sd)
				m.Stream = &st
				break
			}
		}
	}
	if s.deps.Diagnostics != nil {
		if rep, ok := s.deps.Diagnostics.Recent(a.ID, ch, uid); ok {
			m.Network = &Network{Pusher: lastSample(rep.PusherNet), Player: lastSample(rep.PlayerNet)}
		}
	}
	WriteJSON(w, http.StatusOK, m)
}

// Track is one track of a stream.
type Track struct {
	Codec      string  `json:"codec"`                // h264, h265, aac, opus, ...
	Width      int     `json:"width,omitempty"`      // video, from the SPS
	Height     int     `json:"height,omitempty"`     // video
	FrameRate  float64 `json:"frameRate,omitempty"`  // video, declared in the SPS
	SampleRate int     `json:"sampleRate,omitempty"` // audio, Hz
	Channels   int     `json:"channels,omitempty"`   // audio
}

func toTrack(t *media.Track) *Track {
	if t == nil {
		return nil
	}
	return &Track{Codec: strings.ToLower(t.Codec.String()), Width: t.Width, Height: t.Height, FrameRate: t.FrameRate,
		SampleRate: t.SampleRate, Channels: t.Channels}
}

// Reader is one reader of a stream.
type Reader struct {
	ID       string    `json:"id"`       // DELETE /v1/readers/{id} disconnects it
	Viewer   string    `json:"viewer"`   // the uid it plays as, when known
	Protocol string    `json:"protocol"` // rtmp, http-flv, ws-flv, webrtc (one reader per WHEP session)
	Remote   string    `json:"remote"`   // peer address, when known
	Since    time.Time `json:"since"`
	Held     bool      `json:"held"`   // waiting for the stream to start
	Queued   int       `json:"queued"` // packets waiting to be written
	Drops    uint64    `json:"drops"`  // packets skipped because it fell behind
}

// Stream is one stream of the node.
type Stream struct {
	AppID     string   `json:"appId"`
	Channel   string   `json:"channel"`
	UID       string   `json:"uid"`
	Live      bool     `json:"live"`
	Paused    bool     `json:"paused"` // publisher gone, within its grace period
	Video     *Track   `json:"video"`
	Audio     *Track   `json:"audio"`
	Bitrate   int64    `json:"bitrate"`   // bits per second of ingest, last second
	FrameRate float64  `json:"frameRate"` // video frames per second of ingest, last second
	Drops     uint64   `json:"drops"`
	Readers   []Reader `json:"readers"`
	// Node is the node it is on (in a cluster): DELETE /v1/readers/{id}?node=
	// closes one of its readers.
	Node string `json:"node,omitempty"`
}

func toStream(d media.StreamDetail) Stream {
	st := Stream{AppID: d.Key.AppID, Channel: d.Key.Channel, UID: d.Key.UID, Live: d.Live, Paused: d.Paused,
		Video: toTrack(d.Video), Audio: toTrack(d.Audio), Bitrate: int64(d.Bitrate),
		FrameRate: float64(int(d.FrameRate*100)) / 100, Drops: d.Drops, Readers: make([]Reader, 0, len(d.Readers))}
	for _, r := range d.Readers {
		st.Readers = append(st.Readers, Reader{ID: strconv.FormatUint(r.ID, 10), Viewer: r.Viewer, Protocol: r.Protocol,
			Remote: r.Remote, Since: r.Since.UTC(), Held: r.Held, Queued: r.Queued, Drops: r.Drops})
	}
	return st
}

// listStreams: GET /v1/streams[?appId=&channel=]
func (s *Server) listStreams(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r, "page", "pageSize", 1)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	app, ch := r.URL.Query().Get("appId"), r.URL.Query().Get("channel")
	out := []Stream{}
	if s.clustered(r) {
		all, missing := s.clusterStreams(r)
		for _, st := range all {
			if (app == "" || st.AppID == app) && (ch == "" || st.Channel == ch) {
				out = append(out, st)
			}
		}
		l := paginate(out, p)
		l.MissingNodes = missing
		markMissing(w, missing)
		WriteJSON(w, http.StatusOK, l)
		return
	}
	if s.deps.Media != nil {
		for _, d := range s.deps.Media.Streams() {
			if (app == "" || d.Key.AppID == app) && (ch == "" || d.Key.Channel == ch) {
				out = append(out, toStream(d))
			}
		}
	}
	WriteJSON(w, http.StatusOK, paginate(out, p))
}

// closeReader: DELETE /v1/readers/{id}. The reader's connection is closed
// with "no authorized: disconnected by an operator"; the stream and its
// other readers go on. A client may connect again (ban rules stop that).
func (s *Server) closeReader(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		WriteError(w, r, errcode.BadRequest(fmt.Sprintf("reader id must be a positive number (got %q)", r.PathValue("id"))))
		return
	}
	if node := r.URL.Query().Get("node"); node != "" && s.clustered(r) && node != s.deps.Cluster.Self() {
		p, ok, err := s.peer(r, node)
		if err != nil {
			WriteError(w, r, errcode.ServiceLost("the cluster registry did not answer: try again"))
			return
		}
		if !ok {
			WriteError(w, r, errcode.NotFound(fmt.Sprintf("no live node %q (see the node field of GET /v1/streams)", node)))
			return
		}
		s.forward(w, r, p)
		return
	}
	if s.deps.Media == nil || !s.deps.Media.CloseReader(id, errcode.NoAuthorized("disconnected by an operator")) {
		WriteError(w, r, errcode.NotFound(fmt.Sprintf("no reader %d on this node (see GET /v1/streams)", id)))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
