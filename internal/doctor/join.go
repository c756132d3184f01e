package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	mc "github.com/minirtc/minirtc/client"
)

// member is a probe joined to the probe channel over the gateway
// WebSocket, as a mini program joins (the appId as its key when it has no
// token). A development app lets such a member publish over WHIP with the
// appId as bearer.
type member struct {
	conn *mc.Conn
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
	// The member's heartbeat keeps it alive (the gateway drops a
	// connection silent for 10 s); it reads no pushes, so keep only the
	// last.
	conn, err := mc.Dial(sctx, t.wsURL(), mc.WithHTTPClient(t.http), mc.WithSID(strings.Repeat("D0C7", 8)),
		mc.WithPingInterval(mc.DefaultPingInterval), mc.WithQueueSize(1))
	if err != nil {
		return nil, joinResult{}, fmt.Errorf("WebSocket %s: %w", t.wsURL(), err)
	}
	p := mc.JoinParams{AppID: appID, Channel: probeChannel, UID: uid, Key: key, Role: mc.RoleBroadcaster,
		Extra: map[string]any{"device": "minirtc doctor", "os": "minirtc doctor"}}
	conn.SetIdentity(appID, probeChannel, uid)
	reply, err := conn.Call(sctx, "join", p.Fields())
	if refused := (*mc.Error)(nil); errors.As(err, &refused) {
		var res joinResult
		_ = json.Unmarshal(reply.Raw, &res)
		_ = conn.Close()
		return nil, res, nil
	}
	if err != nil {
		conn.CloseNow()
		return nil, joinResult{}, fmt.Errorf("join: no reply: %w", err)
	}
	return &member{conn: conn}, joinResult{Code: 200}, nil
}

// leave sends leave and closes the member's connection.
func (m *member) leave(ctx context.Context, t *target) {
	sctx, cancel := t.step(context.WithoutCancel(ctx))
	defer cancel()
	_ = m.conn.Leave(sctx)
}
