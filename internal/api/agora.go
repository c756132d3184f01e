package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
)

// Agora's channel management and console endpoints. Shapes follow Agora's
// published RESTful API reference (see testdata/agora/README.md); the
// fields minirtc cannot fill are listed in docs/rest-api.md.

// Agora channel profiles (data.mode).
const (
	agoraModeCommunication = 1
	agoraModeLive          = 2
)

// Agora user roles (query user status, data.role).
const (
	agoraRoleUnknown       = 0
	agoraRoleCommunication = 1 // a user of a communication channel
	agoraRoleHost          = 2 // a host (broadcaster) of a live channel
	agoraRoleAudience      = 3
)

// Agora platforms (query user status, data.platform).
const (
	agoraPlatformOther   = 0
	agoraPlatformAndroid = 1
	agoraPlatformIOS     = 2
	agoraPlatformWindows = 5
	agoraPlatformLinux   = 6
	agoraPlatformWeb     = 7
	agoraPlatformMac     = 8
)

// app loads the app named in the path; an unknown one is 404.
func (s *Server) app(r *http.Request, id string) (store.App, error) {
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	a, err := s.deps.Store.App(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return a, errcode.NotFound(fmt.Sprintf("no app with id %q (see GET /v1/apps)", id))
	}
	if err != nil {
		return a, fmt.Errorf("api: load app: %w", err)
	}
	return a, nil
}

type agoraChannel struct {
	ChannelName string `json:"channel_name"`
	UserCount   int    `json:"user_count"`
}

// agoraChannels: GET /dev/v1/channel/{appid}?page_no=&page_size=
func (s *Server) agoraChannels(w http.ResponseWriter, r *http.Request) {
	if s.clustered(r) {
		a, p, ok := s.appPage(w, r, "appid", "page_no", "page_size", 0)
		if !ok {
			return
		}
		all, missing := s.clusterChannels(r, a.ID)
		lo, hi := p.bounds(len(all))
		out := make([]agoraChannel, 0, hi-lo)
		for _, c := range all[lo:hi] {
			out = append(out, agoraChannel{ChannelName: c.Name, UserCount: c.Members})
		}
		markMissing(w, missing)
		WriteJSON(w, http.StatusOK, map[string]any{"success": true,
			"data": map[string]any{"channels": out, "total_size": len(all)}})
		return
	}
	a, _, names, total, ok := s.channelPage(w, r, "appid", "page_no", "page_size", 0)
	if !ok {
		return
	}
	out := make([]agoraChannel, 0, len(names))
	for _, name := range names {
		out = append(out, agoraChannel{ChannelName: name, UserCount: len(s.deps.Channels.Members(a.ID, name))})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"success": true,
		"data": map[string]any{"channels": out, "total_size": total}})
}

// agoraUsers: GET /dev/v1/channel/user/{appid}/{channelName}[?hosts_only],
// and .../{channelName}/hosts_only (Agora's "query host list").
func (s *Server) agoraUsers(hostsPath bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := s.app(r, r.PathValue("appid"))
		if err != nil {
			WriteError(w, r, err)
			return
		}
		members := s.deps.Channels.Members(a.ID, r.PathValue("channelName"))
		if len(members) == 0 {
			WriteJSON(w, http.StatusOK, map[string]any{"success": true, "data": map[string]any{"channel_exist": false}})
			return
		}
		data := map[string]any{"channel_exist": true}
		if members[0].Profile == channel.ProfileCommunication {
			users := make([]uint32, 0, len(members))
			for _, m := range members {
				users = append(users, m.UID)
			}
			data["mode"], data["total"], data["users"] = agoraModeCommunication, len(users), users
		} else {
			hosts, audience := []uint32{}, []uint32{}
			for _, m := range members {
				if m.Role == channel.RoleBroadcaster {
					hosts = append(hosts, m.UID)
				} else {
					audience = append(audience, m.UID)
				}
			}
			data["mode"], data["broadcasters"] = agoraModeLive, hosts
			if !hostsPath && !r.URL.Query().Has("hosts_only") {
				data["audience"], data["audience_total"] = audience, len(audience)
			}
		}
		WriteJSON(w, http.StatusOK, map[string]any{"success": true, "data": data})
	}
}

// agoraUserProperty: GET /dev/v1/channel/user/property/{appid}/{uid}/{channelName}
func (s *Server) agoraUserProperty(w http.ResponseWriter, r *http.Request) {
	a, err := s.app(r, r.PathValue("appid"))
	if err != nil {
		WriteError(w, r, err)
		return
	}
	uid, err := parseUID(r.PathValue("uid"))
	if err != nil {
		WriteError(w, r, err)
		return
	}
	m, ok := s.deps.Channels.Member(a.ID, r.PathValue("channelName"), uid)
	if !ok {
		WriteJSON(w, http.StatusOK, map[string]any{"success": true, "data": map[string]any{"in_channel": false}})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"success": true, "data": map[string]any{
		"in_channel": true, "uid": m.UID, "join": m.JoinedAt.Unix(), "role": agoraRole(m), "platform": agoraPlatform(m.Client),
	}})
}

func parseUID(v string) (uint32, error) {
	u, err := strconv.ParseUint(v, 10, 32)
	if err != nil || u == 0 {
		return 0, errcode.InvalidUID(fmt.Sprintf("uid must be a number from 1 to 4294967295 (got %q)", v))
	}
	return uint32(u), nil
}

func agoraRole(m channel.MemberInfo) int {
	switch {
	case m.Profile == channel.ProfileCommunication:
		return agoraRoleCommunication
	case m.Role == channel.RoleBroadcaster:
		return agoraRoleHost
	case m.Role == channel.RoleAudience:
		return agoraRoleAudience
	}
	return agoraRoleUnknown
}

// agoraPlatform maps what the client said about itself to Agora's platform
// numbers: a mini program's os ("iOS 17.2", "Android 14"), a WHIP client as
// Web only when it said so; everything else is "other".
func agoraPlatform(c channel.ClientInfo) int {
	os := strings.ToLower(c.OS)
	switch {
	case strings.HasPrefix(os, "ios"), strings.HasPrefix(os, "ipados"):
		return agoraPlatformIOS
	case strings.HasPrefix(os, "android"):
		return agoraPlatformAndroid
	case strings.HasPrefix(os, "windows"):
		return agoraPlatformWindows
	case strings.HasPrefix(os, "mac"):
		return agoraPlatformMac
	case strings.HasPrefix(os, "linux"):
		return agoraPlatformLinux
	case strings.EqualFold(c.Kind, "web"):
		return agoraPlatformWeb
	}
	return agoraPlatformOther
}

// agoraProject is an app in the shape of Agora's project object.
type agoraProject struct {
	ID              string `json:"id"`         // the appId (Agora has a separate project id)
	Name            string `json:"name"`       //
	VendorKey       string `json:"vendor_key"` // the appId
	SignKey         string `json:"sign_key"`   // the appCertificate; "" when tokens are not required
	RecordingServer string `json:"recording_server"`
	Status          int    `json:"status"`  // 1 enabled, 0 disabled
	Created         int64  `json:"created"` // unix seconds
}

func toAgoraProject(a store.App) agoraProject {
	p := agoraProject{ID: a.ID, Name: a.Name, VendorKey: a.ID, SignKey: a.Certificate, Created: a.CreatedAt.Unix()}
	if a.Settings.AllowNoToken {
		p.SignKey = ""
	}
	if a.Enabled {
		p.Status = 1
	}
	return p
}

// agoraProjects: GET /dev/v1/projects, and GET /dev/v1/project?id=&name=
// (one project by id or name).
func (s *Server) agoraProjects(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	apps, err := s.deps.Store.Apps(ctx)
	if err != nil {
		WriteError(w, r, fmt.Errorf("api: list apps: %w", err))
		return
	}
	id, name := r.URL.Query().Get("id"), r.URL.Query().Get("name")
	out := []agoraProject{}
	for _, a := range apps {
		if (id == "" || id == a.ID) && (name == "" || name == a.Name) {
			out = append(out, toAgoraProject(a))
		}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"projects": out})
}

// maxProjectName is Agora's limit on a project name.
const maxProjectName = 255

// agoraCreateProject: POST /dev/v1/project {"name", "enable_sign_key"}
func (s *Server) agoraCreateProject(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name          string `json:"name"`
		EnableSignKey *bool  `json:"enable_sign_key"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		WriteError(w, r, err)
		return
	}
	if req.Name == "" || len(req.Name) > maxProjectName {
		WriteError(w, r, errcode.BadRequest(fmt.Sprintf("name must be 1..%d characters", maxProjectName)))
		return
	}
	if req.EnableSignKey == nil {
		WriteError(w, r, errcode.BadRequest("enable_sign_key is required (true: joins need a token)"))
		return
	}
	a, err := store.NewApp(req.Name, time.Now())
	if err != nil {
		WriteError(w, r, err)
		return
	}
	a.Settings.AllowNoToken = !*req.EnableSignKey
	if err := s.putApp(r, a); err != nil {
		WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"project": toAgoraProject(a)})
}

// agoraProjectStatus: POST /dev/v1/project_status {"id", "status"}
func (s *Server) agoraProjectStatus(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     string `json:"id"`
		Status *int   `json:"status"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		WriteError(w, r, err)
		return
	}
	if req.Status == nil || (*req.Status != 0 && *req.Status != 1) {
		WriteError(w, r, errcode.BadRequest("status must be 1 (enable) or 0 (disable)"))
		return
	}
	a, err := s.updateApp(r, req.ID, func(a *store.App) error { a.Enabled = *req.Status == 1; return nil })
	if err != nil {
		WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"project": toAgoraProject(a)})
}

// agoraSignKey: POST /dev/v1/signkey {"id", "enable"}: whether joins need a
// token (minirtc apps always keep a certificate).
func (s *Server) agoraSignKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     string `json:"id"`
		Enable *bool  `json:"enable"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		WriteError(w, r, err)
		return
	}
	if req.Enable == nil {
		WriteError(w, r, errcode.BadRequest("enable is required"))
		return
	}
	if _, err := s.updateApp(r, req.ID, func(a *store.App) error { a.Settings.AllowNoToken = !*req.Enable; return nil }); err != nil {
		WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"success": true})
}

// agoraResetSignKey: POST /dev/v1/reset_signkey {"id"}: a new certificate.
func (s *Server) agoraResetSignKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if err := decodeBody(r, &req, false); err != nil {
		WriteError(w, r, err)
		return
	}
	a, err := s.updateApp(r, req.ID, rotate)
	if err != nil {
		WriteError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"project": toAgoraProject(a)})
}

func (s *Server) putApp(r *http.Request, a store.App) error {
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	if err := store.ValidateApp(a); err != nil {
		return errcode.BadRequest(err.Error())
	}
	if err := s.deps.Store.PutApp(ctx, a); err != nil {
		return fmt.Errorf("api: store app: %w", err)
	}
	return nil
}

// updateApp applies change to the app with id and stores it. Concurrent
// updates of one app are last-writer-wins, as with the CLI.
func (s *Server) updateApp(r *http.Request, id string, change func(*store.App) error) (store.App, error) {
	if id == "" {
		return store.App{}, errcode.BadRequest("id (the app id) is required")
	}
	a, err := s.app(r, id)
	if err != nil {
		return a, err
	}
	if err := change(&a); err != nil {
		return a, err
	}
	return a, s.putApp(r, a)
}

// rotate gives the app a new random certificate.
func rotate(a *store.App) error {
	fresh, err := store.NewApp("", time.Now())
	if err != nil {
		return err
	}
	a.Certificate = fresh.Certificate
	return nil
}
