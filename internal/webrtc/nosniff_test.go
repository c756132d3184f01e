package webrtc

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/token"
	pion "github.com/pion/webrtc/v4"
)

// The SDP answers (a WHEP session's 201, an ICE restart PATCH's 200)
// repeat text of the client's offer (mids), so they carry nosniff: a
// browser never renders them as HTML.
func TestAnswersAreNotSniffed(t *testing.T) {
	e := newEnv(t)
	liveTestStream(t, e, 0)
	pc := mediaPC(t, pion.RTPTransceiverDirectionRecvonly)
	defer func() { _ = pc.Close() }()
	req, _ := http.NewRequest("POST", e.http.URL+"/whep/"+e.app.ID+"/room/42", strings.NewReader(offer(t, pc)))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+e.token("room", "1004", token.RoleSubscriber))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", resp.StatusCode, body)
	}
	setAnswer(t, pc, string(body))
	if h := resp.Header; h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Type") != "application/sdp" {
		t.Errorf("WHEP answer: Content-Type %q, X-Content-Type-Options %q", h.Get("Content-Type"), h.Get("X-Content-Type-Options"))
	}
	loc, etag := resp.Header.Get("Location"), resp.Header.Get("ETag")

	o, err := pc.CreateOffer(&pion.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	g := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g:
	case <-time.After(waitLong):
		t.Fatal("client gathering did not complete")
	}
	st, b, h := e.patchFrag(loc, etag, clientRestartFrag(pc.LocalDescription().SDP))
	if st != http.StatusOK {
		t.Fatalf("restart PATCH: %d %s", st, b)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Type") != sdpfragType {
		t.Errorf("restart answer: Content-Type %q, X-Content-Type-Options %q", h.Get("Content-Type"), h.Get("X-Content-Type-Options"))
	}
}
