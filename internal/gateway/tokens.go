package gateway

import "time"

// TokenExpiry returns when the join privilege of the session that holds
// (app, channel, uid) ends, for the console's "token expiring soon" hint;
// ok is false when no session of this gateway holds the member or it joined
// without a token. It costs O(sessions).
func (g *Gateway) TokenExpiry(app, channel string, uid uint32) (time.Time, bool) {
	g.mu.Lock()
	all := make([]*session, 0, len(g.sessions))
	for s := range g.sessions {
		all = append(all, s)
	}
	g.mu.Unlock()
	for _, s := range all {
		s.mu.Lock()
		st := s.st
		if st != nil && st.ref.App == app && st.ref.Channel == channel && st.ref.UID == uid {
			exp, ok := st.grant.Expires, !st.noToken && !st.grant.Expires.IsZero()
			s.mu.Unlock()
			return exp, ok
		}
		s.mu.Unlock()
	}
	return time.Time{}, false
}
