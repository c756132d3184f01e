package token

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
)

// Claims is what a token must grant: the app (with its certificate to check
// the signature), the channel and the uid (decimal uid or string account).
type Claims struct {
	AppID   string
	AppCert string
	Channel string
	UID     string
}

// Grant is what a verified token allows.
type Grant struct {
	Version string
	// UID is the uid in the token; "" is a wildcard (uid 0).
	UID string
	// Expires is when the join privilege ends: the earlier of the token's own
	// expiry and the join privilege's. Zero means it never ends.
	Expires time.Time
	// Publish reports whether the token carries a publish privilege (audio or
	// video), which lasts until PublishExpires (zero: no limit of its own).
	Publish        bool
	PublishExpires time.Time
}

// CanPublish reports whether the grant allows publishing at now.
func (g Grant) CanPublish(now time.Time) bool {
	if !g.Publish {
		return false
	}
	if !g.PublishExpires.IsZero() && !now.Before(g.PublishExpires) {
		return false
	}
	return g.Expires.IsZero() || now.Before(g.Expires)
}

// IsWildcardUID reports whether a token uid string matches any uid.
func IsWildcardUID(uid string) bool { return uid == "" || uid == "0" }

// Check parses tok and verifies it against c at now: app id, signature,
// channel, uid and an unexpired join privilege. Failures are catalogue errors.
func Check(tok string, c Claims, now time.Time) (Grant, error) {
	t, err := Parse(tok)
	if err != nil {
		return Grant{}, errcode.MalformedToken().WithCause(err)
	}
	return t.Verify(c, now)
}

// Verify checks a parsed token against c at now (see Check).
func (t *Token) Verify(c Claims, now time.Time) (Grant, error) {
	if t.AppID != c.AppID {
		return Grant{}, errcode.TokenAppMismatch()
	}
	g := Grant{Version: t.Version}
	var (
		svc                Service
		tokenEnd, base     uint32
		absolutePrivileges bool
	)
	switch t.Version {
	case Version007:
		if !hmac.Equal(sign007(c.AppCert, t.IssueTs, t.Salt, t.signed), t.Signature) {
			return Grant{}, errcode.SignatureMismatch()
		}
		rtc, ok := t.RTC()
		if !ok {
			return Grant{}, errcode.InvalidKey("token has no RTC service")
		}
		if rtc.Channel != c.Channel {
			return Grant{}, errcode.TokenWrongChannel()
		}
		if !IsWildcardUID(rtc.UID) && rtc.UID != c.UID {
			return Grant{}, errcode.TokenWrongUID()
		}
		svc, base = rtc, t.IssueTs
		g.UID = rtc.UID
		if t.Expire != 0 {
			tokenEnd = t.IssueTs + t.Expire
		}
	case Version006:
		if crc32.ChecksumIEEE([]byte(c.Channel)) != t.ChannelCRC {
			return Grant{}, errcode.TokenWrongChannel()
		}
		uidStr := c.UID
		if t.UIDCRC == crc32.ChecksumIEEE(nil) {
			uidStr = ""
		} else if uidStr == "0" || t.UIDCRC != crc32.ChecksumIEEE([]byte(uidStr)) {
			return Grant{}, errcode.TokenWrongUID()
		}
		if !hmac.Equal(sign006(c.AppCert, t.AppID, c.Channel, uidStr, t.signed), t.Signature) {
			return Grant{}, errcode.SignatureMismatch()
		}
		svc, absolutePrivileges = t.Services[0], true
		g.UID = uidStr
		tokenEnd = t.Expire
	default:
		return Grant{}, errcode.MalformedToken()
	}
	at := func(v uint32) time.Time {
		if absolutePrivileges {
			return time.Unix(int64(v), 0)
		}
		return time.Unix(int64(base)+int64(v), 0)
	}
	join, ok := svc.Privilege(PrivJoinChannel)
	if !ok {
		return Grant{}, errcode.NoAuthorized("token lacks join privilege")
	}
	if tokenEnd != 0 {
		g.Expires = time.Unix(int64(tokenEnd), 0)
	}
	if join != 0 {
		if e := at(join); g.Expires.IsZero() || e.Before(g.Expires) {
			g.Expires = e
		}
	}
	if !g.Expires.IsZero() && !now.Before(g.Expires) {
		return Grant{}, errcode.KeyExpired(g.Expires)
	}
	for _, id := range []uint16{PrivPublishAudioStream, PrivPublishVideoStream} {
		v, ok := svc.Privilege(id)
		if !ok {
			continue
		}
		g.Publish = true
		if v == 0 {
			g.PublishExpires = time.Time{}
			break
		}
		if e := at(v); e.After(g.PublishExpires) {
			g.PublishExpires = e
		}
	}
	return g, nil
}

// Role is the builder role of rtctokenbuilder (tokens.md).
type Role int

// Builder roles.
const (
	RolePublisher  Role = 1
	RoleSubscriber Role = 2
)

// ParseRole maps "publisher"/"subscriber" to a Role.
func ParseRole(s string) (Role, error) {
	switch s {
	case "publisher", "":
		return RolePublisher, nil
	case "subscriber":
		return RoleSubscriber, nil
	}
	return 0, fmt.Errorf("token: role %q: want publisher or subscriber", s)
}

// RTCOptions are the inputs of an RTC token.
type RTCOptions struct {
	AppID, AppCert, Channel string
	// UID is the decimal uid or the string account; "" or "0" allow any uid.
	UID  string
	Role Role
	// IssuedAt is the issue time; Lifetime is how long the token and its
	// privileges last (seconds).
	IssuedAt time.Time
	Lifetime uint32
	// Salt; 0 picks a random one.
	Salt uint32
}

func (o RTCOptions) privileges(expire uint32) []Privilege {
	ps := []Privilege{{ID: PrivJoinChannel, Expire: expire}}
	if o.Role != RoleSubscriber {
		ps = append(ps,
			Privilege{ID: PrivPublishAudioStream, Expire: expire},
			Privilege{ID: PrivPublishVideoStream, Expire: expire},
			Privilege{ID: PrivPublishDataStream, Expire: expire})
	}
	return ps
}

func (o RTCOptions) salt() uint32 {
	if o.Salt != 0 {
		return o.Salt
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint32(b[:])%99999999 + 1
}

func (o RTCOptions) check() error {
	if len(o.AppID) != 32 || len(o.AppCert) != 32 {
		return fmt.Errorf("token: app id and certificate must be 32 characters each")
	}
	if o.Channel == "" {
		return fmt.Errorf("token: channel is empty")
	}
	if s := o.IssuedAt.Unix(); s < 0 || s > math.MaxUint32 {
		return fmt.Errorf("token: issue time %v: want 1970..2106 (32-bit unix seconds)", o.IssuedAt)
	}
	return nil
}

// BuildRTC007 builds an AccessToken2 for the RTC service.
func BuildRTC007(o RTCOptions) (string, error) {
	if err := o.check(); err != nil {
		return "", err
	}
	uid := o.UID
	if uid == "0" {
		uid = ""
	}
	t := &Token{
		AppID:   o.AppID,
		IssueTs: uint32(o.IssuedAt.Unix()), //nolint:gosec // G115: check bounds IssuedAt to 0..MaxUint32 unix seconds
		Expire:  o.Lifetime,
		Salt:    o.salt(),
		Services: []Service{{
			Type: ServiceRTC, Privileges: o.privileges(o.Lifetime), Channel: o.Channel, UID: uid,
		}},
	}
	return t.Encode007(o.AppCert)
}

// BuildRTC006 builds a legacy AccessToken for the RTC service. Its own expiry
// and its privileges end at IssuedAt + Lifetime.
func BuildRTC006(o RTCOptions) (string, error) {
	if err := o.check(); err != nil {
		return "", err
	}
	uid := o.UID
	if uid == "0" {
		uid = ""
	}
	end64 := o.IssuedAt.Unix() + int64(o.Lifetime) // check bounds IssuedAt to 0..MaxUint32
	if end64 < 0 || end64 > math.MaxUint32 {
		return "", fmt.Errorf("token: expiry %d is past the 32-bit unix time of a 006 token", end64)
	}
	end := uint32(end64)
	t := &Token{
		AppID:    o.AppID,
		Expire:   end,
		Salt:     o.salt(),
		Services: []Service{{Type: ServiceRTC, Privileges: o.privileges(end)}},
	}
	return t.Encode006(o.AppCert, o.Channel, uid)
}
