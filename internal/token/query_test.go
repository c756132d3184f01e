package token

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

var mediaQueryCases = []struct {
	name, raw string
	want      url.Values
	err       bool
}{
	{"raw plus and slash", "token=007eJx+ab/c==", url.Values{"token": {"007eJx+ab/c=="}}, false},
	{"encoded plus and slash", "token=007eJx%2Bab%2Fc%3D%3D", url.Values{"token": {"007eJx+ab/c=="}}, false},
	{"signed URL", "expire=1700000000&viewer=7&sign=abc-_", url.Values{"expire": {"1700000000"}, "viewer": {"7"}, "sign": {"abc-_"}}, false},
	{"repeated and empty", "a=1&&a=2&b", url.Values{"a": {"1", "2"}, "b": {""}}, false},
	{"empty", "", url.Values{}, false},
	{"bad escape", "token=%zz", nil, true},
	{"bad key escape", "%=1", nil, true},
}

func TestParseMediaQuery(t *testing.T) {
	for _, tc := range mediaQueryCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMediaQuery(tc.raw)
			if tc.err {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// encodeComponent percent-encodes every byte but the unreserved ones
// (JavaScript's encodeURIComponent).
func encodeComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// FuzzParseMediaQuery: no panic, and a percent-encoded value comes back
// unchanged; so does url.QueryEscape's form of a value without spaces (it
// writes a space as '+', which media URLs keep as '+': no token, signature
// or uid has a space).
func FuzzParseMediaQuery(f *testing.F) {
	for _, tc := range mediaQueryCases {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, _ = ParseMediaQuery(raw)
		q, err := ParseMediaQuery("token=" + encodeComponent(raw) + "&x=1")
		if err != nil || q.Get("token") != raw {
			t.Fatalf("percent-encoded %q: got %q, %v", raw, q.Get("token"), err)
		}
		if !strings.Contains(raw, " ") {
			q, err := ParseMediaQuery("token=" + url.QueryEscape(raw))
			if err != nil || q.Get("token") != raw {
				t.Fatalf("query-escaped %q: got %q, %v", raw, q.Get("token"), err)
			}
		}
	})
}
