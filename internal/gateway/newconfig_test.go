package gateway

import (
	"strings"
	"testing"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/token"
)

// TestNewRejectsRTMPPortOutOfRange: a public RTMP port outside 1..65535 is
// an error from New, not a port wrapped into every signed URL (it was stored
// as int32 and printed as is; SetRTMPPort already ignored such ports).
func TestNewRejectsRTMPPortOutOfRange(t *testing.T) {
	for _, port := range []int{-1, 65536, 1<<31 + 5} {
		_, err := New(Config{RTMPPort: port}, nopApps{}, channel.NewManager(channel.Config{}, discardLog()), token.NewURLSigner([]byte("k")), discardLog())
		if err == nil || !strings.Contains(err.Error(), "RTMPPort") {
			t.Errorf("RTMPPort %d: err %v, want one naming RTMPPort", port, err)
		}
	}
	if _, err := New(Config{RTMPPort: 65535}, nopApps{}, channel.NewManager(channel.Config{}, discardLog()), token.NewURLSigner([]byte("k")), discardLog()); err != nil {
		t.Fatal(err)
	}
}
