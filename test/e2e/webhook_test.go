package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/node"
	"github.com/minirtc/minirtc/internal/token"
)

// hookReceiver is an Agora notification receiver as an Agora user writes
// one (docs.agora.io, "Channel event types"): it verifies
// Agora-Signature-V2 (HMAC/SHA256 of the raw body with the secret, hex)
// with crypto/hmac and refuses anything else; it also checks the V1
// (HMAC/SHA1) header.
type hookReceiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	got    []hookNotice
}

type hookNotice struct {
	NoticeID  string         `json:"noticeId"`
	ProductID int            `json:"productId"`
	EventType int            `json:"eventType"`
	NotifyMs  int64          `json:"notifyMs"`
	Payload   map[string]any `json:"payload"`
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m2 := hmac.New(sha256.New, []byte(h.secret))
	m2.Write(body)
	m1 := hmac.New(sha1.New, []byte(h.secret))
	m1.Write(body)
	if !hmac.Equal([]byte(hex.EncodeToString(m2.Sum(nil))), []byte(r.Header.Get("Agora-Signature-V2"))) ||
		!hmac.Equal([]byte(hex.EncodeToString(m1.Sum(nil))), []byte(r.Header.Get("Agora-Signature"))) {
		h.t.Errorf("a notice with a bad signature: %s", body)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var n hookNotice
	if err := json.Unmarshal(body, &n); err != nil {
		h.t.Errorf("notice does not parse: %v: %s", err, body)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.got = append(h.got, n)
	h.mu.Unlock()
}

func (h *hookReceiver) notices() []hookNotice {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookNotice(nil), h.got...)
}

// summary is "type:uid" per notice (uid left out when absent).
func summary(ns []hookNotice) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = fmt.Sprint(n.EventType)
		if u, ok := n.Payload["uid"]; ok {
			out[i] += fmt.Sprintf(":%v", u)
		}
	}
	return out
}

// apiCall is one REST API call with the test's key.
func apiCall(t *testing.T, addr, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+addr+node.APIPrefix+path, rd)
	req.SetBasicAuth("hooks", "hooks-secret-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// TestWebhooksScriptedSession: on a real node with two webhook endpoints
// added through the REST API (an httptest recorder and an Agora-style
// receiver), a scripted session produces exactly the expected notices in
// order, each signed: a mini program joins as broadcaster (Android) and
// publishes over RTMP with ffmpeg, a WHEP player plays the stream, a
// second mini program joins as audience (iOS), becomes broadcaster, is
// kicked by a banning rule (POST /dev/v1/kicking-rule), and the first leaves. The deliveries listing shows them all
// delivered, and a redelivery repeats one with its noticeId.
func TestWebhooksScriptedSession(t *testing.T) {
	needTool(t, "ffmpeg")
	e := newNodeEnv(t, func(c *config.Config) { c.API.Key = "hooks:hooks-secret-0123456789" })
	addr := e.n.HTTPAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const secret = "agora-receiver-secret-42"
	agora := &hookReceiver{t: t, secret: secret}
	agoraSrv := httptest.NewServer(agora)
	defer agoraSrv.Close()
	var ids []string
	for _, u := range []string{agoraSrv.URL + "/ncs"} {
		var ep struct{ ID, Secret string }
		if st := apiCall(t, addr, "POST", "/v1/apps/"+e.app.ID+"/webhooks", map[string]string{"url": u, "secret": secret}, &ep); st != 201 || ep.Secret != secret {
			t.Fatalf("add webhook: %d %+v", st, ep)
		}
		ids = append(ids, ep.ID)
	}
	// The second endpoint gets a random secret from the API.
	rec := &hookReceiver{t: t}
	recSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rec.ServeHTTP(w, r) }))
	defer recSrv.Close()
	var ep2 struct{ ID, Secret string }
	if st := apiCall(t, addr, "POST", "/v1/apps/"+e.app.ID+"/webhooks", map[string]string{"url": recSrv.URL}, &ep2); st != 201 || len(ep2.Secret) != 64 {
		t.Fatalf("add webhook: %d %+v", st, ep2)
	}
	rec.secret = ep2.Secret
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if st := apiCall(t, addr, "GET", "/v1/apps/"+e.app.ID+"/webhooks", nil, &list); st != 200 || len(list.Items) != 2 || list.Items[0]["secret"] != nil {
		t.Fatalf("list webhooks: %d %+v", st, list)
	}

	a := dialMiniProgram(ctx, t, "ws://"+addr+"/api")
	defer a.close()
	a.request("join", map[string]any{"role": "broadcaster", "appId": e.app.ID, "key_vos": e.token("room", "10", token.RolePublisher),
		"channel_name": "room", "uid": "10", "uidType": 0, "clientType": "wechat", "os": "Android 13"})
	pub := a.request("publish", nil)
	pushURL, _ := pub["url"].(string)
	if pushURL == "" {
		t.Fatalf("publish: %v", pub)
	}
	push := pushCmd(ctx, t, pushURL, 60)
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = push.Wait() }()
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, "10"))

	// A WHEP player plays it.
	pc, err := pionAPI(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	gotRTP := make(chan struct{}, 1)
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			select {
			case gotRTP <- struct{}{}:
			default:
			}
		}
	})
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	st, body, _ := e.post("whep", "10", e.token("room", "1001", token.RoleSubscriber), completeOffer(t, pc))
	if st != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", st, body)
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gotRTP:
	case <-ctx.Done():
		t.Fatal("no WHEP media")
	}

	b := dialMiniProgram(ctx, t, "ws://"+addr+"/api")
	defer b.close()
	b.request("join", map[string]any{"role": "audience", "appId": e.app.ID, "key_vos": e.token("room", "11", token.RolePublisher),
		"channel_name": "room", "uid": "11", "uidType": 0, "clientType": "wechat", "os": "iOS 17.2"})
	b.request("set_role", map[string]any{"role": "broadcaster"})
	// Kicked by a banning rule through Agora's kicking-rule API.
	var rule struct {
		Status string `json:"status"`
	}
	if st := apiCall(t, addr, "POST", "/dev/v1/kicking-rule", map[string]any{"appid": e.app.ID, "cname": "room", "uid": 11,
		"time": 1, "privileges": []string{"join_channel"}}, &rule); st != 200 || rule.Status != "success" {
		t.Fatalf("kicking rule: %d %+v", st, rule)
	}
	time.Sleep(1100 * time.Millisecond) // so that uid 10's duration is at least 1 s
	a.request("leave", nil)

	want := []string{"101", "103:10", "1001:10", "105:11", "111:11", "1005:11", "104:11", "1002:10", "104:10", "102"}
	for _, r := range []*hookReceiver{agora, rec} {
		deadline := time.Now().Add(15 * time.Second)
		for len(r.notices()) < len(want) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond) // and nothing more
	for name, r := range map[string]*hookReceiver{"agora": agora, "recorder": rec} {
		got := r.notices()
		if strings.Join(summary(got), " ") != strings.Join(want, " ") {
			t.Fatalf("%s got %v, want %v", name, summary(got), want)
		}
		var last float64
		for _, n := range got {
			if n.ProductID != 1 || n.NoticeID == "" || n.Payload["channelName"] != "room" || n.NotifyMs == 0 {
				t.Errorf("%s: %+v", name, n)
			}
			if s, ok := n.Payload["clientSeq"].(float64); ok {
				if s <= last {
					t.Errorf("%s: clientSeq %v after %v", name, s, last)
				}
				last = s
			}
		}
		p := func(i int, k string) any { return got[i].Payload[k] }
		if p(1, "platform") != 1.0 || p(3, "platform") != 2.0 {
			t.Errorf("%s: platforms %v %v, want 1 (Android) and 2 (iOS)", name, p(1, "platform"), p(3, "platform"))
		}
		if p(2, "protocol") != "rtmp" || p(2, "videoCodec") != "H264" || p(2, "audioCodec") != "AAC" || p(2, "width") != 320.0 || p(2, "height") != 240.0 {
			t.Errorf("%s: stream published %v", name, got[2].Payload)
		}
		if p(6, "reason") != 3.0 || p(8, "reason") != 1.0 || p(7, "stopReason") != "left" || p(9, "lastUid") != 10.0 {
			t.Errorf("%s: reasons %v %v %v, lastUid %v", name, p(6, "reason"), p(8, "reason"), p(7, "stopReason"), p(9, "lastUid"))
		}
		if d, ok := p(8, "duration").(float64); !ok || d < 1 {
			t.Errorf("%s: duration %v", name, p(8, "duration"))
		}
	}

	var deliveries struct {
		Items []struct {
			NoticeID, EndpointID, Status string
			EventType                    int
			Attempts                     int
		} `json:"items"`
	}
	if st := apiCall(t, addr, "GET", "/v1/apps/"+e.app.ID+"/webhooks/deliveries?limit=500", nil, &deliveries); st != 200 || len(deliveries.Items) != 2*len(want) {
		t.Fatalf("deliveries: %d %d items", st, len(deliveries.Items))
	}
	for _, d := range deliveries.Items {
		if d.Status != "delivered" || d.Attempts != 1 {
			t.Errorf("delivery %+v", d)
		}
	}
	m := scrapeMetrics(t, addr)
	if sent, pending := m.value("minirtc_webhook_deliveries_total", "result=sent"), m.value("minirtc_webhook_pending"); sent != float64(2*len(want)) || pending != 0 || m["minirtc_webhook_pending"] == nil {
		t.Errorf("metrics: sent %v pending %v", sent, pending)
	}
	first := agora.notices()[0].NoticeID
	if st := apiCall(t, addr, "POST", "/v1/apps/"+e.app.ID+"/webhooks/deliveries/"+first+"/redeliver", nil, nil); st != 200 {
		t.Fatalf("redeliver: %d", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(agora.notices()) == len(want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := agora.notices(); len(got) != len(want)+1 || got[len(want)].NoticeID != first {
		t.Errorf("after redeliver: %v", summary(got))
	}
	if st := apiCall(t, addr, "POST", "/v1/apps/"+e.app.ID+"/webhooks/deliveries/nope/redeliver", nil, nil); st != 404 {
		t.Errorf("redeliver unknown: %d", st)
	}
	// A test notice, then the endpoint removed.
	var test struct{ NoticeID string }
	if st := apiCall(t, addr, "POST", "/v1/apps/"+e.app.ID+"/webhooks/"+ids[0]+"/test", nil, &test); st != 202 || test.NoticeID == "" {
		t.Fatalf("test: %d %+v", st, test)
	}
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		got := agora.notices()
		if got[len(got)-1].EventType == 1000 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := agora.notices(); got[len(got)-1].NoticeID != test.NoticeID {
		t.Errorf("no test notice: %v", summary(got))
	}
	if st := apiCall(t, addr, "DELETE", "/v1/apps/"+e.app.ID+"/webhooks/"+ids[0], nil, nil); st != 204 {
		t.Errorf("delete: %d", st)
	}
	if st := apiCall(t, addr, "DELETE", "/v1/apps/"+e.app.ID+"/webhooks/"+ids[0], nil, nil); st != 404 {
		t.Errorf("second delete: %d", st)
	}
	if st := apiCall(t, addr, "POST", "/v1/apps/"+e.app.ID+"/webhooks", map[string]string{"url": "ftp://x"}, nil); st != 400 {
		t.Errorf("bad url: %d", st)
	}
	if st := apiCall(t, addr, "GET", "/v1/apps/00000000000000000000000000000000/webhooks", nil, nil); st != 404 {
		t.Errorf("unknown app: %d", st)
	}
}
