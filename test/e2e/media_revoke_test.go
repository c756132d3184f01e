package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/token"
)

// These tests check that media access ends with the member's access
// (admission): leave, kick, ban and token expiry end every media session of
// the member (RTMP, HTTP-FLV, WHEP, WHIP) and its signed URLs stop letting
// new connections in. Each measures how long the sessions took to close
// after the cause and logs it (revoke figures in the report).

// wsMember is a mini program member on the gateway WebSocket that keeps the
// pushes it reads.
type wsMember struct {
	t      *testing.T
	cc     *mc.Conn
	ctx    context.Context
	mu     sync.Mutex
	pushes []map[string]any
}

// dialMember joins uid to "room" with role and key (a token).
func dialMember(ctx context.Context, e *nodeEnv, uid, role, key string) *wsMember {
	e.t.Helper()
	cc, err := mc.Dial(ctx, "ws://"+e.n.HTTPAddr()+"/api")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cc.CloseNow)
	m := &wsMember{t: e.t, cc: cc, ctx: ctx}
	if code, r := m.call(map[string]any{"action": "join", "role": role, "appId": e.app.ID, "key_vos": key,
		"channel_name": "room", "uid": uid, "uidType": 0}); code != 200 {
		e.t.Fatalf("join: %v %v", code, r)
	}
	return m
}

// call sends one request and returns its code and serverResponse (or the
// whole reply when it failed); pushes stay for read.
func (m *wsMember) call(req map[string]any) (float64, map[string]any) {
	m.t.Helper()
	action, _ := req["action"].(string)
	reply, err := m.cc.Call(m.ctx, action, req)
	var refused *mc.Error
	if err != nil && !errors.As(err, &refused) {
		m.t.Fatalf("%v: connection closed: %v", req["action"], err)
	}
	var msg map[string]any
	if err := json.Unmarshal(reply.Raw, &msg); err != nil {
		m.t.Fatalf("bad frame %s", reply.Raw)
	}
	if msg["code"] != 200.0 {
		return msg["code"].(float64), msg
	}
	r, _ := msg["serverResponse"].(map[string]any)
	return 200, r
}

// read reads one message that no call took (nil when the connection is
// gone); pushes are kept.
func (m *wsMember) read() map[string]any {
	f, err := m.cc.Next(m.ctx)
	if err != nil {
		return nil
	}
	var msg map[string]any
	if err := json.Unmarshal(f.Raw, &msg); err != nil {
		m.t.Errorf("bad frame %s", f.Raw)
		return nil
	}
	if msg["command"] == "serverStatus" {
		m.mu.Lock()
		m.pushes = append(m.pushes, msg)
		m.mu.Unlock()
	}
	return msg
}

// waitPush reads until a push whose serverStatus action is action arrives
// (or arrived) and returns it; nil if the connection closes first.
func (m *wsMember) waitPush(action string) map[string]any {
	for {
		m.mu.Lock()
		for _, p := range m.pushes {
			if st, _ := p["serverStatus"].(map[string]any); st != nil && st["action"] == action {
				m.mu.Unlock()
				return p
			}
		}
		m.mu.Unlock()
		if m.read() == nil {
			return nil
		}
	}
}

func (m *wsMember) playURL(uid int, flv bool) string {
	m.t.Helper()
	code, r := m.call(map[string]any{"action": "subscribe", "uid": uid,
		"options": map[string]any{"audio": true, "video": true, "flv": flv}})
	u, _ := r["url"].(string)
	if code != 200 || u == "" {
		m.t.Fatalf("subscribe: %v %v", code, r)
	}
	return u
}

// shortToken is a token for uid in "room" that expires in about lifetime
// seconds (issue time is whole seconds).
func (e *nodeEnv) shortToken(uid string, role token.Role, lifetime uint32) (string, time.Time) {
	e.t.Helper()
	now := time.Now()
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: e.app.ID, AppCert: e.app.Certificate, Channel: "room", UID: uid,
		Role: role, IssuedAt: now, Lifetime: lifetime})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok, time.Unix(now.Unix()+int64(lifetime), 0)
}

// player is a running ffmpeg player; done is closed when it exits.
type player struct {
	name  string
	done  chan struct{}
	ended time.Time
}

func startPlayer(ctx context.Context, t *testing.T, wg *sync.WaitGroup, name, url string) *player {
	p := &player{name: name, done: make(chan struct{})}
	cmd := recordCmd(ctx, t, url, filepath.Join(t.TempDir(), name+".flv"))
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = runWait(cmd)
		p.ended = time.Now()
		close(p.done)
	}()
	return p
}

func (p *player) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// waitEnded waits (at most 10 s) for p to exit and returns how long after
// since it did.
func (p *player) waitEnded(t *testing.T, since time.Time) time.Duration {
	t.Helper()
	select {
	case <-p.done:
		return p.ended.Sub(since)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s player still playing", p.name)
		return 0
	}
}

// webrtcPeer is a pion WHEP viewer or WHIP publisher with a session on the node.
type webrtcPeer struct {
	pc       *pion.PeerConnection
	location string
}

// openWebRTC opens a WHEP (kind "whep": recvonly) or WHIP (kind "whip": an
// H.264 track) session for uid's stream with tok and connects it.
func openWebRTC(t *testing.T, e *nodeEnv, kind, uid, tok string) *webrtcPeer {
	t.Helper()
	pc, err := pionAPI(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if kind == "whep" {
		for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		vt, err := pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "native")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTrack(vt); err != nil {
			t.Fatal(err)
		}
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		if s == pion.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	st, body, loc := e.post(kind, uid, tok, completeOffer(t, pc))
	if st != http.StatusCreated || loc == "" {
		t.Fatalf("%s: %d %s", kind, st, body)
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s connection not established", kind)
	}
	return &webrtcPeer{pc: pc, location: loc}
}

// alive probes the session on the node: a PATCH with the wrong content type
// is refused with 415 while the session exists, 404 once it is gone.
func (w *webrtcPeer) alive(t *testing.T, e *nodeEnv) bool {
	t.Helper()
	req, _ := http.NewRequest("PATCH", "http://"+e.n.HTTPAddr()+w.location, strings.NewReader("x"))
	req.Header.Set("Content-Type", "text/plain")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	switch res.StatusCode {
	case http.StatusUnsupportedMediaType:
		return true
	case http.StatusNotFound:
		return false
	}
	t.Fatalf("PATCH probe: %d", res.StatusCode)
	return false
}

// waitGone waits (at most 10 s) for the session to end on the node and
// returns how long after since it was seen gone.
func (w *webrtcPeer) waitGone(t *testing.T, e *nodeEnv, what string, since time.Time) time.Duration {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); w.alive(t, e); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s session still open", what)
		}
	}
	return time.Since(since)
}

// getFLV opens an HTTP-FLV play; it returns the status, the catalogue code
// of a refusal, and the body of an accepted play (the caller closes it).
func getFLV(t *testing.T, url string) (int, float64, io.ReadCloser) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode == http.StatusOK {
		return res.StatusCode, 0, res.Body
	}
	defer res.Body.Close()
	var body struct {
		Code float64 `json:"code"`
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body.Code, nil
}

// startPublisher makes uid 42 a publishing member and pushes a long clip
// with ffmpeg until the test ends.
func startPublisher(t *testing.T, e *nodeEnv) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.joinPublisher(42)
	src, _ := makeSource(t, 40, true, true)
	push := pushFile(ctx, t, src, e.pushURL("42"))
	done := make(chan struct{})
	go func() {
		_ = runWait(push)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, "42"))
}

// TestMediaLeaveEndsSignedURLs: a viewer that leaves loses its RTMP and
// HTTP-FLV players at once; its play URL still lets a new connection in
// during the rejoin grace (gateway.urlRejoinGrace), that connection ends when
// the grace is over without a rejoin, and afterwards the URL is refused
// (403, code 433) over HTTP-FLV and RTMP.
func TestMediaLeaveEndsSignedURLs(t *testing.T) {
	const grace = 2 * time.Second
	e := newNodeEnv(t, func(c *config.Config) { c.Gateway.URLRejoinGrace = grace })
	startPublisher(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	v := dialMember(ctx, e, "7", "audience", e.token("room", "7", token.RoleSubscriber))
	rtmpURL, flvURL := v.playURL(42, false), v.playURL(42, true)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	players := []*player{startPlayer(ctx, t, &wg, "rtmp", rtmpURL), startPlayer(ctx, t, &wg, "flv", flvURL)}
	waitReaders(t, e.n.Media(), 2)

	left := time.Now()
	if code, r := v.call(map[string]any{"action": "leave"}); code != 200 {
		t.Fatalf("leave: %v %v", code, r)
	}
	for _, p := range players {
		t.Logf("leave: %s player closed %v after the leave", p.name, p.waitEnded(t, left).Round(time.Millisecond))
	}

	// Within the grace the URL still lets a player in (a rejoin may follow)...
	st, _, body := getFLV(t, flvURL)
	if st != http.StatusOK {
		t.Fatalf("HTTP-FLV play within the rejoin grace: %d", st)
	}
	closed := make(chan time.Time, 1)
	go func() {
		_, _ = io.Copy(io.Discard, body)
		closed <- time.Now()
	}()
	// ...and that player is cut when the grace ends without a rejoin.
	select {
	case at := <-closed:
		if d := at.Sub(left); d < grace-500*time.Millisecond {
			t.Fatalf("the player let in during the grace closed after %v, before the grace (%v) ended", d, grace)
		} else {
			t.Logf("leave: player let in during the grace closed %v after the leave (grace %v)", d.Round(time.Millisecond), grace)
		}
	case <-time.After(grace + 10*time.Second):
		body.Close()
		t.Fatal("the player let in during the rejoin grace still plays after it")
	}
	body.Close()

	// After the grace the URL is refused for new connections.
	for time.Since(left) < grace+100*time.Millisecond {
		time.Sleep(50 * time.Millisecond)
	}
	if st, code, body := getFLV(t, flvURL); st != http.StatusForbidden || code != 433 {
		if body != nil {
			body.Close()
		}
		t.Fatalf("HTTP-FLV play with a departed viewer's URL: %d code %v, want 403 code 433", st, code)
	}
	out, err := exec.CommandContext(ctx, needTool(t, "ffmpeg"), "-hide_banner", "-loglevel", "error",
		"-rw_timeout", "10000000", "-i", rtmpURL, "-t", "1", "-f", "null", "-").CombinedOutput()
	if err == nil {
		t.Fatalf("RTMP play with a departed viewer's URL succeeded: %s", out)
	}
	if r := e.n.Media().Stats().Readers; r != 0 {
		t.Fatalf("%d readers after the refusals", r)
	}
}

// TestMediaKickEndsEveryProtocol: member 7 plays uid 42 over RTMP and
// HTTP-FLV (signed URLs) and WHEP (its token), and publishes over WHIP;
// kicking it ends all four within a second, while member 8's player keeps
// playing.
func TestMediaKickEndsEveryProtocol(t *testing.T) {
	e := newNodeEnv(t)
	startPublisher(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	tok7 := e.token("room", "7", token.RolePublisher)
	m7 := dialMember(ctx, e, "7", "broadcaster", tok7)
	m8 := dialMember(ctx, e, "8", "audience", e.token("room", "8", token.RoleSubscriber))
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	players := []*player{
		startPlayer(ctx, t, &wg, "kicked-rtmp", m7.playURL(42, false)),
		startPlayer(ctx, t, &wg, "kicked-flv", m7.playURL(42, true)),
	}
	other := startPlayer(ctx, t, &wg, "other-rtmp", m8.playURL(42, false))
	waitReaders(t, e.n.Media(), 3)
	whep := openWebRTC(t, e, "whep", "42", tok7)
	whip := openWebRTC(t, e, "whip", "7", tok7)
	if m, ok := e.n.Channels().Member(e.app.ID, "room", 7); !ok || !m.Publishing {
		t.Fatalf("the WHIP session does not publish for member 7: %+v", m)
	}

	kicked := time.Now()
	if err := e.n.Channels().Kick(e.app.ID, "room", 7, "test kick"); err != nil {
		t.Fatal(err)
	}
	// WebRTC first: the probe measures when it sees the session gone, while
	// a player's exit time is recorded as it happens.
	var worst time.Duration
	for _, w := range []struct {
		name string
		peer *webrtcPeer
	}{{"WHEP", whep}, {"WHIP", whip}} {
		d := w.peer.waitGone(t, e, w.name, kicked)
		t.Logf("kick: %s session gone after %v", w.name, d.Round(time.Millisecond))
		worst = max(worst, d)
	}
	for _, p := range players {
		d := p.waitEnded(t, kicked)
		t.Logf("kick: %s closed after %v", p.name, d.Round(time.Millisecond))
		worst = max(worst, d)
	}
	if worst > 3*time.Second {
		t.Errorf("the kicked member's media took %v to close, want about a second", worst)
	}
	if !other.running() {
		t.Fatal("another member's player ended with the kick")
	}
}

// TestMediaBanEndsTokenMedia: a ban rule on uid 7 ends its WHEP session (a
// browser that never joined over the WebSocket: its token is its only
// credential) and refuses its new media connections, whatever its token.
func TestMediaBanEndsTokenMedia(t *testing.T) {
	e := newNodeEnv(t)
	startPublisher(t, e)
	tok7 := e.token("room", "7", token.RoleSubscriber)
	// uid 7 is a member (a WHIP-less web page joined over the gateway) and
	// plays over WHEP with its token.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dialMember(ctx, e, "7", "audience", tok7)
	whep := openWebRTC(t, e, "whep", "42", tok7)

	banned := time.Now()
	if n := e.n.Channels().Ban(channel.BanRule{App: e.app.ID, Channel: "room", UID: 7, Until: time.Now().Add(time.Hour)}); n != 1 {
		t.Fatalf("ban kicked %d members", n)
	}
	t.Logf("ban: WHEP session gone after %v", whep.waitGone(t, e, "WHEP", banned).Round(time.Millisecond))

	stream := token.StreamName(e.app.ID, "room", "42")
	flvURL := fmt.Sprintf("http://%s/live/%s.flv?token=%s", e.n.HTTPAddr(), stream, url.QueryEscape(tok7))
	if st, code, body := getFLV(t, flvURL); st != http.StatusForbidden || code != 433 {
		if body != nil {
			body.Close()
		}
		t.Fatalf("HTTP-FLV play by a banned uid: %d code %v, want 403 code 433", st, code)
	}
	pc, err := pionAPI(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	if st, body, _ := e.post("whep", "42", tok7, completeOffer(t, pc)); st != http.StatusForbidden || !strings.Contains(body, "banned") {
		t.Fatalf("WHEP by a banned uid: %d %s", st, body)
	}
}

// TestMediaTokenExpiry: member 7 joined with a token that expires in a few
// seconds and does not renew it: at expiry the gateway tells it why (a push
// with code 401 "dynamic key expired" and key-expired), its signed RTMP
// player and its WHEP session (same token) close, and so does an RTMP player
// of uid 9 authenticated only with ?token= (no gateway session). Member 8
// joined with an equally short token but renews it (update_key) before it
// expires: its RTMP player and WHEP session keep playing past the first
// token's expiry.
func TestMediaTokenExpiry(t *testing.T) {
	e := newNodeEnv(t)
	startPublisher(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const life = 5
	tok7, exp7 := e.shortToken("7", token.RoleSubscriber, life)
	tok8, _ := e.shortToken("8", token.RoleSubscriber, life)
	tok9, exp9 := e.shortToken("9", token.RoleSubscriber, life)
	m7 := dialMember(ctx, e, "7", "audience", tok7)
	m8 := dialMember(ctx, e, "8", "audience", tok8)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	stream := token.StreamName(e.app.ID, "room", "42")
	p7 := startPlayer(ctx, t, &wg, "m7-rtmp", m7.playURL(42, false))
	p8 := startPlayer(ctx, t, &wg, "m8-rtmp", m8.playURL(42, false))
	p9 := startPlayer(ctx, t, &wg, "token-rtmp", fmt.Sprintf("rtmp://%s/live/%s?token=%s", e.n.RTMPAddr(), stream, url.QueryEscape(tok9)))
	w7 := openWebRTC(t, e, "whep", "42", tok7)
	w8 := openWebRTC(t, e, "whep", "42", tok8)
	waitReaders(t, e.n.Media(), 3)

	// Member 8 renews before its token expires.
	fresh8 := e.token("room", "8", token.RoleSubscriber)
	if code, r := m8.call(map[string]any{"action": "update_key", "key_vos": fresh8}); code != 200 {
		t.Fatalf("update_key: %v %v", code, r)
	}

	push := m7.waitPush("key-expired")
	if push == nil {
		t.Fatal("member 7 was not told its key expired")
	}
	if push["code"] != 401.0 || !strings.HasPrefix(fmt.Sprint(push["reason"]), "dynamic key expired") {
		t.Fatalf("key-expired push %v, want code 401 and reason \"dynamic key expired: …\"", push)
	}
	t.Logf("expiry: key-expired push %v", push)
	t.Logf("expiry: member's RTMP player closed %v after its token expired", p7.waitEnded(t, exp7).Round(time.Millisecond))
	t.Logf("expiry: member's WHEP session gone %v after its token expired", w7.waitGone(t, e, "WHEP", exp7).Round(time.Millisecond))
	t.Logf("expiry: ?token= RTMP player closed %v after its token expired", p9.waitEnded(t, exp9).Round(time.Millisecond))

	// The renewed member plays on, well past the old token's end.
	for time.Now().Before(exp7.Add(3 * time.Second)) {
		time.Sleep(100 * time.Millisecond)
	}
	if !p8.running() {
		t.Fatal("the player of the member that renewed its token ended")
	}
	if !w8.alive(t, e) {
		t.Fatal("the WHEP session of the member that renewed its token ended")
	}
	if code, r := m8.call(map[string]any{"action": "ping"}); code != 200 {
		t.Fatalf("the member that renewed was removed: %v %v", code, r)
	}
}
