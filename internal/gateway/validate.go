package gateway

import (
	"fmt"
	"strings"

	"github.com/minirtc/minirtc/internal/errcode"
)

// Limits from tokens.md ("Channel names and uids").
const (
	maxChannelBytes = 64  // what a token can carry
	maxAccountBytes = 255 // string accounts
)

// channelChars is Agora's 89-character channel name set (docs/protocol.md 4.1).
const channelChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&()+-:;<=.>?@[]^_{}|~,"

func validateChannel(name string) error {
	if name == "" || len(name) > maxChannelBytes {
		return errcode.InvalidChannelName(fmt.Sprintf("channel name must be 1..%d bytes (got %d)", maxChannelBytes, len(name)))
	}
	for i := 0; i < len(name); i++ {
		if strings.IndexByte(channelChars, name[i]) < 0 {
			return errcode.InvalidChannelName(fmt.Sprintf("character %q at byte %d is not allowed (a-z A-Z 0-9 space and !#$%%&()+-:;<=.>?@[]^_{}|~,)", name[i], i))
		}
	}
	return nil
}

// validateUID checks a join uid: uidType 0 wants a decimal 1..2^32-1,
// uidType 1 a string account of 1..255 bytes that is not blank.
func validateUID(s string, account bool) (uint32, error) {
	if account {
		if strings.TrimSpace(s) == "" || len(s) > maxAccountBytes {
			return 0, errcode.InvalidUID(fmt.Sprintf("user account must be 1..%d bytes and not blank", maxAccountBytes))
		}
		return 0, nil
	}
	uid, ok := parseUID(s)
	if !ok {
		return 0, errcode.InvalidUID(fmt.Sprintf("uid must be an unsigned 32-bit integer above 0 (got %q)", s))
	}
	return uid, nil
}
