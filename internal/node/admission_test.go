package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	pion "github.com/pion/webrtc/v4"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// answer is what a door said: allowed, or a catalogue code and reason.
type answer struct {
	code   int    // errcode.CodeOK when allowed
	reason string // the catalogue reason (errcode.Reason*), "" when allowed
}

func (a answer) String() string {
	if a.code == errcode.CodeOK {
		return "allowed"
	}
	return fmt.Sprintf("%d %q", a.code, a.reason)
}

var allowed = answer{code: errcode.CodeOK}

// refusal is the answer a catalogue error gives.
func refusal(e *errcode.Error) answer { return answer{e.Code, e.Reason} }

// fromMessage splits a catalogue message ("reason" or "reason: detail").
func fromMessage(code int, msg string) answer {
	reason, _, _ := strings.Cut(msg, ": ")
	return answer{code, reason}
}

// credential is what a principal presents at a door: an AccessToken (every
// door), or the signed media URLs the gateway issued to it (RTMP and FLV:
// the WebSocket, WHIP and WHEP take no signed URL).
type credential struct {
	token string
	// viewerUID: a token that names no uid plays as this uid (&uid=, the
	// web SDK's way) and joins the gateway as it.
	viewerUID string
	pushQuery string // signed push URL query for the principal's own stream
	playQuery string // signed play URL query (viewer = the principal)
}

// admissionDoor is one protocol's door for one action.
type admissionDoor struct {
	name   string
	action token.Action
	// signed: the door takes signed media URLs; token: it takes tokens.
	signed, token bool
	// try presents c as uid (the publisher's own stream for a publish, the
	// viewer of the source stream for a play) and undoes what it did when
	// it was let in.
	try func(t *testing.T, uid string, c credential) answer
}

// TestAdmissionTableAllDoors is the acceptance test of the one admission
// seam: the same principals at every door of a running node — the gateway
// WebSocket (join, and join+publish), RTMP publish and play (gortmplib),
// HTTP-FLV play, WHIP publish and WHEP play (pion) — get the same answer
// (allowed, or the same catalogue code and reason). The only differences
// are the documented ones, listed with their reason in the row.
func TestAdmissionTableAllDoors(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a node with ffmpeg and WebRTC")
	}
	cfg := testConfig(t)
	cfg.Gateway.IdleTimeout = 5 * time.Minute // the test's clients send no pings
	cfg.Gateway.URLRejoinGrace = time.Second
	cfg.API.RequestsPerSecond = 1000
	n := startNode(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	app, _ := n.CreatedDefaultApp()
	k, secret, _ := store.NewAPIKey("test", time.Now())
	if err := n.Store().PutAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	rest := restClient{t: t, base: "http://" + n.HTTPAddr() + APIPrefix, id: k.ID, secret: secret}
	const room, source = "room", "100"
	build := func(ch, uid string, role token.Role, cert string, issued time.Time) string {
		t.Helper()
		s, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: cert, Channel: ch, UID: uid,
			Role: role, IssuedAt: issued, Lifetime: 600})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pubTok := func(uid string) string { return build(room, uid, token.RolePublisher, app.Certificate, time.Now()) }
	stream := func(uid string) string { return token.StreamName(app.ID, room, uid) }
	rtmpBase := "rtmp://" + n.RTMPAddr() + "/live/"

	// The source every play door plays: a tool pushing with a token (it
	// joins the channel as uid 100 for as long as it pushes).
	startPush(t, rtmpBase+stream(source)+"?token="+url.QueryEscape(pubTok(source)))
	waitFor(t, "the source stream", func() bool {
		return n.Media().Live(media.Key{AppID: app.ID, Channel: room, UID: source})
	})
	// gone waits until uid is no member (a door's own join undone), so
	// that the next door meets the channel as it was.
	gone := func(uid string) {
		u, _ := strconv.ParseUint(uid, 10, 32)
		waitFor(t, "uid "+uid+" to leave", func() bool {
			_, ok := n.Channels().Member(app.ID, room, uint32(u))
			return !ok
		})
	}

	doors := []admissionDoor{
		{name: "ws-join", action: token.ActionPlay, token: true, try: func(t *testing.T, uid string, c credential) answer {
			return wsJoin(t, n, app.ID, room, uid, c, false)
		}},
		{name: "ws-publish", action: token.ActionPublish, token: true, try: func(t *testing.T, uid string, c credential) answer {
			a := wsJoin(t, n, app.ID, room, uid, c, true)
			gone(uid)
			return a
		}},
		{name: "rtmp-publish", action: token.ActionPublish, signed: true, token: true, try: func(t *testing.T, uid string, c credential) answer {
			a := rtmpTry(t, rtmpBase, stream(uid), mediaQuery(c, c.pushQuery, false), true)
			if c.pushQuery == "" {
				gone(uid)
			}
			return a
		}},
		{name: "rtmp-play", action: token.ActionPlay, signed: true, token: true, try: func(t *testing.T, _ string, c credential) answer {
			return rtmpTry(t, rtmpBase, stream(source), mediaQuery(c, c.playQuery, true), false)
		}},
		{name: "flv-play", action: token.ActionPlay, signed: true, token: true, try: func(t *testing.T, _ string, c credential) answer {
			return flvTry(t, "http://"+n.HTTPAddr()+"/live/"+stream(source)+".flv?"+mediaQuery(c, c.playQuery, true))
		}},
		{name: "whip", action: token.ActionPublish, token: true, try: func(t *testing.T, uid string, c credential) answer {
			a := webrtcTry(t, "http://"+n.HTTPAddr()+"/whip/"+app.ID+"/"+room+"/"+uid, c, true)
			gone(uid)
			return a
		}},
		{name: "whep", action: token.ActionPlay, token: true, try: func(t *testing.T, _ string, c credential) answer {
			return webrtcTry(t, "http://"+n.HTTPAddr()+"/whep/"+app.ID+"/"+room+"/"+source, c, false)
		}},
	}

	// A member that joined over the gateway, published and subscribed to
	// the source: its signed push and play URLs, its connection open.
	member := func(uid string) (*wsMember, credential) {
		t.Helper()
		m := dialGateway(t, n)
		tok := pubTok(uid)
		if a := wsCall(m, map[string]any{"action": "join", "role": "broadcaster", "appId": app.ID, "key_vos": tok,
			"channel_name": room, "uid": uid, "uidType": 0}); a != allowed {
			t.Fatalf("join %s: %v", uid, a)
		}
		_, _, pub := m.call(map[string]any{"action": "publish", "uid": uid})
		_, _, sub := m.call(map[string]any{"action": "subscribe", "uid": source})
		push, _ := pub["url"].(string)
		play, _ := sub["url"].(string)
		pu, err1 := url.Parse(push)
		pl, err2 := url.Parse(play)
		if err1 != nil || err2 != nil || pu.RawQuery == "" || !strings.Contains(pl.RawQuery, "viewer="+uid) {
			t.Fatalf("member %s URLs: %q %q", uid, push, play)
		}
		return m, credential{token: tok, pushQuery: pu.RawQuery, playQuery: pl.RawQuery}
	}
	rule := func(uid string, seconds int, privileges ...string) {
		t.Helper()
		if privileges == nil {
			privileges = []string{"join_channel"}
		}
		var out struct{ Status string }
		rest.agora("POST", "/dev/v1/kicking-rule", map[string]any{"appid": app.ID, "cname": room, "uid": uid,
			"time": seconds, "privileges": privileges}, "kicking_rule_create", &out)
		if out.Status != "success" {
			t.Fatalf("kicking rule for %s: %+v", uid, out)
		}
	}

	noPublish := refusal(errcode.NoPublishPrivilege())
	needsUID := refusal(errcode.PublishNeedsUID(""))
	banned := refusal(errcode.Banned(""))
	notMember := refusal(errcode.NoAuthorized(""))
	rows := []struct {
		name string
		uid  string
		// cred returns the principal's credential, once the doors before
		// it ran (a member's URLs are issued just before its row).
		cred    func() credential
		publish answer
		play    answer
		// except: the doors whose documented rule answers otherwise.
		except map[string]answer
	}{
		{name: "publisher token", uid: "201", cred: func() credential { return credential{token: pubTok("201")} },
			publish: allowed, play: allowed},
		{name: "subscriber token", uid: "202",
			cred: func() credential {
				return credential{token: build(room, "202", token.RoleSubscriber, app.Certificate, time.Now())}
			},
			publish: noPublish, play: allowed},
		// tokens.md: uid 0 matches any uid. A gateway join names its uid,
		// so it may publish as it; a media pusher cannot be given one
		// (RTMP never, WHIP only as a uid that joined over the gateway).
		{name: "wildcard-uid token", uid: "203",
			cred:    func() credential { return credential{token: pubTok("0"), viewerUID: "203"} },
			publish: needsUID, play: allowed, except: map[string]answer{"ws-publish": allowed}},
		{name: "token for another channel", uid: "204",
			cred: func() credential {
				return credential{token: build("other", "204", token.RolePublisher, app.Certificate, time.Now())}
			},
			publish: refusal(errcode.TokenWrongChannel()), play: refusal(errcode.TokenWrongChannel())},
		{name: "expired token", uid: "205",
			cred: func() credential {
				return credential{token: build(room, "205", token.RolePublisher, app.Certificate, time.Now().Add(-time.Hour))}
			},
			publish: refusal(errcode.KeyExpired(time.Time{})), play: refusal(errcode.KeyExpired(time.Time{}))},
		{name: "bad signature", uid: "206",
			cred: func() credential {
				return credential{token: build(room, "206", token.RolePublisher, strings.Repeat("0", 32), time.Now())}
			},
			publish: refusal(errcode.SignatureMismatch()), play: refusal(errcode.SignatureMismatch())},
		{name: "banned uid (kicking rule)", uid: "207",
			cred:    func() credential { rule("207", 60); return credential{token: pubTok("207")} },
			publish: banned, play: banned},
		{name: "publish-banned uid (kicking rule on publishing)", uid: "211",
			cred: func() credential {
				rule("211", 60, "publish_audio", "publish_video")
				return credential{token: pubTok("211")}
			},
			publish: banned, play: allowed},
		{name: "member's signed URLs", uid: "208",
			cred:    func() credential { _, c := member("208"); c.token = ""; return c },
			publish: allowed, play: allowed},
		{name: "kicked member's signed URLs", uid: "209",
			cred: func() credential {
				m, c := member("209")
				rule("209", 0) // kick only: no ban
				m.waitPush("client-is-banned-by-server", 15*time.Second)
				gone("209")
				c.token = ""
				return c
			},
			publish: notMember, play: notMember},
		// A kick is no ban: the member's token still lets it back in.
		{name: "kicked member's token", uid: "209", cred: func() credential { return credential{token: pubTok("209")} },
			publish: allowed, play: allowed},
		{name: "signed URLs after leave beyond the rejoin grace", uid: "210",
			cred: func() credential {
				m, c := member("210")
				if a := wsCall(m, map[string]any{"action": "leave"}); a != allowed {
					t.Fatalf("leave: %v", a)
				}
				gone("210")
				time.Sleep(cfg.Gateway.URLRejoinGrace + 500*time.Millisecond)
				c.token = ""
				return c
			},
			publish: notMember, play: notMember},
		// A development app's appId stands in for a token that names no
		// uid: like the wildcard token above.
		{name: "development app's appId", uid: "212",
			cred:    func() credential { devApp(t, n, app, false); return credential{token: app.ID, viewerUID: "212"} },
			publish: needsUID, play: allowed, except: map[string]answer{"ws-publish": allowed}},
		{name: "appId of an app that enforces publisher tokens", uid: "213",
			cred:    func() credential { devApp(t, n, app, true); return credential{token: app.ID, viewerUID: "213"} },
			publish: noPublish, play: allowed},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c := r.cred()
			for _, d := range doors {
				if (c.token != "" && !d.token) || (c.token == "" && !d.signed) {
					continue // this door takes no such credential
				}
				want := r.play
				if d.action == token.ActionPublish {
					want = r.publish
				}
				if w, ok := r.except[d.name]; ok {
					want = w
				}
				got := d.try(t, r.uid, c)
				if got != want {
					t.Errorf("%s: %v, want %v", d.name, got, want)
					continue
				}
				t.Logf("%s: %v", d.name, got)
			}
		})
	}
}

// devApp makes app a development app (its appId stands in for a token),
// that enforces publisher tokens or not.
func devApp(t *testing.T, n *Node, app store.App, enforce bool) {
	t.Helper()
	app.Settings.AllowNoToken, app.Settings.EnforcePublisherToken = true, enforce
	if err := n.Store().PutApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
}

// mediaQuery is the query of a media URL for c: the signed URL's, or its
// token (with the viewer's uid for a token that names none).
func mediaQuery(c credential, signed string, play bool) string {
	if c.token == "" {
		return signed
	}
	q := "token=" + url.QueryEscape(c.token)
	if play && c.viewerUID != "" {
		q += "&uid=" + c.viewerUID
	}
	return q
}

// wsCall makes one gateway call and returns its answer.
func wsCall(m *wsMember, req map[string]any) answer {
	code, reason, _ := m.call(req)
	if code == errcode.CodeOK {
		return allowed
	}
	return fromMessage(code, reason)
}

// wsJoin joins the channel as uid over the gateway WebSocket (as an
// audience member, or as a broadcaster that publishes), then leaves.
func wsJoin(t *testing.T, n *Node, appID, ch, uid string, c credential, publish bool) answer {
	m := dialGateway(t, n)
	defer m.conn.CloseNow()
	if c.viewerUID != "" {
		uid = c.viewerUID
	}
	role := "audience"
	if publish {
		role = "broadcaster"
	}
	a := wsCall(m, map[string]any{"action": "join", "role": role, "appId": appID, "key_vos": c.token,
		"channel_name": ch, "uid": uid, "uidType": 0})
	if a == allowed && publish {
		a = wsCall(m, map[string]any{"action": "publish", "uid": uid})
	}
	wsCall(m, map[string]any{"action": "leave"})
	return a
}

// rtmpDescription finds the catalogue code and message in a refused
// command's onStatus description ("433 banned: ...").
var rtmpDescription = regexp.MustCompile(`description (\d{3}) ([^}]*)}`)

// rtmpTry publishes or plays stream?query with gortmplib and closes.
func rtmpTry(t *testing.T, base, stream, query string, publish bool) answer {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	// gortmplib takes the stream name (and its query) from the fragment.
	u.Path, u.Fragment = "/live", stream+"?"+query
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c := &gortmplib.Client{URL: u, Publish: publish}
	if err := c.Initialize(ctx); err != nil {
		m := rtmpDescription.FindStringSubmatch(err.Error())
		if m == nil {
			t.Fatalf("RTMP %s: %v", stream, err)
		}
		code, _ := strconv.Atoi(m[1])
		return fromMessage(code, m[2])
	}
	c.Close()
	return allowed
}

// flvTry plays an HTTP-FLV URL and closes.
func flvTry(t *testing.T, u string) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		head := make([]byte, 3)
		if _, err := io.ReadFull(resp.Body, head); err != nil || string(head) != "FLV" {
			t.Fatalf("FLV play: %q %v", head, err)
		}
		return allowed
	}
	return httpAnswer(t, resp)
}

// httpAnswer decodes an HTTP door's catalogue error body.
func httpAnswer(t *testing.T, resp *http.Response) answer {
	t.Helper()
	var e struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &e); err != nil || e.Code == 0 {
		t.Fatalf("%s: %d %s", resp.Request.URL.Path, resp.StatusCode, b)
	}
	return fromMessage(e.Code, e.Reason)
}

// webrtcTry posts a WHIP (H.264 + Opus send) or WHEP (receive) offer with
// c's token as the bearer and, when let in, deletes the session.
func webrtcTry(t *testing.T, endpoint string, c credential, whip bool) answer {
	t.Helper()
	pc, err := loopbackClient(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if whip {
		for _, cp := range []pion.RTPCodecCapability{
			{MimeType: pion.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
			{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		} {
			tr, err := pion.NewTrackLocalStaticSample(cp, strings.TrimPrefix(cp.MimeType, "video/"), "pub")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pc.AddTransceiverFromTrack(tr, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		for _, kind := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(kind, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-g
	if !whip && c.viewerUID != "" {
		endpoint += "?uid=" + c.viewerUID
	}
	req, _ := http.NewRequest("POST", endpoint, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return httpAnswer(t, resp)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	del, _ := http.NewRequest("DELETE", loc.String(), nil)
	del.Header.Set("Authorization", "Bearer "+c.token)
	dresp, err := http.DefaultClient.Do(del)
	if err != nil {
		t.Fatal(err)
	}
	dresp.Body.Close()
	if dresp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE %s: %d", loc, dresp.StatusCode)
	}
	return allowed
}

// TestAdmissionMemberLimitAllDoors: a publisher that a media door joins to
// its channel (an RTMP push with a token, WHIP) counts against the same
// member limit as a gateway join: the app's maxUsersPerChannel, else the
// node's gateway.maxUsersPerChannel. WHIP used to ignore the node's limit.
func TestAdmissionMemberLimitAllDoors(t *testing.T) {
	cfg := testConfig(t)
	cfg.Gateway.IdleTimeout = 5 * time.Minute
	cfg.Gateway.MaxUsersPerChannel = 1
	n := startNode(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	app, _ := n.CreatedDefaultApp()
	tok := func(uid string) string {
		s, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: "full", UID: uid,
			Role: token.RolePublisher, IssuedAt: time.Now(), Lifetime: 600})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := dialGateway(t, n)
	if a := wsCall(first, map[string]any{"action": "join", "role": "broadcaster", "appId": app.ID, "key_vos": tok("1"),
		"channel_name": "full", "uid": "1", "uidType": 0}); a != allowed {
		t.Fatalf("first member: %v", a)
	}
	want := refusal(errcode.TooManyUsers(""))
	c := credential{token: tok("2")}
	got := map[string]answer{
		"ws-join": wsJoin(t, n, app.ID, "full", "2", c, false),
		"rtmp-publish": rtmpTry(t, "rtmp://"+n.RTMPAddr()+"/live/", token.StreamName(app.ID, "full", "2"),
			mediaQuery(c, "", false), true),
		"whip": webrtcTry(t, "http://"+n.HTTPAddr()+"/whip/"+app.ID+"/full/2", c, true),
	}
	for door, a := range got {
		if a != want {
			t.Errorf("%s into a full channel: %v, want %v", door, a, want)
		}
	}
	if ms := n.Channels().Members(app.ID, "full"); len(ms) != 1 {
		t.Fatalf("members %+v, want only uid 1", ms)
	}
}
