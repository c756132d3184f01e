package store

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Privileges a kicking rule can take away (Agora's names).
const (
	PrivilegeJoinChannel  = "join_channel"
	PrivilegePublishAudio = "publish_audio"
	PrivilegePublishVideo = "publish_video"
)

// KickingRule is a banning rule of the REST API (Agora's kicking-rule): it
// takes Privileges away from the members of App that match Channel, UID and
// IP (an empty Channel or IP and a zero UID match any) until Until.
type KickingRule struct {
	ID         uint64    `json:"id"` // assigned by PutKickingRule when 0; never reused
	App        string    `json:"appId"`
	Channel    string    `json:"cname,omitempty"`
	UID        uint32    `json:"uid,omitempty"`
	IP         string    `json:"ip,omitempty"` // a canonical IP address (netip)
	Privileges []string  `json:"privileges"`
	Until      time.Time `json:"until"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	KeyID      string    `json:"keyId,omitempty"` // the API key that made it
}

// ValidateKickingRule checks a rule before it is stored.
func ValidateKickingRule(r KickingRule) error {
	if !hex32.MatchString(r.App) {
		return fmt.Errorf("store: kicking rule: app id %q must be 32 hex characters", r.App)
	}
	if r.IP != "" {
		if a, err := netip.ParseAddr(r.IP); err != nil || a.String() != r.IP {
			return fmt.Errorf("store: kicking rule: ip %q is not a canonical IP address", r.IP)
		}
	}
	if len(r.Privileges) == 0 {
		return fmt.Errorf("store: kicking rule: no privileges")
	}
	for _, p := range r.Privileges {
		if p != PrivilegeJoinChannel && p != PrivilegePublishAudio && p != PrivilegePublishVideo {
			return fmt.Errorf("store: kicking rule: unknown privilege %q", p)
		}
	}
	if r.Until.IsZero() {
		return fmt.Errorf("store: kicking rule: no end time")
	}
	return nil
}

func sortKickingRules(rs []KickingRule) {
	slices.SortFunc(rs, func(a, b KickingRule) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
}
