package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/diag"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/logsafe"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// POST /api/v1/logs: LOG.uploadLogs of our SDK (sdk/miniapp/src/client.js)
// posts {sdkVersion, clientType, appId, channel, uid, sid, device, os, ts,
// lines} to <apUrl origin>/api/v1/logs. The SDK resolves on any 2xx and
// rejects with the HTTP status as code and the body's reason otherwise, so
// the answers are 200 {"code":0} or {"code": <catalogue code>, "reason"}
// (error-codes.md, HTTP surfaces) with 400, 404, 413, 429 or 500.
//
// The upload must prove it comes from a member: "ticket", the logTicket our
// SDK got in its join reply (signed by the node, valid LogTicketTTL), or
// "token", a valid AccessToken for (appId, channel, uid). Without either it
// is refused with 401 before it takes from the per-app rate limit or writes
// anything, so clients that never joined (from however many addresses)
// cannot fill the app's daily budget and so evict real members' logs. The
// appId must name a known enabled app, uploads are rate limited per client IP
// (the connection's address: X-Forwarded-For is not trusted) and per app,
// and internal/diag bounds the disk per app and day.

// Limits of the upload's identity fields (the SDK's values are far shorter).
const (
	maxLogTicket  = 512
	maxLogToken   = 2048 // as a join key (a 007 token is a few hundred bytes)
	maxLogAppID   = 64
	maxLogSID     = 64
	maxLogVersion = 32
	maxLogClient  = 16
	maxLogDevice  = 128 // device model and OS strings from wx.getSystemInfoSync
)

// logBodyLimit is the largest body read: the lines' bytes (diag's
// MaxLogBytes) plus room for JSON quoting and escapes and the other fields.
func logBodyLimit(l diag.Config) int64 { return l.MaxLogBytes + l.MaxLogBytes/2 + 64<<10 }

func tooLarge(detail string) *errcode.Error {
	e := errcode.BadRequest(detail)
	e.Status = http.StatusRequestEntityTooLarge
	return e
}

// logUpload is a decoded upload body: what diag stores and the credentials.
type logUpload struct {
	diag.Upload
	ticket, token string
}

// decodeLogUpload checks and decodes an upload body. maxLines bounds the
// lines (413 above it); the byte size is checked by the caller and by diag.
func decodeLogUpload(data []byte, maxLines int) (logUpload, error) {
	var u logUpload
	r := &request{}
	if err := json.Unmarshal(data, &r.fields); err != nil || r.fields == nil {
		return u, errcode.BadRequest("body must be a JSON object")
	}
	var err error
	str := func(field string, limit int) string {
		if err != nil {
			return ""
		}
		var v string
		if v, err = r.str(field); err == nil && len(v) > limit {
			err = errcode.BadRequest(fmt.Sprintf("field %q is %d bytes, at most %d", field, len(v), limit))
		}
		return v
	}
	u.App = strings.TrimSpace(str("appId", maxLogAppID))
	u.Channel = str("channel", diag.MaxChannelBytes)
	u.SID = str("sid", maxLogSID)
	u.SDKVersion = str("sdkVersion", maxLogVersion)
	u.ClientType = str("clientType", maxLogClient)
	u.Device = str("device", maxLogDevice)
	u.OS = str("os", maxLogDevice)
	u.ticket = str("ticket", maxLogTicket)
	u.token = str("token", maxLogToken)
	if err != nil {
		return u, err
	}
	if u.App == "" {
		return u, errcode.BadRequest(`field "appId" is missing`)
	}
	if r.has("uid") {
		s, err := r.scalar("uid")
		n, perr := strconv.ParseUint(s, 10, 32)
		if err != nil || perr != nil {
			return u, typeErr("uid", "a uid (0..4294967295) or null")
		}
		u.UID = uint32(n)
	}
	ts, _, err := intField(r.fields, "ts", "ts", 0, 1<<53)
	if err != nil {
		return u, err
	}
	u.ClientTS = ts
	raw := bytes.TrimSpace(r.fields["lines"])
	if isNull(raw) {
		return u, errcode.BadRequest(`field "lines" is missing`)
	}
	if raw[0] != '[' {
		return u, typeErr("lines", "an array of strings")
	}
	// Count before decoding: a body of a million empty strings is small.
	if n := countArray(raw, maxLines+1); n > maxLines {
		return u, tooLarge(fmt.Sprintf("more than %d lines", maxLines))
	}
	var lines []json.RawMessage
	if err := json.Unmarshal(raw, &lines); err != nil {
		return u, typeErr("lines", "an array of strings")
	}
	u.Lines = make([]string, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal(l, &u.Lines[i]); err != nil || bytes.TrimSpace(l)[0] != '"' {
			return u, typeErr(fmt.Sprintf("lines[%d]", i), "a string")
		}
	}
	return u, nil
}

// countArray counts the elements of a JSON array, stopping at limit; it only
// needs to be exact up to limit for valid JSON (invalid JSON fails later).
func countArray(raw []byte, limit int) int {
	d := json.NewDecoder(bytes.NewReader(raw))
	if _, err := d.Token(); err != nil { // [
		return 0
	}
	n := 0
	for d.More() && n < limit {
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			break
		}
		n++
	}
	return n
}

type logAnswer struct {
	Code   int    `json:"code"`
	Reason string `json:"reason,omitempty"`
}

func writeLogAnswer(w http.ResponseWriter, status int, a logAnswer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}

// ServeLogs handles POST /api/v1/logs.
func (g *Gateway) ServeLogs(w http.ResponseWriter, r *http.Request) {
	err := g.serveLogs(w, r)
	if err == nil {
		writeLogAnswer(w, http.StatusOK, logAnswer{Code: 0})
		return
	}
	e := errcode.From(err)
	if e.Code == errcode.CodeInternal {
		g.log.Error("log upload failed", "remote", r.RemoteAddr, "err", err)
	} else {
		g.log.Debug("log upload refused", "remote", r.RemoteAddr, "reason", logsafe.String(e.Message()))
	}
	writeLogAnswer(w, e.HTTPStatus(), logAnswer{Code: e.Code, Reason: e.Message()})
}

func (g *Gateway) serveLogs(w http.ResponseWriter, r *http.Request) error {
	d := g.diag.Load()
	if d == nil {
		return errcode.NotFound("log upload is not enabled on this node")
	}
	if !g.logsIP.allow(addressKey(r.RemoteAddr)) {
		return errcode.TooManyRequests(fmt.Sprintf("at most %d log uploads in a row from one address, then one every %gs",
			g.cfg.LogUploadBurstPerIP, 1/g.cfg.LogUploadRatePerIP))
	}
	lim := d.Limits()
	// A slow body must not hold the handler: the whole upload has this long.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, logBodyLimit(lim)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(fmt.Sprintf("body larger than %d bytes", mbe.Limit))
		}
		return errcode.BadRequest("could not read the body")
	}
	u, err := decodeLogUpload(body, lim.MaxLogLines)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	app, err := g.apps.App(ctx, u.App)
	cancel()
	if errors.Is(err, store.ErrNotFound) || (err == nil && !app.Enabled) {
		return errcode.NotFound(fmt.Sprintf("app %q is unknown or disabled", u.App))
	}
	if err != nil {
		return fmt.Errorf("gateway: load app: %w", err)
	}
	if err := g.checkLogCredentials(app, &u); err != nil {
		return err
	}
	if !g.logsApp.allow(app.ID) {
		return errcode.TooManyRequests("too many log uploads for this app; try again later")
	}
	u.App, u.Remote = app.ID, r.RemoteAddr
	f, err := d.WriteLog(u.Upload)
	switch {
	case errors.Is(err, diag.ErrTooLarge):
		return tooLarge(strings.TrimPrefix(err.Error(), diag.ErrTooLarge.Error()+": "))
	case errors.Is(err, diag.ErrInvalid):
		return errcode.BadRequest(strings.TrimPrefix(err.Error(), diag.ErrInvalid.Error()+": "))
	case err != nil:
		return fmt.Errorf("gateway: store log: %w", err)
	}
	g.log.Debug("client log uploaded", "remote", r.RemoteAddr, "app", u.App, "channel", u.Channel, "uid", u.UID,
		"sid", u.SID, "lines", len(u.Lines), "bytes", f.Size, "file", f.Day+"/"+f.Name)
	return nil
}

// checkLogCredentials accepts an upload with a valid ticket for app (the
// ticket's channel and uid then name the file, whatever the body says) or a
// valid token for the body's (app, channel, uid). Anything else is 401.
func (g *Gateway) checkLogCredentials(app store.App, u *logUpload) error {
	now := g.cfg.Clock.Now()
	if u.ticket != "" {
		t, err := g.signer.VerifyLogTicket(u.ticket, now)
		if err != nil {
			return err
		}
		if t.AppID != app.ID {
			return errcode.Unauthorized("the log upload ticket is for another app")
		}
		u.Channel, u.UID = t.Channel, t.UID
		return nil
	}
	if u.token == "" || u.token == app.ID {
		return errcode.Unauthorized(`log uploads need the "ticket" of a join reply or the member's "token"`)
	}
	if app.Certificate == "" {
		return errcode.Unauthorized(`this app has no certificate: log uploads need the "ticket" of a join reply`)
	}
	if u.Channel == "" {
		return errcode.Unauthorized(`a log upload with a "token" needs the "channel" and "uid" it was issued for`)
	}
	_, err := token.Check(u.token, token.Claims{AppID: app.ID, AppCert: app.Certificate, Channel: u.Channel,
		UID: strconv.FormatUint(uint64(u.UID), 10)}, now)
	return err
}

// addressKey is the per-address rate limit key of a connection's remote
// address (never a forwarded header): the IPv4 address, or the /64 prefix
// of an IPv6 one, since one host commonly holds a whole /64 and could
// otherwise take as many keys as it likes.
func addressKey(remote string) string {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
