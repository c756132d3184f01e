package token

import (
	"fmt"
	"net/url"
	"strings"
)

// ParseMediaQuery parses the query of a media URL (RTMP, HTTP-FLV) the way
// users write it. Unlike url.ParseQuery, a '+' stays a '+': AccessTokens
// are standard base64 (with '+' and '/'), and tools such as ffmpeg and OBS
// send a pasted ?token= as it is, where form decoding would turn each '+'
// into a space and break the signature. Percent-escapes are decoded, so the
// encoded form (%2B, which is what URLs should carry) works as well. No
// value of a media URL (token, expire, sign, viewer, uid) contains a space.
func ParseMediaQuery(raw string) (url.Values, error) {
	q := url.Values{}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.PathUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("query key %q: %w", k, err)
		}
		val, err := url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("query value of %q: %w", key, err)
		}
		q[key] = append(q[key], val)
	}
	return q, nil
}
