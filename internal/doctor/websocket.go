package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/coder/websocket"
)

const upgradeFix = "let the proxy pass WebSocket upgrades on /api to minirtc (nginx: proxy_http_version 1.1; " +
	"proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"; proxy_read_timeout 60s or more)"

// checkWebSocket upgrades GET /api as the mini program SDK does and sends
// its heartbeat: a pong back shows that frames pass the proxy both ways.
func checkWebSocket(ctx context.Context, t *target) Finding {
	wsURL := t.wsURL()
	ctx, cancel := t.step(ctx)
	defer cancel()
	hc := *t.http
	hc.Timeout = 0 // the context bounds the dial
	conn, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: &hc})
	if err != nil {
		what := fmt.Sprintf("WebSocket upgrade of %s failed: %v", wsURL, err)
		if resp != nil {
			what = fmt.Sprintf("WebSocket upgrade of %s answered %s instead of 101 Switching Protocols", wsURL, resp.Status)
		}
		return Finding{ID: "websocket", Severity: Fail, What: what, Fix: upgradeFix}
	}
	defer func() { _ = conn.CloseNow() }()
	ping, _ := json.Marshal(map[string]any{"command": "ping", "requestId": 1, "appId": "", "cname": "", "uid": "0",
		"sid": strings.Repeat("D0C7", 8), "ts": t.now().Unix()})
	if err := conn.Write(ctx, websocket.MessageText, ping); err != nil {
		return Finding{ID: "websocket", Severity: Fail, What: "WebSocket upgraded, but sending a frame failed: " + err.Error(), Fix: upgradeFix}
	}
	typ, data, err := conn.Read(ctx)
	if err != nil {
		return Finding{ID: "websocket", Severity: Fail,
			What: "WebSocket upgraded, but no answer to the heartbeat arrived: " + err.Error(), Fix: upgradeFix}
	}
	var msg struct {
		Command string `json:"command"`
	}
	if typ != websocket.MessageText || json.Unmarshal(data, &msg) != nil || msg.Command != "pong" {
		return Finding{ID: "websocket", Severity: Fail,
			What: "the WebSocket on /api answered the heartbeat with " + snippet(data) + ", not minirtc's pong",
			Fix:  "point /api at minirtc's gateway; " + upgradeFix}
	}
	_ = conn.Close(websocket.StatusNormalClosure, "close")
	return Finding{ID: "websocket", Severity: OK, What: "WebSocket " + wsURL + " upgrades and answers the heartbeat"}
}
