package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	pion "github.com/pion/webrtc/v4"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/api/apitest"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// wsMember is a mini program client on the gateway WebSocket (the shared
// client, package client).
type wsMember struct {
	t    *testing.T
	cc   *mc.Conn
	conn *websocket.Conn // cc's socket
}

// dialGateway opens a gateway connection.
func dialGateway(t *testing.T, n *Node) *wsMember {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := mc.Dial(ctx, "ws://"+n.HTTPAddr()+"/api")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.CloseNow)
	return &wsMember{t: t, cc: cc, conn: cc.WebSocket()}
}

// call sends an action and returns the reply's code, reason and
// serverResponse, skipping pushes.
func (m *wsMember) call(req map[string]any) (int, string, map[string]any) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	action, _ := req["action"].(string)
	reply, err := m.cc.Call(ctx, action, req)
	var refused *mc.Error
	if err != nil && !errors.As(err, &refused) {
		m.t.Fatalf("%v: %v", req["action"], err)
	}
	var r struct {
		Code           int            `json:"code"`
		Reason         string         `json:"reason"`
		ServerResponse map[string]any `json:"serverResponse"`
	}
	json.Unmarshal(reply.Raw, &r)
	return r.Code, r.Reason, r.ServerResponse
}

// join joins with a publisher token of cert, saying what kind of client it is.
func (m *wsMember) join(appID, cert, ch string, uid int, role, osName string) (int, string) {
	m.t.Helper()
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: appID, AppCert: cert, Channel: ch,
		UID: strconv.Itoa(uid), Role: token.RolePublisher, IssuedAt: time.Now(), Lifetime: 600})
	if err != nil {
		m.t.Fatal(err)
	}
	code, reason, _ := m.call(map[string]any{"action": "join", "role": role, "appId": appID, "key_vos": tok,
		"channel_name": ch, "uid": strconv.Itoa(uid), "uidType": 0, "clientType": "wechat", "version": "2.6.4",
		"device": "test phone", "os": osName})
	return code, reason
}

// restClient calls the node's REST API with an API key.
type restClient struct {
	t          *testing.T
	base       string
	id, secret string
}

func (c restClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if c.id != "" {
		req.SetBasicAuth(c.id, c.secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// agora calls an Agora-compatible endpoint, checks the answer against
// Agora's documented shape and decodes it into out.
func (c restClient) agora(method, path string, body any, shape string, out any) {
	c.t.Helper()
	code, b := c.do(method, path, body)
	if code != 200 {
		c.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	want, err := apitest.Fixture(shape)
	if err != nil {
		c.t.Fatal(err)
	}
	if d, err := apitest.ShapeDiff(want, b); err != nil || d != "" {
		c.t.Fatalf("%s %s differs from Agora's %s shape:\n%s %v\n%s", method, path, shape, d, err, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		c.t.Fatal(err)
	}
}

func (c restClient) json(method, path string, body any, wantCode int, out any) {
	c.t.Helper()
	code, b := c.do(method, path, body)
	if code != wantCode {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, code, wantCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

type streamsPage struct {
	Items []struct {
		AppID, Channel, UID string
		Live                bool
		Video               *struct {
			Codec         string
			Width, Height int
		}
		Audio *struct {
			Codec      string
			SampleRate int
		}
		Bitrate   int64
		FrameRate float64
		Readers   []struct {
			ID, Viewer, Protocol, Remote string
			Queued                       int
		}
	}
	Total int
}

// TestRESTAPIWithRealMembers calls every REST endpoint over HTTP on a
// running node with real members: two gateway WebSocket clients (a
// broadcaster that publishes with ffmpeg over RTMP, an audience member that
// plays over HTTP-FLV), a network report, and apps changed live.
func TestRESTAPIWithRealMembers(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg is required (make test installs it)")
	}
	cfg := testConfig(t)
	cfg.Gateway.IdleTimeout = 5 * time.Minute // the test's clients send no pings
	cfg.API.RequestsPerSecond = 1000          // the test polls; the limit has its own test
	n := startNode(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	app, _ := n.CreatedDefaultApp()
	base := "http://" + n.HTTPAddr() + APIPrefix

	// Before any key exists every call is refused, with the way out.
	anon := restClient{t: t, base: base}
	code, b := anon.do("GET", "/dev/v1/projects", nil)
	if code != 401 || !strings.Contains(string(b), "minirtc apikey create") || !strings.Contains(string(b), `"message"`) {
		t.Fatalf("no key yet: %d %s", code, b)
	}
	k, secret, _ := store.NewAPIKey("test", time.Now())
	if err := n.Store().PutAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	c := restClient{t: t, base: base, id: k.ID, secret: secret}
	if code, b := anon.do("GET", "/v1/apps", nil); code != 401 {
		t.Fatalf("no credentials: %d %s", code, b)
	}

	// Members: a broadcaster on iOS that publishes, an audience member on Android.
	host, viewer := dialGateway(t, n), dialGateway(t, n)
	if code, reason := host.join(app.ID, app.Certificate, "room", 42, "broadcaster", "iOS 17.2"); code != 200 {
		t.Fatalf("host join: %d %s", code, reason)
	}
	if code, reason := viewer.join(app.ID, app.Certificate, "room", 7, "audience", "Android 14"); code != 200 {
		t.Fatalf("viewer join: %d %s", code, reason)
	}
	code, reason, r := host.call(map[string]any{"action": "publish", "uid": 42})
	push, _ := r["url"].(string)
	if code != 200 || !strings.HasPrefix(push, "rtmp://") {
		t.Fatalf("publish: %d %s %v", code, reason, r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pusher := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "120", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv", push)
	if err := pusher.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); pusher.Wait() }()

	var streams streamsPage
	waitFor(t, "the stream to be live with a measured bitrate", func() bool {
		c.json("GET", "/v1/streams", nil, 200, &streams)
		return len(streams.Items) == 1 && streams.Items[0].Live && streams.Items[0].Video != nil && streams.Items[0].Bitrate > 0
	})

	// The audience member plays the stream over HTTP-FLV.
	code, reason, r = viewer.call(map[string]any{"action": "subscribe", "uid": 42,
		"options": map[string]any{"audio": true, "video": true, "flv": true}})
	play, _ := r["url"].(string)
	if code != 200 || !strings.HasPrefix(play, "http://") {
		t.Fatalf("subscribe: %d %s %v", code, reason, r)
	}
	resp, err := http.Get(play)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("FLV play: %v %v", err, resp)
	}
	playEnded := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		playEnded <- n
	}()
	waitFor(t, "the FLV reader to show", func() bool {
		c.json("GET", "/v1/streams", nil, 200, &streams)
		return len(streams.Items) == 1 && len(streams.Items[0].Readers) == 1
	})
	s := streams.Items[0]
	rd := s.Readers[0]
	if s.AppID != app.ID || s.Channel != "room" || s.UID != "42" || s.Video.Codec != "h264" ||
		s.Video.Width != 320 || s.Video.Height != 240 || s.Audio == nil || s.Audio.SampleRate != 44100 || s.FrameRate <= 0 ||
		rd.Viewer != "7" || rd.Protocol != "http-flv" || !strings.HasPrefix(rd.Remote, "127.0.0.1:") || rd.ID == "" {
		t.Fatalf("stream listing: %+v", streams)
	}
	// A browser plays it over WHEP: its session is a "webrtc" reader.
	wpc, err := loopbackClient(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer wpc.Close()
	for _, kind := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := wpc.AddTransceiverFromKind(kind, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	code, answer := postWHEP(t, n, app, "room", "42", "8", wpc)
	if code != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", code, answer)
	}
	if err := wpc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	var webrtcReader string
	waitFor(t, "the WebRTC reader to show", func() bool {
		c.json("GET", "/v1/streams", nil, 200, &streams)
		for _, r := range streams.Items[0].Readers {
			if r.Protocol == "webrtc" {
				webrtcReader = r.ID
			}
		}
		return webrtcReader != ""
	})
	c.json("DELETE", "/v1/readers/"+webrtcReader, nil, 204, nil)
	waitFor(t, "the WebRTC reader to go", func() bool {
		c.json("GET", "/v1/streams", nil, 200, &streams)
		return len(streams.Items[0].Readers) == 1 && streams.Items[0].Readers[0].ID == rd.ID
	})

	// The host's own network report.
	if code, reason, _ := host.call(map[string]any{"action": "report_pusher_net",
		"stats": []any{map[string]any{"ts": time.Now().UnixMilli(), "videoBitrate": 812, "netQualityLevel": 2}}}); code != 200 {
		t.Fatalf("report: %d %s", code, reason)
	}

	// --- Agora-compatible endpoints ---
	var chList struct {
		Data struct {
			Channels []struct {
				ChannelName string `json:"channel_name"`
				UserCount   int    `json:"user_count"`
			} `json:"channels"`
			TotalSize int `json:"total_size"`
		} `json:"data"`
	}
	c.agora("GET", "/dev/v1/channel/"+app.ID, nil, "channel_list", &chList)
	if len(chList.Data.Channels) != 1 || chList.Data.Channels[0].ChannelName != "room" || chList.Data.Channels[0].UserCount != 2 || chList.Data.TotalSize != 1 {
		t.Fatalf("channel list: %+v", chList)
	}
	c.agora("GET", "/dev/v1/channel/"+app.ID+"?page_no=1&page_size=1", nil, "channel_list", &chList)
	if len(chList.Data.Channels) != 0 || chList.Data.TotalSize != 1 {
		t.Fatalf("channel list page 1: %+v", chList)
	}
	var users struct {
		Data struct {
			ChannelExist  bool     `json:"channel_exist"`
			Mode          int      `json:"mode"`
			Broadcasters  []uint32 `json:"broadcasters"`
			Audience      []uint32 `json:"audience"`
			AudienceTotal int      `json:"audience_total"`
		} `json:"data"`
	}
	c.agora("GET", "/dev/v1/channel/user/"+app.ID+"/room", nil, "user_list_live", &users)
	if !users.Data.ChannelExist || users.Data.Mode != 2 || fmt.Sprint(users.Data.Broadcasters) != "[42]" ||
		fmt.Sprint(users.Data.Audience) != "[7]" || users.Data.AudienceTotal != 1 {
		t.Fatalf("users: %+v", users)
	}
	c.agora("GET", "/dev/v1/channel/user/"+app.ID+"/room?hosts_only", nil, "user_list_hosts_only", &users)
	c.agora("GET", "/dev/v1/channel/user/"+app.ID+"/room/hosts_only", nil, "user_list_hosts_only", &users)
	if fmt.Sprint(users.Data.Broadcasters) != "[42]" {
		t.Fatalf("hosts only: %+v", users)
	}
	c.agora("GET", "/dev/v1/channel/user/"+app.ID+"/nobody%20here", nil, "user_list_no_channel", &users)
	if users.Data.ChannelExist {
		t.Fatal("an empty channel exists")
	}
	var prop struct {
		Data struct {
			InChannel bool   `json:"in_channel"`
			UID       uint32 `json:"uid"`
			Join      int64  `json:"join"`
			Role      int    `json:"role"`
			Platform  int    `json:"platform"`
		} `json:"data"`
	}
	c.agora("GET", "/dev/v1/channel/user/property/"+app.ID+"/42/room", nil, "user_property", &prop)
	if !prop.Data.InChannel || prop.Data.UID != 42 || prop.Data.Role != 2 || prop.Data.Platform != 2 ||
		time.Since(time.Unix(prop.Data.Join, 0)) > 5*time.Minute {
		t.Fatalf("host state: %+v", prop)
	}
	c.agora("GET", "/dev/v1/channel/user/property/"+app.ID+"/7/room", nil, "user_property", &prop)
	if prop.Data.Role != 3 || prop.Data.Platform != 1 {
		t.Fatalf("audience state: %+v", prop)
	}
	c.agora("GET", "/dev/v1/channel/user/property/"+app.ID+"/99/room", nil, "user_property_absent", &prop)

	// Projects are apps; changes apply to the next join without a restart.
	type project struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		VendorKey string `json:"vendor_key"`
		SignKey   string `json:"sign_key"`
		Status    int    `json:"status"`
	}
	var projects struct{ Projects []project }
	c.agora("GET", "/dev/v1/projects", nil, "projects", &projects)
	if len(projects.Projects) != 1 || projects.Projects[0].VendorKey != app.ID || projects.Projects[0].SignKey != app.Certificate || projects.Projects[0].Status != 1 {
		t.Fatalf("projects: %+v", projects)
	}
	var created struct{ Project project }
	c.agora("POST", "/dev/v1/project", map[string]any{"name": "second", "enable_sign_key": true}, "project", &created)
	p := created.Project
	if p.Name != "second" || len(p.VendorKey) != 32 || len(p.SignKey) != 32 || p.Status != 1 {
		t.Fatalf("created project: %+v", p)
	}
	c.agora("GET", "/dev/v1/project?name=second", nil, "projects", &projects)
	if len(projects.Projects) != 1 || projects.Projects[0].ID != p.ID {
		t.Fatalf("project by name: %+v", projects)
	}
	joinCode := func(appID, cert string, uid int) (int, string) {
		return dialGateway(t, n).join(appID, cert, "other", uid, "audience", "iOS 17")
	}
	if code, reason := joinCode(p.VendorKey, p.SignKey, 100); code != 200 {
		t.Fatalf("join a new project: %d %s", code, reason)
	}
	var changed struct{ Project project }
	c.agora("POST", "/dev/v1/project_status", map[string]any{"id": p.ID, "status": 0}, "project", &changed)
	if changed.Project.Status != 0 {
		t.Fatalf("disabled: %+v", changed)
	}
	if code, reason := joinCode(p.VendorKey, p.SignKey, 101); code != 401 || !strings.Contains(reason, "invalid vendor key") {
		t.Fatalf("join a disabled project: %d %s", code, reason)
	}
	c.agora("POST", "/dev/v1/project_status", map[string]any{"id": p.ID, "status": 1}, "project", &changed)
	c.agora("POST", "/dev/v1/reset_signkey", map[string]any{"id": p.ID}, "project", &changed)
	if changed.Project.SignKey == p.SignKey || len(changed.Project.SignKey) != 32 {
		t.Fatalf("reset sign key: %+v", changed)
	}
	if code, reason := joinCode(p.VendorKey, p.SignKey, 102); code != 401 || !strings.Contains(reason, "invalid key") {
		t.Fatalf("join with the old certificate: %d %s", code, reason)
	}
	if code, reason := joinCode(p.VendorKey, changed.Project.SignKey, 103); code != 200 {
		t.Fatalf("join with the new certificate: %d %s", code, reason)
	}
	var ok struct{ Success bool }
	c.agora("POST", "/dev/v1/signkey", map[string]any{"id": p.ID, "enable": false}, "success", &ok)
	c.agora("GET", "/dev/v1/project?id="+p.ID, nil, "projects", &projects)
	if !ok.Success || projects.Projects[0].SignKey != "" {
		t.Fatalf("sign key disabled: %+v %+v", ok, projects)
	}

	// --- minirtc's own endpoints ---
	type ownApp struct {
		AppID, AppCertificate, Name string
		Enabled, AllowNoToken       bool
	}
	var own ownApp
	c.json("POST", "/v1/apps", map[string]any{"name": "own"}, 201, &own)
	if own.Name != "own" || !own.Enabled || len(own.AppID) != 32 {
		t.Fatalf("created: %+v", own)
	}
	var apps struct {
		Items                 []ownApp
		Page, PageSize, Total int
	}
	c.json("GET", "/v1/apps?page=1&pageSize=2", nil, 200, &apps)
	if apps.Total != 3 || len(apps.Items) != 2 || apps.Page != 1 || apps.PageSize != 2 || apps.Items[0].AppID != app.ID {
		t.Fatalf("apps page 1: %+v", apps)
	}
	c.json("GET", "/v1/apps?page=2&pageSize=2", nil, 200, &apps)
	if len(apps.Items) != 1 || apps.Items[0].AppID != own.AppID {
		t.Fatalf("apps page 2: %+v", apps)
	}
	c.json("POST", "/v1/apps/"+own.AppID+"/disable", nil, 200, &own)
	if code, _ := joinCode(own.AppID, own.AppCertificate, 200); own.Enabled || code != 401 {
		t.Fatalf("disabled app: %+v join %d", own, code)
	}
	c.json("POST", "/v1/apps/"+own.AppID+"/enable", nil, 200, &own)
	old := own.AppCertificate
	c.json("POST", "/v1/apps/"+own.AppID+"/rotate-certificate", nil, 200, &own)
	if own.AppCertificate == old || !own.Enabled {
		t.Fatalf("rotated: %+v", own)
	}
	if code, _ := joinCode(own.AppID, old, 201); code != 401 {
		t.Fatalf("old certificate after rotation: %d", code)
	}
	if code, reason := joinCode(own.AppID, own.AppCertificate, 202); code != 200 {
		t.Fatalf("new certificate after rotation: %d %s", code, reason)
	}
	c.json("GET", "/v1/apps/"+own.AppID, nil, 200, &own)

	var chans struct {
		Items []struct {
			Name, Profile                     string
			Members, Broadcasters, Publishing int
		}
		Total int
	}
	c.json("GET", "/v1/apps/"+app.ID+"/channels", nil, 200, &chans)
	if chans.Total != 1 || chans.Items[0].Name != "room" || chans.Items[0].Profile != "live" || chans.Items[0].Members != 2 ||
		chans.Items[0].Broadcasters != 1 || chans.Items[0].Publishing != 1 {
		t.Fatalf("channels: %+v", chans)
	}
	var members struct {
		Items []struct {
			UID  uint32
			Role string
		}
		Total int
	}
	c.json("GET", "/v1/apps/"+app.ID+"/channels/room/members", nil, 200, &members)
	if members.Total != 2 || members.Items[0].UID != 7 || members.Items[0].Role != "audience" || members.Items[1].UID != 42 {
		t.Fatalf("members: %+v", members)
	}
	var detail struct {
		UID        uint32
		Role       string
		JoinedAt   time.Time
		Client     struct{ Kind, SDKVersion, Device, OS string }
		Publishing bool
		Stream     *struct {
			Live    bool
			Video   struct{ Codec string }
			Bitrate int64
			Readers []struct{ ID, Viewer string }
		}
		Network *struct {
			Pusher *struct {
				Stats map[string]float64
			}
		}
	}
	c.json("GET", "/v1/apps/"+app.ID+"/channels/room/members/42", nil, 200, &detail)
	if detail.Role != "broadcaster" || detail.Client.Kind != "wechat" || detail.Client.SDKVersion != "2.6.4" ||
		detail.Client.OS != "iOS 17.2" || !detail.Publishing || detail.Stream == nil || !detail.Stream.Live ||
		detail.Stream.Bitrate <= 0 || detail.Stream.Video.Codec != "h264" || len(detail.Stream.Readers) != 1 || detail.Stream.Readers[0].Viewer != "7" ||
		detail.Network == nil || detail.Network.Pusher == nil || detail.Network.Pusher.Stats["videoBitrate"] != 812 ||
		time.Since(detail.JoinedAt) > 5*time.Minute {
		t.Fatalf("member detail: %+v", detail)
	}
	c.json("GET", "/v1/streams?appId="+app.ID+"&channel=elsewhere", nil, 200, &streams)
	if streams.Total != 0 {
		t.Fatalf("filtered streams: %+v", streams)
	}

	// Disconnecting the reader ends the FLV download; the stream goes on.
	c.json("DELETE", "/v1/readers/"+rd.ID, nil, 204, nil)
	select {
	case <-playEnded:
	case <-time.After(20 * time.Second):
		t.Fatal("the FLV reader was not disconnected")
	}
	c.json("GET", "/v1/streams", nil, 200, &streams)
	if len(streams.Items) != 1 || !streams.Items[0].Live || len(streams.Items[0].Readers) != 0 {
		t.Fatalf("after disconnect: %+v", streams)
	}
	if code, _ := c.do("DELETE", "/v1/readers/"+rd.ID, nil); code != 404 {
		t.Fatalf("second disconnect: %d", code)
	}

	// A tool pushing with a token becomes a member of kind rtmp.
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: "room",
		UID: "55", Role: token.RolePublisher, IssuedAt: time.Now(), Lifetime: 600})
	if err != nil {
		t.Fatal(err)
	}
	toolURL := "rtmp://" + n.RTMPAddr() + "/live/" + token.StreamName(app.ID, "room", "55") + "?token=" + url.QueryEscape(tok)
	tool := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=160x120:rate=15", "-t", "120", "-c:v", "libx264", "-preset", "ultrafast",
		"-g", "15", "-bf", "0", "-pix_fmt", "yuv420p", "-f", "flv", toolURL)
	if err := tool.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); tool.Wait() }()
	waitFor(t, "the tool to be a member", func() bool {
		code, b := c.do("GET", "/v1/apps/"+app.ID+"/channels/room/members/55", nil)
		return code == 200 && strings.Contains(string(b), `"kind":"rtmp"`) && strings.Contains(string(b), `"role":"broadcaster"`)
	})
}

// TestRESTAPIOwnAddress: with api.addr the API is served at the root of its
// own listener and not on the HTTP port; with api.enabled off it is nowhere.
func TestRESTAPIOwnAddress(t *testing.T) {
	cfg := testConfig(t)
	cfg.API.Addr = "127.0.0.1:0"
	cfg.API.Key = "ops:0123456789abcdef0123"
	n := startNode(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if n.APIAddr() == "" {
		t.Fatal("no API listener")
	}
	c := restClient{t: t, base: "http://" + n.APIAddr(), id: "ops", secret: "0123456789abcdef0123"}
	var projects struct {
		Projects []struct {
			VendorKey string `json:"vendor_key"`
		}
	}
	c.agora("GET", "/dev/v1/projects", nil, "projects", &projects)
	if len(projects.Projects) != 1 {
		t.Fatalf("projects: %+v", projects)
	}
	onHTTP := restClient{t: t, base: "http://" + n.HTTPAddr() + APIPrefix, id: "ops", secret: "0123456789abcdef0123"}
	if code, _ := onHTTP.do("GET", "/dev/v1/projects", nil); code != 404 {
		t.Fatalf("API also on the HTTP port: %d", code)
	}

	cfg = testConfig(t)
	cfg.API.Enabled = false
	n = startNode(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	off := restClient{t: t, base: "http://" + n.HTTPAddr() + APIPrefix}
	if code, _ := off.do("GET", "/v1/apps", nil); code != 404 || n.API() != nil {
		t.Fatalf("disabled API answered %d", code)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// postWHEP asks to play publisher's stream in channel ch as viewer with
// pc's offer (all candidates gathered) and returns the status and body.
func postWHEP(t *testing.T, n *Node, app store.App, ch, publisher, viewer string, pc *pion.PeerConnection) (int, string) {
	t.Helper()
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-g
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: ch, UID: viewer,
		Role: token.RoleSubscriber, IssuedAt: time.Now(), Lifetime: 600})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+n.HTTPAddr()+"/whep/"+app.ID+"/"+ch+"/"+publisher,
		strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
