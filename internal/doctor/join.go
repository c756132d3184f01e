package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// member is a probe joined to the probe channel over the gateway
// WebSocket, as a mini program joins (the appId as its key when it has no
// token). A development app lets such a member publish over WHIP with the
// appId as bearer.
type member struct {
	conn   *websocket.Conn
	appID  string
	uid    string
	cancel context.CancelFunc
	done   chan struct{}
}

// joinResult is the gateway's reply to the probe's join.
type joinResult struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// wsURL is the gateway WebSocket's URL.
func (t *target) wsURL() string {
	u := *t.base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	return strings.TrimSuffix(u.String(), "/") + "/api"
}

// join joins uid to the probe channel of appID with key. On a 200 reply
// the member stays joined (heartbeats every 3 s) until leave; otherwise
// the connection is closed and the reply returned.
func (t *target) join(ctx context.Context, appID, uid, key string) (*member, joinResult, error) {
	sctx, cancel := t.step(ctx)
	defer cancel()
	hc := *t.http
	hc.Timeout = 0 // the context bounds the dial
	conn, _, err := websocket.Dial(sctx, t.wsURL(), &websocket.DialOptions{HTTPClient: &hc})
	if err != nil {
		return nil, joinResult{}, fmt.Errorf("WebSocket %s: %w", t.wsURL(), err)
	}
	sid := strings.Repeat("D0C7", 8)
	req, _ := json.Marshal(map[string]any{
		"appId": appID, "cname": probeChannel, "uid": uid, "sid": sid, "sdkVersion": "1.1.0", "seq": 2, "requestId": 3,
		"ts": t.now().Unix(),
		"clientRequest": map[string]any{
			"action": "join", "role": "broadcaster", "appId": appID, "customAudioCodec": nil,
			"key_vocs": key, "key_vos": key, "channel_name": probeChannel, "uid": uid, "uidType": 0, "vid": "1",
			"device": "minirtc doctor", "os": "minirtc doctor", "version": "2.6.4", "clientType": "wechat", "audio_only": false,
		},
	})
	if err := conn.Write(sctx, websocket.MessageText, req); err != nil {
		_ = conn.CloseNow()
		return nil, joinResult{}, fmt.Errorf("join: %w", err)
	}
	for {
		_, data, err := conn.Read(sctx)
		if err != nil {
			_ = conn.CloseNow()
			return nil, joinResult{}, fmt.Errorf("join: no reply: %w", err)
		}
		var reply struct {
			Command   string          `json:"command"`
			RequestID json.RawMessage `json:"requestId"`
			joinResult
		}
		if json.Unmarshal(data, &reply) != nil || string(reply.RequestID) != "3" {
			continue // a push
		}
		if reply.Code != 200 {
			_ = conn.Close(websocket.StatusNormalClosure, "close")
			return nil, reply.joinResult, nil
		}
		break
	}
	// Joined: keep the member alive (the gateway drops a connection silent
	// for 10 s) and drain what it pushes, until leave.
	mctx, mcancel := context.WithCancel(context.WithoutCancel(ctx))
	m := &member{conn: conn, appID: appID, uid: uid, cancel: mcancel, done: make(chan struct{})}
	rctx := conn.CloseRead(mctx)
	go func() {
		defer close(m.done)
		tick := time.NewTicker(3 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-tick.C:
				ping, _ := json.Marshal(map[string]any{"command": "ping", "requestId": 4, "appId": appID, "cname": probeChannel,
					"uid": uid, "sid": sid, "ts": time.Now().Unix()})
				if conn.Write(rctx, websocket.MessageText, ping) != nil {
					return
				}
			}
		}
	}()
	return m, joinResult{Code: 200}, nil
}

// leave sends leave and closes the member's connection.
func (m *member) leave(ctx context.Context, t *target) {
	sctx, cancel := t.step(context.WithoutCancel(ctx))
	defer cancel()
	req, _ := json.Marshal(map[string]any{"appId": m.appID, "cname": probeChannel, "uid": m.uid, "seq": 3, "requestId": 5,
		"ts": time.Now().Unix(), "clientRequest": map[string]any{"action": "leave", "uid": m.uid}})
	_ = m.conn.Write(sctx, websocket.MessageText, req)
	_ = m.conn.Close(websocket.StatusNormalClosure, "close")
	m.cancel()
	<-m.done
}
