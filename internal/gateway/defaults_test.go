package gateway

import (
	"testing"

	"github.com/minirtc/minirtc/internal/config"
)

// TestZeroConfigIsConfigDefault: a gateway built with a zero Config (library
// and test use) runs with the documented defaults of config gateway.*, not
// values of its own.
func TestZeroConfigIsConfigDefault(t *testing.T) {
	got := Config{}.withDefaults()
	d := config.Default()
	want := d.Gateway
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"gateway.graceTimeout", got.Grace, want.GraceTimeout},
		{"gateway.idleTimeout", got.IdleTimeout, want.IdleTimeout},
		{"gateway.keyWillExpireLead", got.KeyWillExpireLead, want.KeyWillExpireLead},
		{"gateway.maxMessageBytes", got.MaxMessageBytes, int64(want.MaxMessageBytes)},
		{"gateway.preJoinMaxBytes", got.PreJoinMaxBytes, int64(want.PreJoinMaxBytes)},
		{"gateway.joinTimeout", got.JoinTimeout, want.JoinTimeout},
		{"gateway.requestsPerSecond", got.RateLimit, float64(want.RequestsPerSecond)},
		{"gateway.requestsPerSecond (burst: twice)", got.RateBurst, 2 * want.RequestsPerSecond},
		{"gateway.maxUsersPerChannel", got.MaxUsersPerChannel, want.MaxUsersPerChannel},
		{"gateway.urlLifetime", got.URLTTL, want.URLLifetime},
		{"diagnostics.logTicketTTL", got.LogTicketTTL, d.Diagnostics.LogTicketTTL},
	} {
		if c.got != c.want {
			t.Errorf("%s: gateway uses %v, config.Default() says %v", c.key, c.got, c.want)
		}
	}
	// A rate without a burst gets twice the rate, as the node passes it.
	if b := (Config{RateLimit: 7}).withDefaults().RateBurst; b != 14 {
		t.Errorf("burst for 7 requests/s = %d, want 14", b)
	}
}
