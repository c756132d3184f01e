package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/token"
)

// TestWebDemo: the /demo/ page (the web SDK) in headless Chromium with a
// fake camera and microphone joins a channel next to a mini program (a
// gateway WebSocket client whose live-pusher is ffmpeg over RTMP). The page
// must join, publish H.264 over WHIP as its joined uid, get stream-added for
// the mini program and decode its video and audio over WHEP; the mini
// program must get stream-added for the browser, and ffmpeg must decode the
// browser's stream from the RTMP URL the gateway hands out. A second page
// then joins: the two browsers decode each other. Finally the first page's
// mute button reaches the others as audio-mute and its leave button as
// stream-removed. The whole test (server included) runs in a network
// namespace with only loopback: it re-executes itself under `unshare -n`.
func TestWebDemo(t *testing.T) {
	inLoopbackNetns(t, "TestWebDemo", 4*time.Minute, "web demo:", webDemoTest)
}

// demoPage is window.demo on the demo page (examples/web/app.js).
type demoPage struct {
	Joined         bool     `json:"joined"`
	Published      bool     `json:"published"`
	SentVideoCodec string   `json:"sentVideoCodec"`
	UID            uint32   `json:"uid"`
	Events         []string `json:"events"`
	Error          string   `json:"error"`
	Remotes        map[string]struct {
		FramesDecoded    int     `json:"framesDecoded"`
		TotalAudioEnergy float64 `json:"totalAudioEnergy"`
	} `json:"remotes"`
}

func webDemoTest(t *testing.T) {
	e := newNodeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Second)
	defer cancel()
	const browserUID, miniUID, secondUID = 5, 6, 7

	// The mini program joins as a broadcaster, publishes and pushes with ffmpeg.
	mp := dialMiniProgram(ctx, t, "ws://"+e.n.HTTPAddr()+"/api")
	defer mp.close()
	mp.join(e.app.ID, "room", miniUID, e.token("room", fmt.Sprint(miniUID), token.RolePublisher))
	pushURL := mp.request("publish", map[string]any{"uid": miniUID})["url"].(string)
	push := pushCmd(ctx, t, pushURL, 120)
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = push.Wait()
	}()
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, fmt.Sprint(miniUID)))

	// The browser opens the demo page with everything in the query.
	demoURL := func(uid int) string {
		q := url.Values{"appId": {e.app.ID}, "channel": {"room"}, "uid": {fmt.Sprint(uid)},
			"token": {e.token("room", fmt.Sprint(uid), token.RolePublisher)}, "autojoin": {"1"}, "video": {"320x240"}}
		return "http://" + e.n.HTTPAddr() + "/demo/?" + q.Encode()
	}
	page, host := openChromium(ctx, t, demoURL(browserUID), "/demo/")
	wait := func(d *devtools, what string, cond func(demoPage) bool) demoPage {
		t.Helper()
		var st demoPage
		for {
			if err := d.eval(ctx, "JSON.stringify(window.demo || {})", &st); err != nil {
				t.Fatalf("reading the page state: %v", err)
			}
			if st.Error != "" {
				t.Fatalf("page error while waiting for %s: %s (events %q)", what, st.Error, st.Events)
			}
			if cond(st) {
				return st
			}
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s; page state %+v", what, st)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	st := wait(page, "the page to join and publish H.264", func(s demoPage) bool {
		return s.Joined && s.Published && s.SentVideoCodec != ""
	})
	if st.UID != browserUID || !strings.EqualFold(st.SentVideoCodec, "video/H264") {
		t.Fatalf("the page joined as %d and sends video as %q, want %d and video/H264", st.UID, st.SentVideoCodec, browserUID)
	}
	if m, ok := e.n.Channels().Member(e.app.ID, "room", browserUID); !ok || !m.Publishing {
		t.Fatalf("the browser is not a publishing member: %+v", m)
	}
	if !contains(st.Events, fmt.Sprintf("stream-added %d", miniUID)) {
		t.Errorf("the page did not get stream-added %d: %q", miniUID, st.Events)
	}

	// The mini program sees the browser and plays it over RTMP.
	mp.waitPush(t, "stream-added", browserUID, nil)
	sub := mp.request("subscribe", map[string]any{"uid": browserUID, "options": map[string]any{"audio": true, "video": true, "flv": false}})
	playURL, _ := sub["url"].(string)
	if !strings.HasPrefix(playURL, "rtmp://") {
		t.Fatalf("subscribe to the browser answered %v", sub)
	}
	frames, pcm := decodeWithFFmpeg(ctx, t, playURL, "", 3)
	var energy float64
	for _, v := range pcm {
		energy += math.Abs(float64(v))
	}
	if frames < 10 || len(pcm) == 0 || energy == 0 {
		t.Errorf("ffmpeg over RTMP decoded %d frames and %d samples (energy %.1f) of the browser's stream", frames, len(pcm), energy)
	}

	// The page decodes the mini program's video and audio (WHEP).
	decoded := func(uid int) func(demoPage) bool {
		return func(s demoPage) bool {
			r, ok := s.Remotes[fmt.Sprint(uid)]
			return ok && r.FramesDecoded > 0 && r.TotalAudioEnergy > 0
		}
	}
	st = wait(page, "the mini program's video frames and audio energy", decoded(miniUID))
	r := st.Remotes[fmt.Sprint(miniUID)]
	t.Logf("web demo: page decoded %d frames, audio energy %.4f of the mini program; ffmpeg decoded %d frames, %d samples of the browser over RTMP",
		r.FramesDecoded, r.TotalAudioEnergy, frames, len(pcm))

	// A second browser joins: both pages play each other, the second one
	// the mini program too.
	second := openTab(ctx, t, host, demoURL(secondUID))
	wait(second, "the second page to join and publish", func(s demoPage) bool { return s.Joined && s.Published })
	st2 := wait(second, "the second page to decode both others", func(s demoPage) bool { return decoded(browserUID)(s) && decoded(miniUID)(s) })
	st = wait(page, "the first page to decode the second", decoded(secondUID))
	t.Logf("web demo: browser %d decoded %d frames of browser %d, browser %d decoded %d frames of browser %d",
		browserUID, st.Remotes[fmt.Sprint(secondUID)].FramesDecoded, secondUID,
		secondUID, st2.Remotes[fmt.Sprint(browserUID)].FramesDecoded, browserUID)

	// The mute button and the leave button reach the mini program and the other page.
	if err := page.eval(ctx, "document.getElementById('mute-audio').click(), true", nil); err != nil {
		t.Fatal(err)
	}
	mp.waitPush(t, "audio-mute", browserUID, func(p map[string]any) bool { return p["mute"] == true })
	wait(second, "mute-audio at the second page", func(s demoPage) bool { return contains(s.Events, fmt.Sprintf("mute-audio %d", browserUID)) })
	if err := page.eval(ctx, "document.getElementById('leave').click(), true", nil); err != nil {
		t.Fatal(err)
	}
	mp.waitPush(t, "stream-removed", browserUID, nil)
	wait(page, "the page to leave", func(s demoPage) bool { return !s.Joined })
	wait(second, "stream-removed at the second page", func(s demoPage) bool {
		_, playing := s.Remotes[fmt.Sprint(browserUID)]
		return contains(s.Events, fmt.Sprintf("stream-removed %d", browserUID)) && !playing
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, ok := e.n.Channels().Member(e.app.ID, "room", browserUID); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the browser is still a member after leave")
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ---- a mini program over the gateway WebSocket ----------------------------

// miniProgram speaks the mini program protocol (docs/protocol.md) like
// the SDK would, through the shared client (package client): requests with
// numeric requestIds, replies matched by id, pushes recorded, a heartbeat
// every 3 s.
type miniProgram struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc
	cc     *mc.Conn
	wg     sync.WaitGroup
	mu     sync.Mutex
	cond   *sync.Cond
	pushes []map[string]any
	err    error
}

func dialMiniProgram(ctx context.Context, t *testing.T, wsURL string) *miniProgram {
	t.Helper()
	c, err := mc.Dial(ctx, wsURL, mc.WithPingInterval(mc.DefaultPingInterval))
	if err != nil {
		t.Fatalf("gateway WebSocket: %v", err)
	}
	m := &miniProgram{t: t, cc: c}
	m.cond = sync.NewCond(&m.mu)
	m.wg.Add(1)
	go func() { // records pushes
		defer m.wg.Done()
		for {
			f, err := c.Next(context.Background())
			m.mu.Lock()
			if err != nil {
				m.err = err
				m.cond.Broadcast()
				m.mu.Unlock()
				return
			}
			var msg map[string]any
			if json.Unmarshal(f.Raw, &msg) == nil {
				if _, isReply := msg["requestId"].(float64); !isReply {
					if st, ok := msg["serverStatus"].(map[string]any); ok {
						m.pushes = append(m.pushes, st)
					}
				}
			}
			m.cond.Broadcast()
			m.mu.Unlock()
		}
	}()
	m.ctx, m.cancel = context.WithCancel(ctx)
	return m
}

func (m *miniProgram) close() {
	m.cancel()
	m.cc.Close()
	m.wg.Wait()
}

// reply sends one action and returns its reply, decoded as JSON; it fails
// the test on a read error or timeout.
func (m *miniProgram) reply(action string, fields map[string]any) map[string]any {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
	defer cancel()
	r, err := m.cc.Call(ctx, action, fields)
	var refused *mc.Error
	if err != nil && !errors.As(err, &refused) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.t.Fatalf("mini program: waiting for %s: %v (pushes %v)", action+" reply", err, m.pushes)
	}
	var msg map[string]any
	json.Unmarshal(r.Raw, &msg)
	return msg
}

// request sends one action and returns the serverResponse of its 200 reply.
func (m *miniProgram) request(action string, fields map[string]any) map[string]any {
	m.t.Helper()
	msg := m.reply(action, fields)
	if code, _ := msg["code"].(float64); code != 200 {
		m.t.Fatalf("%s refused: %v", action, msg)
	}
	sr, _ := msg["serverResponse"].(map[string]any)
	return sr
}

func (m *miniProgram) join(app, ch string, uid uint32, tok string) {
	m.t.Helper()
	m.cc.SetIdentity(app, ch, fmt.Sprint(uid))
	m.request("join", map[string]any{"role": "broadcaster", "appId": app, "key_vos": tok, "key_vocs": tok,
		"channel_name": ch, "uid": fmt.Sprint(uid), "uidType": 0, "clientType": "wechat", "audio_only": false})
}

// waitPush waits for a push {action, uid} (and match, if given).
func (m *miniProgram) waitPush(t *testing.T, action string, uid uint32, match func(map[string]any) bool) {
	t.Helper()
	m.await(func() bool {
		for _, p := range m.pushes {
			if p["action"] == action && p["uid"] == float64(uid) && (match == nil || match(p)) {
				return true
			}
		}
		return false
	}, fmt.Sprintf("push %s %d", action, uid))
}

// await waits under m.mu until cond holds; fails the test on a read error
// or timeout.
func (m *miniProgram) await(cond func() bool, what string) {
	m.t.Helper()
	stop := context.AfterFunc(m.ctx, func() {
		m.mu.Lock()
		m.cond.Broadcast()
		m.mu.Unlock()
	})
	defer stop()
	timeout := time.AfterFunc(30*time.Second, func() {
		m.mu.Lock()
		m.cond.Broadcast()
		m.mu.Unlock()
	})
	defer timeout.Stop()
	start := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for !cond() {
		if m.err != nil || m.ctx.Err() != nil || time.Since(start) > 30*time.Second {
			m.t.Fatalf("mini program: waiting for %s: %v (pushes %v)", what, m.err, m.pushes)
		}
		m.cond.Wait()
	}
}
