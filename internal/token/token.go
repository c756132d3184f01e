package token

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strings"
	"sync"
)

// Version prefixes of the two token formats.
const (
	Version006 = "006"
	Version007 = "007"
)

// Service types of AccessToken2 (tokens.md).
const (
	ServiceRTC       uint16 = 1
	ServiceRTM       uint16 = 2
	ServiceStreaming uint16 = 3
	ServiceFPA       uint16 = 4
	ServiceChat      uint16 = 5
	ServiceFCDN      uint16 = 6
	ServiceAPaaS     uint16 = 7
	ServiceRTM2      uint16 = 8
)

// RTC privileges.
const (
	PrivJoinChannel        uint16 = 1
	PrivPublishAudioStream uint16 = 2
	PrivPublishVideoStream uint16 = 3
	PrivPublishDataStream  uint16 = 4
)

// Privilege is one entry of a privilege map. Expire is relative to the issue
// time in 007 tokens and an absolute unix time in 006 tokens; 0 means the
// privilege adds no limit of its own.
type Privilege struct {
	ID     uint16 `json:"id"`
	Expire uint32 `json:"expire"`
}

// Service is one service of a 007 token. Which string fields are used depends
// on Type: RTC, Streaming and FCDN use Channel and UID; RTM, Chat and RTM2 use
// UID for the user id; APaaS uses Channel (room uuid), UID (user uuid) and Role.
type Service struct {
	Type       uint16      `json:"type"`
	Privileges []Privilege `json:"privileges"`
	Channel    string      `json:"channel,omitempty"`
	UID        string      `json:"uid,omitempty"`
	Role       int16       `json:"role,omitempty"`
}

// Privilege returns the expiry of privilege id and whether the service grants it.
func (s Service) Privilege(id uint16) (uint32, bool) {
	for _, p := range s.Privileges {
		if p.ID == id {
			return p.Expire, true
		}
	}
	return 0, false
}

// Token is a parsed (or to-be-built) access token.
type Token struct {
	Version string `json:"version"`
	AppID   string `json:"appId"`
	// IssueTs is the issue time (unix seconds) of a 007 token; 0 for 006.
	IssueTs uint32 `json:"issueTs,omitempty"`
	// Expire is the token lifetime in seconds relative to IssueTs (007), or the
	// token's absolute unix expiry (006, the field builders call "ts").
	Expire uint32 `json:"expire"`
	Salt   uint32 `json:"salt"`
	// Services holds the services of a 007 token in ascending type order. For a
	// 006 token it holds one RTC service whose Channel and UID are unknown
	// (the format only carries their CRCs).
	Services []Service `json:"services"`
	// Incomplete is set when parsing stopped at a service whose layout cannot
	// be skipped (RTM2 or unknown); the signature still covers everything.
	Incomplete bool `json:"incomplete,omitempty"`

	// 006 only: CRC32 (IEEE) of the channel name and of the uid string.
	ChannelCRC uint32 `json:"channelCrc,omitempty"`
	UIDCRC     uint32 `json:"uidCrc,omitempty"`

	Signature []byte `json:"-"`
	signed    []byte // bytes the signature covers, as received
}

// RTC returns the token's RTC service.
func (t *Token) RTC() (Service, bool) {
	for _, s := range t.Services {
		if s.Type == ServiceRTC {
			return s, true
		}
	}
	return Service{}, false
}

// Parse decodes a 006 or 007 token string without verifying it. The error does
// not say why a token is malformed beyond the wrapped cause; callers map it to
// errcode.MalformedToken.
func Parse(s string) (*Token, error) {
	if len(s) > maxTokenLen {
		return nil, fmt.Errorf("token: %d bytes, at most %d allowed", len(s), maxTokenLen)
	}
	switch {
	case strings.HasPrefix(s, Version007):
		return parse007(s[3:])
	case strings.HasPrefix(s, Version006):
		return parse006(s[3:])
	default:
		return nil, fmt.Errorf("token: unknown version prefix")
	}
}

func parse007(body string) (*Token, error) {
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("token: base64: %w", err)
	}
	content, err := inflate(raw)
	if err != nil {
		return nil, err
	}
	r := &reader{b: content}
	t := &Token{Version: Version007}
	t.Signature = r.str()
	t.signed = r.b
	t.AppID = string(r.str())
	t.IssueTs = r.u32()
	t.Expire = r.u32()
	t.Salt = r.u32()
	n := int(r.u16())
	if r.err != nil {
		return nil, r.err
	}
	if n > maxServices {
		return nil, fmt.Errorf("token: %d services, at most %d allowed", n, maxServices)
	}
	for i := 0; i < n; i++ {
		svc := Service{Type: r.u16()}
		if r.err != nil {
			return nil, r.err
		}
		switch svc.Type {
		case ServiceRTC, ServiceStreaming, ServiceFCDN:
			svc.Privileges = r.privileges()
			svc.Channel = string(r.str())
			svc.UID = string(r.str())
		case ServiceRTM, ServiceChat:
			svc.Privileges = r.privileges()
			svc.UID = string(r.str())
		case ServiceFPA:
			svc.Privileges = r.privileges()
		case ServiceAPaaS:
			svc.Privileges = r.privileges()
			svc.Channel = string(r.str())
			svc.UID = string(r.str())
			svc.Role = int16(r.u16()) //nolint:gosec // G115: the wire's u16 holds the int16 role's bits
		default:
			// RTM2 carries a permission tree, others are unknown: their tails
			// cannot be skipped, so stop here.
			t.Incomplete = true
		}
		if r.err != nil {
			return nil, r.err
		}
		if t.Incomplete {
			break
		}
		t.Services = append(t.Services, svc)
	}
	if len(t.Signature) != sha256.Size {
		return nil, fmt.Errorf("token: signature is %d bytes, want %d", len(t.Signature), sha256.Size)
	}
	return t, nil
}

func parse006(body string) (*Token, error) {
	if len(body) < 32 {
		return nil, errShort
	}
	t := &Token{Version: Version006, AppID: body[:32]}
	raw, err := base64.StdEncoding.DecodeString(body[32:])
	if err != nil {
		return nil, fmt.Errorf("token: base64: %w", err)
	}
	r := &reader{b: raw}
	t.Signature = r.str()
	t.ChannelCRC = r.u32()
	t.UIDCRC = r.u32()
	m := r.str()
	if r.err != nil {
		return nil, r.err
	}
	t.signed = m
	mr := &reader{b: m}
	t.Salt = mr.u32()
	t.Expire = mr.u32()
	privs := mr.privileges()
	if mr.err != nil {
		return nil, mr.err
	}
	t.Services = []Service{{Type: ServiceRTC, Privileges: privs}}
	if len(t.Signature) != sha256.Size {
		return nil, fmt.Errorf("token: signature is %d bytes, want %d", len(t.Signature), sha256.Size)
	}
	return t, nil
}

// Encode007 serializes t as a 007 token signed with appCert. Services are
// written in ascending type order and privileges in ascending id order.
func (t *Token) Encode007(appCert string) (string, error) {
	info, err := t.signingInfo007()
	if err != nil {
		return "", err
	}
	sig := sign007(appCert, t.IssueTs, t.Salt, info)
	var p packer
	p.str(sig)
	p.b = append(p.b, info...)
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(p.b); err != nil {
		return "", fmt.Errorf("token: compress: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("token: compress: %w", err)
	}
	return Version007 + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// Content007 returns the uncompressed content (signature + signing info) of
// t signed with appCert; tests compare it with the official vectors.
func (t *Token) Content007(appCert string) ([]byte, error) {
	info, err := t.signingInfo007()
	if err != nil {
		return nil, err
	}
	var p packer
	p.str(sign007(appCert, t.IssueTs, t.Salt, info))
	return append(p.b, info...), nil
}

func (t *Token) signingInfo007() ([]byte, error) {
	svcs := append([]Service(nil), t.Services...)
	sort.SliceStable(svcs, func(i, j int) bool { return svcs[i].Type < svcs[j].Type })
	var p packer
	p.str([]byte(t.AppID))
	p.u32(t.IssueTs)
	p.u32(t.Expire)
	p.u32(t.Salt)
	p.count16(len(svcs), "service count")
	for _, s := range svcs {
		privs := sortedPrivileges(s.Privileges)
		p.u16(s.Type)
		switch s.Type {
		case ServiceRTC, ServiceStreaming, ServiceFCDN:
			p.privileges(privs)
			p.str([]byte(s.Channel))
			p.str([]byte(s.UID))
		case ServiceRTM, ServiceChat:
			p.privileges(privs)
			p.str([]byte(s.UID))
		case ServiceFPA:
			p.privileges(privs)
		case ServiceAPaaS:
			p.privileges(privs)
			p.str([]byte(s.Channel))
			p.str([]byte(s.UID))
			p.u16(uint16(s.Role)) //nolint:gosec // G115: the int16 role's bits, read back by int16(r.u16())
		default:
			return nil, fmt.Errorf("token: cannot build service type %d", s.Type)
		}
	}
	return p.b, p.err
}

func sortedPrivileges(ps []Privilege) []Privilege {
	out := append([]Privilege(nil), ps...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func hmacSHA256(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

func sign007(appCert string, issueTs, salt uint32, info []byte) []byte {
	var ts, sl [4]byte
	binary.LittleEndian.PutUint32(ts[:], issueTs)
	binary.LittleEndian.PutUint32(sl[:], salt)
	k1 := hmacSHA256(ts[:], []byte(appCert))
	k2 := hmacSHA256(sl[:], k1)
	return hmacSHA256(k2, info)
}

// Encode006 serializes a 006 token for channel and uidStr ("" = any uid),
// signed with appCert. The privileges are those of t's first service and
// their Expire values are absolute unix times; t.Expire is the token's own
// absolute expiry ("ts").
func (t *Token) Encode006(appCert, channel, uidStr string) (string, error) {
	var privs []Privilege
	if len(t.Services) > 0 {
		privs = sortedPrivileges(t.Services[0].Privileges)
	}
	var m packer
	m.u32(t.Salt)
	m.u32(t.Expire)
	m.privileges(privs)
	sig := sign006(appCert, t.AppID, channel, uidStr, m.b)
	var p packer
	p.str(sig)
	p.u32(crc32.ChecksumIEEE([]byte(channel)))
	p.u32(crc32.ChecksumIEEE([]byte(uidStr)))
	p.str(m.b)
	if err := errors.Join(m.err, p.err); err != nil {
		return "", err
	}
	return Version006 + t.AppID + base64.StdEncoding.EncodeToString(p.b), nil
}

func sign006(appCert, appID, channel, uidStr string, m []byte) []byte {
	msg := make([]byte, 0, len(appID)+len(channel)+len(uidStr)+len(m))
	msg = append(msg, appID...)
	msg = append(msg, channel...)
	msg = append(msg, uidStr...)
	msg = append(msg, m...)
	return hmacSHA256([]byte(appCert), msg)
}

// inflaters reuses zlib readers and scratch buffers between parses: a fresh
// zlib reader allocates ~40 KB of decoder tables, which was half the cost of
// a join.
var inflaters = sync.Pool{New: func() any { return new(inflater) }}

type inflater struct {
	src bytes.Reader
	zr  io.ReadCloser
	buf [maxInflatedLen + 1]byte
}

// inflate decompresses a 007 body, at most maxInflatedLen bytes. The result
// is a fresh slice the caller owns.
func inflate(raw []byte) ([]byte, error) {
	in := inflaters.Get().(*inflater)
	defer inflaters.Put(in)
	in.src.Reset(raw)
	if in.zr == nil {
		zr, err := zlib.NewReader(&in.src)
		if err != nil {
			return nil, fmt.Errorf("token: zlib: %w", err)
		}
		in.zr = zr
	} else if err := in.zr.(zlib.Resetter).Reset(&in.src, nil); err != nil {
		return nil, fmt.Errorf("token: zlib: %w", err)
	}
	n, err := io.ReadFull(in.zr, in.buf[:])
	// Go's builder ends with a sync flush and no final block: the data is
	// complete although the stream is not closed, hence ErrUnexpectedEOF.
	switch {
	case err == nil:
		return nil, fmt.Errorf("token: inflated content exceeds %d bytes", maxInflatedLen)
	case err != io.ErrUnexpectedEOF && err != io.EOF:
		return nil, fmt.Errorf("token: zlib: %w", err)
	}
	return bytes.Clone(in.buf[:n]), nil
}
