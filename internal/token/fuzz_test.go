package token

import (
	"net/url"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary strings to the token parser and verifier: they
// must never panic, and whatever parses must verify or fail with an error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"006970CA35de60c44645bbae8a215061b33IACV0fZUBw+72cVoL9eyGGh3Q6Poi8bgjwVLnyKSJyOXR7dIfRBXoFHlEAABAAAAR/QQAAEAAQCvKDdW",
		"007eJxTYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxgDCaiTj",
		"007eJxTYOAQsrQ5s3TfH+1tvy8zZZ46EpCc0V43JXdGd2jS8porKo4KDJbmBs6OxqYpqWYGySYmZiamSUmJqRaJRoamBmaGScbG7l8EGCKYGBgYGRgYmIAkCxCD+ExgkhlMsoBJBQbzFHMjYzPT1CRLC2MTC1NjS/NU41TjNMsUEzODpJSURC4GIwsLI2MTQyNzY5BZEJM4GUpSi0viS4tTiwAipyp4",
		"007", "006", "", "007eJw=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s)
		if err != nil {
			return
		}
		_, _ = tok.Verify(Claims{AppID: vAppID, AppCert: vAppCert, Channel: vChannel, UID: vUID}, time.Unix(vTs, 0))
		if tok.Version == Version007 && !tok.Incomplete {
			// Whatever parses completely re-encodes and parses again.
			if out, err := tok.Encode007(vAppCert); err == nil {
				if _, err := Parse(out); err != nil {
					t.Fatalf("re-encoded token does not parse: %v", err)
				}
			}
		}
	})
}

// FuzzStreamName checks that stream names and signed-URL queries never panic
// the parser and that accepted names round-trip.
func FuzzStreamName(f *testing.F) {
	f.Add("970CA35de60c44645bbae8a215061b33_cm9vbQ_42", "expire=1&sign=x")
	f.Add("970CA35de60c44645bbae8a215061b33_cm9vbQ_42", "expire=1&viewer=7&sign=x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, name, query string) {
		app, ch, uid, err := ParseStreamName(name)
		if err == nil && StreamName(app, ch, uid) != name {
			t.Fatalf("round trip %q -> %q", name, StreamName(app, ch, uid))
		}
		q, _ := url.ParseQuery(query)
		_ = NewURLSigner([]byte("k")).Verify(ActionPlay, name, q, time.Unix(0, 0))
	})
}
