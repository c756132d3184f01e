package gateway

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/minirtc/minirtc/internal/store"
)

// bigPing is a ping request padded to n bytes.
func bigPing(n int) string {
	head := `{"requestId":7,"clientRequest":{"action":"ping","pad":"`
	tail := `"}}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

// TestPreJoinFrameLimit: before the socket has joined, a frame over
// PreJoinMaxBytes (16 KiB by default) closes it with 1009 (message too
// big); after a join the same frame is read and answered (MaxMessageBytes,
// 64 KiB, applies).
func TestPreJoinFrameLimit(t *testing.T) {
	e := newEnv(t, nil)
	frame := bigPing(20 << 10)

	pre := e.dial()
	pre.sendRaw(frame)
	if code, reason, _ := pre.closed(); code != websocket.StatusMessageTooBig {
		t.Fatalf("20 KiB frame before join: close %d %q, want %d", code, reason, websocket.StatusMessageTooBig)
	}

	joined := e.dial()
	joined.join("1", "broadcaster")
	joined.sendRaw(frame)
	if m := joined.wait(7); m.code() != "200" {
		t.Fatalf("20 KiB ping after join: %s", m)
	}
	joined.ok("ping", nil)
}

// TestJoinTimeout: a socket that keeps pinging but never joins is closed
// with 1008 (policy violation) once JoinTimeout has passed; a joined socket
// is not.
func TestJoinTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEnv(t, func(c *Config, _ *store.App) { c.JoinTimeout = timeout })
	joined := e.dial()
	joined.join("1", "broadcaster")

	idle := e.dial()
	start := time.Now()
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			_ = idle.conn.Write(t.Context(), websocket.MessageText, []byte(fmt.Sprintf(`{"command":"ping","requestId":%d}`, 100+i)))
		}
	}()
	code, reason, _ := idle.closed()
	close(stop)
	if code != websocket.StatusPolicyViolation || !strings.Contains(reason, "join within") {
		t.Fatalf("unjoined socket: close %d %q, want %d", code, reason, websocket.StatusPolicyViolation)
	}
	if d := time.Since(start); d < timeout {
		t.Fatalf("closed after %v, before the join timeout", d)
	}
	joined.ok("ping", nil) // well past the timeout, still served
}
