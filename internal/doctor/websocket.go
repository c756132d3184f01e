package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	mc "github.com/minirtc/minirtc/client"
)

const upgradeFix = "let the proxy pass WebSocket upgrades on /api to minirtc (nginx: proxy_http_version 1.1; " +
	"proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"; proxy_read_timeout 60s or more)"

// checkWebSocket upgrades GET /api as the mini program SDK does and sends
// its heartbeat: a pong back shows that frames pass the proxy both ways.
func checkWebSocket(ctx context.Context, t *target) Finding {
	wsURL := t.wsURL()
	ctx, cancel := t.step(ctx)
	defer cancel()
	conn, err := mc.Dial(ctx, wsURL, mc.WithHTTPClient(t.http), mc.WithIdentity("", "", "0"),
		mc.WithSID(strings.Repeat("D0C7", 8)), mc.WithFirstRequestID(1))
	if err != nil {
		what := fmt.Sprintf("WebSocket upgrade of %s failed: %v", wsURL, err)
		if he := (*mc.HandshakeError)(nil); errors.As(err, &he) {
			what = fmt.Sprintf("WebSocket upgrade of %s answered %s instead of 101 Switching Protocols", wsURL, he.Status)
		}
		return Finding{ID: "websocket", Severity: Fail, What: what, Fix: upgradeFix}
	}
	defer conn.CloseNow()
	if err := conn.Ping(ctx); err != nil {
		return Finding{ID: "websocket", Severity: Fail, What: "WebSocket upgraded, but sending a frame failed: " + err.Error(), Fix: upgradeFix}
	}
	m, err := conn.Next(ctx)
	if err != nil {
		return Finding{ID: "websocket", Severity: Fail,
			What: "WebSocket upgraded, but no answer to the heartbeat arrived: " + err.Error(), Fix: upgradeFix}
	}
	if m.Err != nil || m.Command() != "pong" {
		return Finding{ID: "websocket", Severity: Fail,
			What: "the WebSocket on /api answered the heartbeat with " + snippet(m.Raw) + ", not minirtc's pong",
			Fix:  "point /api at minirtc's gateway; " + upgradeFix}
	}
	_ = conn.Close()
	return Finding{ID: "websocket", Severity: OK, What: "WebSocket " + wsURL + " upgrades and answers the heartbeat"}
}
