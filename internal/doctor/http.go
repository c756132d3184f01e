package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// maxSkew is the clock difference reported: tokens carry issue and expiry
// times the server checks against its own clock.
const maxSkew = 30 * time.Second

const proxyFix = "forward every path (/healthz, /api/v1, /api, /whip/, /whep/, /live/) unchanged to minirtc's HTTP port (http.addr), or check the URL"

// serverDate is the server's Date header and the local time it stands for
// (the middle of the request).
type serverDate struct {
	server, local time.Time
	ok            bool
}

// do sends a request to path and reads at most 64 KiB of the answer.
func (t *target) do(ctx context.Context, method, path, contentType string, body []byte, hdr http.Header) (*http.Response, []byte, serverDate, error) {
	ctx, cancel := t.step(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, t.endpoint(path), bytes.NewReader(body))
	if err != nil {
		return nil, nil, serverDate{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	sent := t.now()
	resp, err := t.http.Do(req)
	if err != nil {
		return nil, nil, serverDate{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	got := t.now()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return resp, b, serverDate{}, err
	}
	var d serverDate
	if st, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		d = serverDate{server: st, local: sent.Add(got.Sub(sent) / 2), ok: true}
	}
	return resp, b, d, nil
}

// checkHealth fetches /healthz: status ok and the version, and every
// listener it reports. It returns the response's Date for checkClock.
func checkHealth(ctx context.Context, t *target) ([]Finding, serverDate) {
	resp, body, date, err := t.do(ctx, http.MethodGet, "/healthz", "", nil, nil)
	if err != nil {
		return []Finding{{ID: "healthz", Severity: Fail,
			What: "GET " + t.endpoint("/healthz") + ": " + err.Error(),
			Fix:  "start minirtc (minirtc serve) and open its HTTP port (http.addr) in the firewall, or " + proxyFix}}, date
	}
	var h map[string]any
	jsonErr := json.Unmarshal(body, &h)
	status, _ := h["status"].(string)
	unhealthy := jsonErr == nil && status == "unhealthy" // a listener stopped: listed below
	if !unhealthy && (resp.StatusCode != http.StatusOK || jsonErr != nil || status != "ok") {
		what := fmt.Sprintf("GET /healthz answered %s: %s", resp.Status, snippet(body))
		fix := proxyFix
		if jsonErr == nil && status == "starting" {
			fix = "minirtc is starting or stopping: wait, or see its log (journalctl -u minirtc) if it stays so"
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			what = fmt.Sprintf("GET /healthz is redirected (%s) to %s: mini programs do not follow redirects of /api/v1 and /api", resp.Status, loc)
			fix = "check the URL clients use (minirtc doctor --url with the redirect's scheme and host), and give clients that one"
		}
		return []Finding{{ID: "healthz", Severity: Fail, What: what, Fix: fix}}, date
	}
	version, _ := h["version"].(string)
	uptime, _ := h["uptime"].(string)
	out := []Finding{{ID: "healthz", Severity: OK, What: fmt.Sprintf("/healthz ok: minirtc %s, up %s", version, uptime)}}
	if unhealthy {
		out[0] = Finding{ID: "healthz", Severity: Fail,
			What: fmt.Sprintf("/healthz unhealthy (%s): a listener of minirtc %s stopped", resp.Status, version),
			Fix:  "restart minirtc; its log (journalctl -u minirtc) says why the listener stopped"}
	}
	// Listener health: /healthz reports
	// {"listeners": {"rtmp": {"state": "serving", "acceptErrors": 0, ...}, ...}}
	// (state serving, retrying after a failure that passes, stopped for
	// good); a plain {"rtmp": "ok"} is read too.
	if ls, ok := h["listeners"].(map[string]any); ok {
		names := make([]string, 0, len(ls))
		for n := range ls {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			st := fmt.Sprint(ls[n])
			if m, ok := ls[n].(map[string]any); ok {
				st = fmt.Sprint(m["state"])
				if m["state"] == nil {
					st = fmt.Sprint(m["status"])
				}
				if e, ok := m["acceptErrors"].(float64); ok && e > 0 {
					st += fmt.Sprintf(" (%.0f failed accepts since start)", e)
				}
			}
			f := Finding{ID: "listener-" + n, Severity: OK, What: "listener " + n + ": " + st}
			switch {
			case strings.HasPrefix(st, "serving"), st == "ok":
			case strings.HasPrefix(st, "retrying"):
				f.Severity = Warn
				f.Fix = "the listener's accepts fail for now (often: out of file descriptors, raise LimitNOFILE); see minirtc's log for listener " + n
			default:
				f.Severity = Fail
				f.Fix = "see minirtc's log for listener " + n + " (journalctl -u minirtc) and its address in the configuration"
			}
			out = append(out, f)
		}
	}
	return out, date
}

// checkClock compares the server's Date header with this machine's clock.
func checkClock(d serverDate) Finding {
	if !d.ok {
		return Finding{ID: "clock-skew", Severity: Info,
			What: "the server's clock was not compared: no answer from /healthz, or no Date header in it"}
	}
	skew := d.server.Sub(d.local)
	abs := skew.Abs()
	side := "ahead of"
	if skew < 0 {
		side = "behind"
	}
	if abs > maxSkew {
		return Finding{ID: "clock-skew", Severity: Warn,
			What: fmt.Sprintf("the server's clock is %s %s this machine's: tokens are time-bound, so the server refuses tokens a token server with the other clock signs (too new, or already expired)", abs.Round(time.Second), side),
			Fix:  "keep every clock synchronised: run NTP (chrony or systemd-timesyncd; timedatectl set-ntp true) on the server, the token server and this machine"}
	}
	return Finding{ID: "clock-skew", Severity: OK,
		What: fmt.Sprintf("the server's clock is within %s of this machine's (Date header, 1 s resolution)", maxSkew)}
}

// checkAllocation posts an allocation request shaped like the mini program
// SDK's: minirtc answers 200 with a json_body string holding vid and
// servers.
func checkAllocation(ctx context.Context, t *target) Finding {
	appID := strings.Repeat("0", 32)
	if t.o.App != nil {
		appID = t.o.App.ID
	}
	inner, _ := json.Marshal(map[string]any{
		"command": "convergeAllocateEdge", "sid": strings.Repeat("D0C7", 8), "appId": appID, "token": appID,
		"uid": "1", "cname": "minirtc-doctor", "ts": t.now().Unix(), "version": "1.1.0", "seq": 0, "requestId": 1,
	})
	body, _ := json.Marshal(map[string]string{"service_name": "miniapp", "json_body": string(inner)})
	hdr := http.Header{"X-Packet-Uri": {"61"}, "X-Packet-Service-Type": {"0"}}
	resp, b, _, err := t.do(ctx, http.MethodPost, "/api/v1", "application/json", body, hdr)
	if err != nil {
		return Finding{ID: "allocation", Severity: Fail, What: "POST " + t.endpoint("/api/v1") + ": " + err.Error(), Fix: proxyFix}
	}
	var outer struct {
		Code     *int   `json:"code"`
		JSONBody string `json:"json_body"`
	}
	var ans struct {
		Code    int             `json:"code"`
		VID     json.RawMessage `json:"vid"`
		Servers []struct {
			Address string `json:"address"`
		} `json:"servers"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &outer) != nil || outer.Code == nil ||
		json.Unmarshal([]byte(outer.JSONBody), &ans) != nil || len(ans.VID) == 0 || string(ans.VID) == "null" {
		return Finding{ID: "allocation", Severity: Fail,
			What: fmt.Sprintf("POST /api/v1 answered %s: %s (not minirtc's allocation answer: the mini program SDK's join would hang)", resp.Status, snippet(b)),
			Fix:  "forward POST /api/v1 with its body unchanged to minirtc; " + proxyFix}
	}
	return Finding{ID: "allocation", Severity: OK, What: fmt.Sprintf("POST /api/v1 answers the allocation (vid %s)", ans.VID)}
}

// snippet is the start of a body, on one line.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	if s == "" {
		return "(empty)"
	}
	return s
}
