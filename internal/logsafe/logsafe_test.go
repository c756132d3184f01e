package logsafe

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	long := strings.Repeat("x", 10<<10)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"short", "room-1", "room-1"},
		{"exactly MaxLen", strings.Repeat("a", MaxLen), strings.Repeat("a", MaxLen)},
		{"10 kB", long, strings.Repeat("x", MaxLen) + "…[9984 bytes cut]"},
		// A 3-byte rune straddling the cut is dropped whole.
		{"rune boundary", strings.Repeat("a", MaxLen-1) + "€tail", strings.Repeat("a", MaxLen-1) + "…[7 bytes cut]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := String(tc.in)
			if got != tc.want || !utf8.ValidString(got) {
				t.Fatalf("got %q (%d bytes), want %q", got, len(got), tc.want)
			}
		})
	}
	if Error(nil) != "" || Error(errors.New(long)) != String(long) {
		t.Fatal("Error")
	}
}
