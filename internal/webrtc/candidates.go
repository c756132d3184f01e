package webrtc

import (
	"fmt"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
	pion "github.com/pion/webrtc/v4"
)

// noCandidatesFix says what to set when the node's WebRTC settings yield no
// ICE candidate.
const noCandidatesFix = "set webrtc.udpAddr (--webrtc-addr) to an IP:port clients can reach " +
	"(127.0.0.1:8443 serves clients on this machine only), or webrtc.publicIPs (--public-ip) " +
	"to the address clients use; with webrtc.interfaces, name interfaces that exist and have an address"

// errNoCandidates refuses a WHIP/WHEP request whose answer would carry no
// ICE candidate: the client could never connect, and would only time out.
func errNoCandidates() error {
	return errcode.NoICECandidates("this node's WebRTC address yields no ICE candidate, so no client can connect; " + noCandidatesFix)
}

// candidateCount counts the a=candidate lines of an SDP.
func candidateCount(sdp string) int {
	n := 0
	for l := range strings.Lines(sdp) {
		if strings.HasPrefix(l, "a=candidate:") {
			n++
		}
	}
	return n
}

// probeWait bounds the start-up gathering probe.
const probeWait = 3 * time.Second

// probeCandidates gathers the candidates an answer from api would carry,
// with a throwaway PeerConnection, and returns how many there are.
func probeCandidates(api *pion.API) (int, error) {
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return 0, fmt.Errorf("webrtc: candidate probe: %w", err)
	}
	defer func() { _ = pc.Close() }() // a throwaway probe: nothing to report
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		return 0, fmt.Errorf("webrtc: candidate probe: %w", err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return 0, fmt.Errorf("webrtc: candidate probe: %w", err)
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return 0, fmt.Errorf("webrtc: candidate probe: %w", err)
	}
	t := time.NewTimer(probeWait)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C:
	}
	return candidateCount(pc.LocalDescription().SDP), nil
}
