package webrtc

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"
)

// maxStaleUfrags is how many earlier remote ufrags a session remembers to
// recognise fragments of ICE sessions it restarted away from: a client
// restarts rarely, and only its last few ICE sessions can still have
// requests in flight.
const maxStaleUfrags = 8

// negotiation serializes what changes a session's descriptions: the
// initial offer/answer (held by newWHIP/newWHEP until the answer is set),
// trickled candidates and ICE restarts (PATCH). It holds the entity-tag of
// the session's current ICE session (RFC 9725 §4.3), which changes with
// every restart.
type negotiation struct {
	mu    sync.Mutex
	etag  string   // quoted, as sent in ETag
	stale []string // remote ufrags of earlier ICE sessions, oldest first
}

func newETag() string { return `"` + newID() + `"` }

// ifMatch reports whether If-Match header values (RFC 9110 §13.1.1) let a
// request act on the ICE session whose entity-tag is etag: "*" or a list
// holding etag. Weak tags never match (strong comparison); an unquoted tag
// is tolerated. No header does not match (patch decides what it may do).
func ifMatch(values []string, etag string) bool {
	for _, v := range values {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || tag == etag || `"`+tag+`"` == etag {
				return true
			}
		}
	}
	return false
}

// handlePatch changes a session's ICE session (RFC 9725 §4.3, the WHEP
// draft's same section) with an application/trickle-ice-sdpfrag body:
//
//   - A fragment with the session's current remote ICE credentials (or none)
//     trickles its candidates: 204.
//   - A fragment with new credentials (a=ice-ufrag and a=ice-pwd) restarts
//     ICE: 200 with the server's new credentials and candidates as a
//     fragment, and a new ETag. Media keeps flowing on the same tracks.
//
// If-Match must name the current ETag or be "*" (a restart client sends
// "*"). A PATCH without it gets 428 (RFC 6585 §3), as the README promises
// optimistic concurrency, except a trickle whose a=ice-ufrag names the
// current ICE session: that is the same check by other means, and a real
// client (whip-whep's WHEP client) trickles without If-Match. A mismatch, or
// a fragment with the credentials of an ICE session restarted away from,
// gets 412. A malformed fragment gets 400 and changes nothing. Requests on
// one session run one at a time, after its initial negotiation.
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) {
	ss := s.session(r.PathValue("id"))
	if ss == nil {
		s.writeError(w, r, errcode.NotFound("no such WebRTC session"))
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != sdpfragType {
		e := errcode.BadRequest("PATCH needs Content-Type: " + sdpfragType)
		e.Status = http.StatusUnsupportedMediaType
		s.writeError(w, r, e)
		return
	}
	if r.ContentLength > maxFragSize {
		s.writeError(w, r, tooLarge("fragment", maxFragSize))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFragSize+1))
	if err != nil {
		s.writeError(w, r, errcode.BadRequest("reading the fragment: "+err.Error()))
		return
	}
	if len(body) > maxFragSize {
		s.writeError(w, r, tooLarge("fragment", maxFragSize))
		return
	}
	frag, err := parseSDPFrag(string(body))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	etag, answer, err := s.patch(r.Context(), ss, r.Header.Values("If-Match"), frag)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	setCORS(w)
	if answer == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", sdpfragType)
	w.Header().Set("X-Content-Type-Options", "nosniff") // the answer repeats the fragment's a=mid
	w.Header().Set("ETag", etag)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, answer)
}

// patch applies a parsed fragment to ss under its negotiation lock. It
// returns the new ETag and the answer fragment of a restart, or "" for a
// trickle.
func (s *Server) patch(ctx context.Context, ss session, ifMatchValues []string, frag sdpFrag) (string, string, error) {
	n := ss.neg()
	n.mu.Lock()
	defer n.mu.Unlock()
	pc := ss.pc()
	gone := errcode.NotFound("the WebRTC session ended")
	if pc == nil || pc.ConnectionState() == pion.PeerConnectionStateClosed {
		return "", "", gone
	}
	if len(ifMatchValues) > 0 && !ifMatch(ifMatchValues, n.etag) {
		return "", "", preconditionFailed("If-Match does not name the session's current ICE session (ETag " + n.etag + ")")
	}
	rd := pc.RemoteDescription()
	if rd == nil {
		return "", "", gone // the initial negotiation failed
	}
	// Parse a copy: rd is pion's own description (its Unmarshal would
	// write pion's cached parse, which pion's goroutines read).
	var remote sdp.SessionDescription
	if err := remote.UnmarshalString(rd.SDP); err != nil {
		return "", "", errcode.Internal(fmt.Errorf("webrtc: parse the remote description: %w", err))
	}
	curUfrag, curPwd := iceCreds(&remote)
	restart := frag.ufrag != "" && frag.ufrag != curUfrag || frag.pwd != "" && frag.pwd != curPwd
	if frag.ufrag != "" && frag.ufrag != curUfrag && slices.Contains(n.stale, frag.ufrag) {
		return "", "", preconditionFailed("the fragment is for an earlier ICE session of this session")
	}
	if len(ifMatchValues) == 0 && (restart || frag.ufrag == "") {
		// Only a trickle that names the current ICE session by its ufrag
		// (the same check by other means) may come without If-Match:
		// whip-whep's WHEP client (1.2.0) trickles so.
		return "", "", preconditionRequired()
	}
	if !restart {
		for _, c := range frag.candidates {
			init := pion.ICECandidateInit{Candidate: "candidate:" + c.value}
			if c.mid != "" {
				mid := c.mid
				init.SDPMid = &mid
			}
			if err := pc.AddICECandidate(init); err != nil {
				return "", "", errcode.BadRequest("bad candidate: " + err.Error())
			}
		}
		return "", "", nil
	}
	if frag.ufrag == "" || frag.pwd == "" {
		return "", "", errcode.BadRequest("an ICE restart needs both a=ice-ufrag and a=ice-pwd in the fragment")
	}
	answer, err := s.restartICE(ctx, ss, rd.SDP, frag)
	if err != nil {
		return "", "", err
	}
	n.stale = append(n.stale, curUfrag)
	if len(n.stale) > maxStaleUfrags {
		n.stale = slices.Delete(n.stale, 0, len(n.stale)-maxStaleUfrags)
	}
	n.etag = newETag()
	return n.etag, answer, nil
}

// restartICE makes the restart offer from the current remote description
// and answers it. pion restarts its ICE agent when a remote offer changes
// the remote credentials (new local credentials, new gathering); DTLS, SRTP
// and the tracks stay. It waits for gathering like the POST's answer. A
// failure after the offer was applied leaves the connection unusable: the
// session is closed.
func (s *Server) restartICE(ctx context.Context, ss session, remote string, frag sdpFrag) (string, error) {
	pc := ss.pc()
	offer, err := restartOffer(remote, frag)
	if err != nil {
		return "", errcode.Internal(err)
	}
	broken := func(err error) (string, error) {
		if pc.ConnectionState() == pion.PeerConnectionStateClosed {
			return "", errcode.NotFound("the WebRTC session ended")
		}
		if pc.SignalingState() == pion.SignalingStateStable {
			return "", err // nothing was applied
		}
		ss.close(errcode.ServiceLost("ICE restart failed"))
		return "", err
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return broken(errcode.BadRequest("the ICE restart cannot be applied: " + err.Error()))
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return broken(errcode.Internal(fmt.Errorf("webrtc: ICE restart answer: %w", err)))
	}
	local, err := setLocalAndGather(ctx, pc, ans)
	if err != nil {
		return broken(err)
	}
	frag2, err := answerFrag(local)
	if err != nil {
		return "", errcode.Internal(err)
	}
	s.log.Info("ICE restarted", "session", ss.sid())
	return frag2, nil
}

// preconditionFailed is the 412 of a PATCH whose If-Match or credentials
// name another ICE session than the current one.
func preconditionFailed(detail string) *errcode.Error {
	e := errcode.BadRequest(detail)
	e.Status = http.StatusPreconditionFailed
	return e
}

// preconditionRequired is the 428 of a PATCH without If-Match.
func preconditionRequired() *errcode.Error {
	e := errcode.BadRequest(`PATCH needs If-Match: the session's ETag (from the POST or the last restart), or "*" for an ICE restart (only a trickle naming the current a=ice-ufrag may omit it)`)
	e.Status = http.StatusPreconditionRequired
	return e
}
