package doctor

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// rtmpHandshakeSize is the size of C1/S1/C2/S2 (RTMP 1.0, section 5.2).
const rtmpHandshakeSize = 1536

// checkRTMP connects to the RTMP port of the URL's host and performs the
// first half of the RTMP handshake (C0+C1 → S0+S1), then sends C2 and
// hangs up.
func checkRTMP(ctx context.Context, t *target) Finding {
	addr := net.JoinHostPort(t.host, strconv.Itoa(t.o.RTMPPort))
	fix := fmt.Sprintf("open TCP port %d to everyone (firewall, cloud security group, Docker -p %d:%d) and check rtmp.addr (--rtmp-addr); mini programs' <live-pusher> and <live-player> use it directly, not through an HTTP proxy",
		t.o.RTMPPort, t.o.RTMPPort, t.o.RTMPPort)
	ctx, cancel := t.step(ctx)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Finding{ID: "rtmp", Severity: Fail, What: "RTMP port " + addr + " unreachable: " + err.Error(), Fix: fix}
	}
	defer func() { _ = c.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	c1 := make([]byte, 1+rtmpHandshakeSize)
	c1[0] = 3 // C0: RTMP version 3

	ms := uint32(time.Now().UnixMilli()) //nolint:gosec // G115: C1's time is 32-bit milliseconds that wrap by design
	binary.BigEndian.PutUint32(c1[1:5], ms)
	if _, err := rand.Read(c1[9:]); err != nil {
		return Finding{ID: "rtmp", Severity: Fail, What: "RTMP probe: " + err.Error()}
	}
	if _, err := c.Write(c1); err != nil {
		return Finding{ID: "rtmp", Severity: Fail, What: "RTMP handshake with " + addr + ": " + err.Error(), Fix: fix}
	}
	s01 := make([]byte, 1+rtmpHandshakeSize)
	if _, err := io.ReadFull(c, s01); err != nil {
		return Finding{ID: "rtmp", Severity: Fail,
			What: "TCP port " + addr + " accepts connections but completes no RTMP handshake: " + err.Error(),
			Fix:  "make sure this port reaches minirtc's RTMP listener (rtmp.addr), not another service or an HTTP proxy"}
	}
	if s01[0] != 3 {
		return Finding{ID: "rtmp", Severity: Fail,
			What: fmt.Sprintf("%s answered the RTMP handshake with version %d, not 3: not an RTMP server", addr, s01[0]),
			Fix:  "make sure this port reaches minirtc's RTMP listener (rtmp.addr)"}
	}
	_, _ = c.Write(s01[1:]) // C2 echoes S1
	return Finding{ID: "rtmp", Severity: OK, What: "RTMP handshake with " + addr + " completes"}
}
