package token

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
)

// LogTicket names the member a log upload ticket was issued to.
type LogTicket struct {
	AppID, Channel string
	UID            uint32
	Expire         time.Time
}

// maxTicketLen bounds a ticket: appId, base64url channel, uid, expiry and a
// 43-character signature are far below it.
const maxTicketLen = 512

// logTicketAction separates ticket signatures from media URL signatures
// made with the same secret.
const logTicketAction Action = "log-upload"

// LogTicket returns a ticket that lets the member (appID, channel, uid)
// upload SDK logs until expire: "{appId}.{base64url(channel)}.{uid}.{expire}.{sign}",
// signed with the node secret. The gateway hands it out at join.
func (s *URLSigner) LogTicket(appID, channel string, uid uint32, expire time.Time) string {
	body := appID + "." + base64.RawURLEncoding.EncodeToString([]byte(channel)) + "." +
		strconv.FormatUint(uint64(uid), 10) + "." + strconv.FormatInt(expire.Unix(), 10)
	return body + "." + s.sign(logTicketAction, body, "", "")
}

var errBadTicket = errors.New("malformed log upload ticket")

// VerifyLogTicket checks a ticket made by LogTicket and returns whom it
// names. A malformed, forged or expired ticket is an errcode 401 error.
func (s *URLSigner) VerifyLogTicket(ticket string, now time.Time) (LogTicket, error) {
	var t LogTicket
	if len(ticket) > maxTicketLen {
		return t, errcode.Unauthorized("log upload ticket too long").WithCause(errBadTicket)
	}
	i := strings.LastIndexByte(ticket, '.')
	if i < 0 {
		return t, errcode.Unauthorized("malformed log upload ticket").WithCause(errBadTicket)
	}
	body, sig := ticket[:i], ticket[i+1:]
	if !hmac.Equal([]byte(s.sign(logTicketAction, body, "", "")), []byte(sig)) {
		return t, errcode.Unauthorized("log upload ticket signature mismatch (forged, or from another node)")
	}
	parts := strings.Split(body, ".")
	if len(parts) != 4 {
		return t, errcode.Unauthorized("malformed log upload ticket").WithCause(errBadTicket)
	}
	ch, err1 := base64.RawURLEncoding.DecodeString(parts[1])
	uid, err2 := strconv.ParseUint(parts[2], 10, 32)
	exp, err3 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return t, errcode.Unauthorized("malformed log upload ticket").WithCause(errBadTicket)
	}
	t = LogTicket{AppID: parts[0], Channel: string(ch), UID: uint32(uid), Expire: time.Unix(exp, 0)}
	if now.Unix() >= exp {
		return t, errcode.Unauthorized("log upload ticket expired at " + t.Expire.UTC().Format(time.RFC3339) + ": join again for a new one")
	}
	return t, nil
}
