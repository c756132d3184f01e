package logsafe

import (
	"strconv"
	"unicode/utf8"
)

// MaxLen is the most bytes of a client string kept in a log line. Every
// legitimate value fits: stream names are at most 130 bytes, channels 64,
// user accounts 255, SDK ids 64, and a WHIP/WHEP path with a
// percent-encoded channel about 250.
const MaxLen = 256

// String returns s cut to MaxLen bytes (at a rune boundary) followed by
// "…[N bytes cut]", or s itself when it is short enough.
func String(s string) string {
	if len(s) <= MaxLen {
		return s
	}
	n := MaxLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…[" + strconv.Itoa(len(s)-n) + " bytes cut]"
}

// Error is String of err's text ("" for nil), for errors that may quote
// what a client sent.
func Error(err error) string {
	if err == nil {
		return ""
	}
	return String(err.Error())
}
