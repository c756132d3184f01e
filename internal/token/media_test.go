package token

import (
	"strings"
	"testing"
)

func TestStreamName(t *testing.T) {
	app := strings.Repeat("ab", 16)
	cases := []struct{ channel, uid string }{
		{"room-1", "42"},
		{"a_b_c", "4294967295"},
		{"?>?>", "1"}, // base64url with '_' and '-'
		{strings.Repeat("x", 63), "7"},
	}
	for _, c := range cases {
		name := StreamName(app, c.channel, c.uid)
		a, ch, uid, err := ParseStreamName(name)
		if err != nil || a != app || ch != c.channel || uid != c.uid {
			t.Errorf("%q -> %q: %q %q %q %v", c.channel, name, a, ch, uid, err)
		}
	}
	bad := []string{"", "x", app, app + "_", app + "_cm9vbQ_", app + "_cm9vbQ_0", app + "_cm9vbQ_abc",
		app + "_cm9vbQ_4294967296", app + "_c*m9_1", app + "_cm9vbQ_007", strings.Repeat("a", 200)}
	for _, b := range bad {
		if _, _, _, err := ParseStreamName(b); err == nil {
			t.Errorf("accepted %q", b)
		}
	}
}
