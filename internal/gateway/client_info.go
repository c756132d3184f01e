package gateway

import (
	"strings"
	"unicode"

	"github.com/minirtc/minirtc/internal/channel"
)

// maxClientField caps each self-description field a client sends in join
// (clientType, version, device, os): they are shown to operators only, and
// a real value is a few dozen bytes ("iPhone 13", "iOS 17.2").
const maxClientField = 64

// clientInfo reads what the join request says about the client. These fields
// are informative: a missing, mistyped or odd value is dropped, never an error.
func (r *request) clientInfo() channel.ClientInfo {
	field := func(name string) string {
		v, err := r.scalar(name)
		if err != nil {
			return ""
		}
		v = strings.Map(func(c rune) rune {
			if !unicode.IsPrint(c) {
				return -1
			}
			return c
		}, strings.TrimSpace(v))
		if len(v) > maxClientField {
			v = strings.ToValidUTF8(v[:maxClientField], "")
		}
		return v
	}
	return channel.ClientInfo{Kind: field("clientType"), SDKVersion: field("version"), Device: field("device"), OS: field("os")}
}
