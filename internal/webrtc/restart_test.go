package webrtc

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
)

// waitLong is how long the restart tests wait for an event (it comes in
// well under a second on an idle machine).
const waitLong = 30 * time.Second

// patchFrag sends an sdpfrag PATCH with If-Match (none when ""); it
// returns the status, body and headers.
func (e *env) patchFrag(loc, ifMatch, body string) (int, string, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest("PATCH", e.http.URL+loc, strings.NewReader(body))
	req.Header.Set("Content-Type", sdpfragType)
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// remoteUfrag is the remote ICE ufrag of the server's session at loc.
func (e *env) remoteUfrag(loc string) string {
	e.t.Helper()
	ss := e.srv.session(strings.TrimPrefix(loc, "/webrtc/session/"))
	if ss == nil {
		e.t.Fatalf("no session %s", loc)
	}
	return ufrag(ss.pc().RemoteDescription().SDP)
}

// lineValue is the value of the first a=<key>: line of an SDP text.
func lineValue(sdpText, key string) string {
	for _, l := range strings.Split(sdpText, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "a="+key+":"); ok {
			return v
		}
	}
	return ""
}

// clientRestartFrag is the fragment a browser client sends to restart ICE:
// its new credentials and, here, all its candidates under its first
// section (RFC 9725's example layout).
func clientRestartFrag(local string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "a=ice-options:trickle\r\n")
	sections := strings.Split(local, "\nm=")
	first := strings.SplitN(sections[1], "\n", 2)[0]
	fmt.Fprintf(&b, "m=%s\r\na=mid:%s\r\n", strings.TrimSpace(first), lineValue("m="+sections[1], "mid"))
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", lineValue(local, "ice-ufrag"), lineValue(local, "ice-pwd"))
	for _, l := range strings.Split("m="+sections[1], "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "a=candidate:") {
			b.WriteString(l + "\r\n")
		}
	}
	b.WriteString("a=end-of-candidates\r\n")
	return b.String()
}

// applyAnswerFrag sets pc's remote answer the way browser clients do: the
// current remote description with the answer fragment's credentials and
// candidates instead of the old ones.
func applyAnswerFrag(t *testing.T, pc *pion.PeerConnection, frag string) {
	t.Helper()
	u, p := lineValue(frag, "ice-ufrag"), lineValue(frag, "ice-pwd")
	var cands []string
	for _, l := range strings.Split(frag, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "a=candidate:") {
			cands = append(cands, l)
		}
	}
	var out []string
	firstM := true
	for _, l := range strings.Split(pc.RemoteDescription().SDP, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
			continue
		case strings.HasPrefix(l, "a=ice-ufrag:"):
			l = "a=ice-ufrag:" + u
		case strings.HasPrefix(l, "a=ice-pwd:"):
			l = "a=ice-pwd:" + p
		case strings.HasPrefix(l, "a=candidate:"), l == "a=end-of-candidates":
			continue
		}
		out = append(out, l)
		if strings.HasPrefix(l, "m=") && firstM {
			firstM = false
			out = append(out, cands...)
		}
	}
	setAnswer(t, pc, strings.Join(out, "\r\n")+"\r\n")
}

// restartClient restarts pc's ICE over PATCH as a browser client does:
// an ICE-restart offer (set locally), its fragment sent with If-Match, the
// answer fragment applied. It returns the new ETag.
func (e *env) restartClient(pc *pion.PeerConnection, loc, ifMatch string) string {
	return e.restartClientWith(pc, loc, ifMatch, false)
}

// restartClientWith is restartClient; with trickle, the restart fragment
// has only the credentials and the candidates follow in a trickle PATCH
// with the new ETag, as medooze's whip-whep-js does.
func (e *env) restartClientWith(pc *pion.PeerConnection, loc, ifMatch string, trickle bool) string {
	t := e.t
	t.Helper()
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
	local := pc.LocalDescription().SDP
	frag := clientRestartFrag(local)
	creds := "a=ice-ufrag:" + lineValue(local, "ice-ufrag") + "\r\na=ice-pwd:" + lineValue(local, "ice-pwd") + "\r\n"
	if trickle {
		frag = creds
	}
	status, body, h := e.patchFrag(loc, ifMatch, frag)
	if status != http.StatusOK {
		t.Fatalf("restart PATCH: %d %s", status, body)
	}
	if ct := h.Get("Content-Type"); ct != sdpfragType {
		t.Fatalf("restart answer Content-Type %q", ct)
	}
	if !strings.Contains(body, "\r\na=ice-pwd:") || !strings.Contains(body, "a=candidate:") {
		t.Fatalf("restart answer without credentials or candidates:\n%s", body)
	}
	applyAnswerFrag(t, pc, body)
	etag := h.Get("ETag")
	if trickle {
		cands := clientRestartFrag(local)
		cands = cands[strings.Index(cands, "m="):]
		if st, b, _ := e.patchFrag(loc, etag, creds+cands); st != http.StatusNoContent {
			t.Fatalf("trickle after the restart: %d %s", st, b)
		}
	}
	return etag
}

// iceStates records a client's ICE connection states.
type iceStates struct {
	mu sync.Mutex
	s  []pion.ICEConnectionState
}

func watchICE(pc *pion.PeerConnection) *iceStates {
	w := &iceStates{}
	pc.OnICEConnectionStateChange(func(st pion.ICEConnectionState) {
		w.mu.Lock()
		w.s = append(w.s, st)
		w.mu.Unlock()
	})
	return w
}

func (w *iceStates) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.s)
}

// waitReconnected waits for checking then connected among the states
// recorded after the first `from`.
func (w *iceStates) waitReconnected(t *testing.T, from int) {
	t.Helper()
	for deadline := time.Now().Add(waitLong); ; time.Sleep(10 * time.Millisecond) {
		w.mu.Lock()
		checking, connected := false, false
		for _, st := range w.s[from:] {
			checking = checking || st == pion.ICEConnectionStateChecking
			connected = connected || checking && st == pion.ICEConnectionStateConnected
		}
		states := fmt.Sprint(w.s)
		w.mu.Unlock()
		if connected {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ICE did not reconnect after the restart: states %s (restart after %d)", states, from)
		}
	}
}

func (w *iceStates) waitConnected(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(waitLong); ; time.Sleep(10 * time.Millisecond) {
		w.mu.Lock()
		ok := false
		for _, st := range w.s {
			ok = ok || st == pion.ICEConnectionStateConnected
		}
		w.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("ICE never connected")
		}
	}
}

// auIndex is the frame number i of testAU(i), or -1.
func auIndex(au []byte) int {
	if len(au) < 5 {
		return -1
	}
	n := int(binary.BigEndian.Uint32(au))
	if au[4]&0x1f == naluIDR {
		return n - 3000
	}
	return n - 500
}

// waitHubVideo reads rd until a video frame numbered above sent arrives;
// what names rd in the failure.
func waitHubVideo(t *testing.T, rd *media.Reader, sent int, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	for got := false; !got; {
		pkts, err := rd.Next(ctx, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for _, p := range pkts {
			got = got || p.Kind() == media.KindVideo && auIndex(p.Payload) > sent
		}
	}
}

// waitPublisherVideo waits until a new hub reader of key gets a video frame
// that c sends from now on.
func (e *env) waitPublisherVideo(key media.Key, c *whipPublisher) {
	t := e.t
	t.Helper()
	sent := int(c.frames.Load())
	rd, err := e.hub.Subscribe(key, media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	waitHubVideo(t, rd, sent, "hub reader")
}

// frameLog is what a WHEP test client received: the frame numbers of the
// test access units, in order.
type frameLog struct {
	mu     sync.Mutex
	frames []int
	tracks int // OnTrack calls
}

// waitAbove waits until n frames numbered above after arrived.
func (l *frameLog) waitAbove(t *testing.T, after, n int, what string) {
	t.Helper()
	for deadline := time.Now().Add(waitLong); ; time.Sleep(10 * time.Millisecond) {
		l.mu.Lock()
		got := 0
		for _, f := range l.frames {
			if f > after {
				got++
			}
		}
		total := len(l.frames)
		l.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d frames after frame %d (%d frames in all)", what, got, n, after, total)
		}
	}
}

// trackCount is how many tracks the client got.
func (l *frameLog) trackCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tracks
}

func (l *frameLog) last() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.frames) == 0 {
		return -1
	}
	return l.frames[len(l.frames)-1]
}

// newWHEPClient is a pion WHEP client for video and audio that logs the
// video frames it receives; its readers end with the test.
func newWHEPClient(t *testing.T) (*pion.PeerConnection, *frameLog) {
	t.Helper()
	pc := mediaPC(t, pion.RTPTransceiverDirectionRecvonly)
	log := &frameLog{}
	readTracks(t, pc, func(tr *pion.TrackRemote) {
		log.mu.Lock()
		log.tracks++
		log.mu.Unlock()
		var d h264Depacketizer
		ro := reorder{maxWait: 100 * time.Millisecond}
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() != pion.RTPCodecTypeVideo {
				continue
			}
			ro.push(p, time.Now(), func(p *rtp.Packet, lost bool) {
				if au := d.push(p.Payload, p.Timestamp, p.Marker, lost); au != nil {
					log.mu.Lock()
					log.frames = append(log.frames, auIndex(au.avcc))
					log.mu.Unlock()
				}
			})
		}
	})
	return pc, log
}

// A WHIP publisher restarts ICE over PATCH: it stays the stream's one
// publisher and channel member, its WHEP reader and its hub reader keep
// getting the frames it sends after the restart, and the ETag changes.
func TestWHIPICERestart(t *testing.T) {
	e := newEnv(t)
	key := media.Key{AppID: e.app.ID, Channel: "room", UID: "81"}
	c := e.startWHIPPublisher("room", "81", -1)
	states, loc, etag1 := c.states, c.loc, c.etag
	if etag1 == "" {
		t.Fatal("WHIP: no ETag")
	}
	for deadline := time.Now().Add(waitLong); !e.hub.Live(key); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the WHIP stream never went live")
		}
	}
	rd, err := e.hub.Subscribe(key, media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	viewer, frames := newWHEPClient(t)
	vstatus, vbody, _, _ := e.open("whep", "room", "81", e.token("room", "1003", token.RoleSubscriber), offer(t, viewer))
	if vstatus != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", vstatus, vbody)
	}
	setAnswer(t, viewer, vbody)
	frames.waitAbove(t, -1, 10, "WHEP reader before the restart")

	e.srv.mu.Lock()
	sess := e.srv.publishers[key]
	e.srv.mu.Unlock()
	audioTrack := sess.audioTrack()
	oldUfrag := e.remoteUfrag(loc)
	from := states.count()
	etag2 := e.restartClient(c.pc, loc, "*")
	if etag2 == "" || etag2 == etag1 {
		t.Fatalf("restart ETag %q (was %q)", etag2, etag1)
	}
	states.waitReconnected(t, from)
	sent := int(c.frames.Load())
	frames.waitAbove(t, sent, 10, "WHEP reader after the publisher's restart")

	// The hub reader (RTMP/FLV) was not ended and gets the new frames.
	waitHubVideo(t, rd, sent, "hub reader after the restart")
	if u := e.remoteUfrag(loc); u == oldUfrag || u != ufrag(c.pc.LocalDescription().SDP) {
		t.Errorf("server's remote ufrag %q (was %q, client's %q)", u, oldUfrag, ufrag(c.pc.LocalDescription().SDP))
	}
	e.srv.mu.Lock()
	same := e.srv.publishers[key] == sess
	e.srv.mu.Unlock()
	if !same || sess.audioTrack() != audioTrack {
		t.Error("the restart replaced the publisher session or its audio track")
	}
	if n := e.chans.members("81"); n != 1 {
		t.Errorf("publisher is %d members after the restart", n)
	}
	if st := e.srv.Stats(); st.Sessions != 2 || st.Feeds != 1 {
		t.Errorf("stats after the restart %+v", st)
	}
	if n := frames.trackCount(); n != 2 {
		t.Errorf("WHEP reader got %d tracks", n)
	}

	// Trickle with the ICE session's ETag; the old one is refused.
	trickle := "a=ice-ufrag:" + ufrag(c.pc.LocalDescription().SDP) + "\r\n"
	if st, b, _ := e.patchFrag(loc, etag1, trickle); st != http.StatusPreconditionFailed {
		t.Errorf("trickle with the old ETag: %d %s", st, b)
	}
	if st, b, _ := e.patchFrag(loc, etag2, trickle); st != http.StatusNoContent {
		t.Errorf("trickle with the new ETag: %d %s", st, b)
	}
	if c := e.delete(loc); c != http.StatusOK {
		t.Fatalf("DELETE: %d", c)
	}
}

// A WHEP reader restarts ICE (If-Match: its ETag) and keeps receiving the
// stream on the same session.
func TestWHEPICERestart(t *testing.T) {
	e := newEnv(t)
	liveTestStream(t, e, 0)
	pc, frames := newWHEPClient(t)
	states := watchICE(pc)
	status, body, loc, etag1 := e.open("whep", "room", "42", e.token("room", "1004", token.RoleSubscriber), offer(t, pc))
	if status != http.StatusCreated || etag1 == "" {
		t.Fatalf("WHEP: %d %s (ETag %q)", status, body, etag1)
	}
	setAnswer(t, pc, body)
	frames.waitAbove(t, -1, 10, "before the restart")
	id := strings.TrimPrefix(loc, "/webrtc/session/")
	sess := e.srv.session(id)
	oldUfrag := e.remoteUfrag(loc)

	// Twice: a restarted session restarts again; the second time the
	// candidates are trickled after the restart.
	for i := range 2 {
		from := states.count()
		etag2 := e.restartClientWith(pc, loc, etag1, i == 1)
		if etag2 == "" || etag2 == etag1 {
			t.Fatalf("restart %d ETag %q (was %q)", i, etag2, etag1)
		}
		etag1 = etag2
		states.waitReconnected(t, from)
		frames.waitAbove(t, frames.last(), 25, fmt.Sprintf("after restart %d", i))
	}
	if u := e.remoteUfrag(loc); u == oldUfrag || u != ufrag(pc.LocalDescription().SDP) {
		t.Errorf("server's remote ufrag %q (was %q, client's %q)", u, oldUfrag, ufrag(pc.LocalDescription().SDP))
	}
	if e.srv.session(id) != sess || !sess.(*whepSession).attached.Load() {
		t.Error("the WHEP session was replaced or detached")
	}
	if st := e.srv.Stats(); st.Sessions != 1 || st.Feeds != 1 {
		t.Errorf("stats after the restart %+v", st)
	}
	if n := frames.trackCount(); n != 2 {
		t.Errorf("got %d tracks", n)
	}
}

// Refused PATCHes (no If-Match: 428; If-Match mismatch: 412; malformed
// fragments: 400; wrong type: 415) leave the session as it was: same remote
// description, same ETag, media flowing.
func TestPatchRefusals(t *testing.T) {
	e := newEnv(t)
	key := media.Key{AppID: e.app.ID, Channel: "room", UID: "82"}
	c := e.startWHIPPublisher("room", "82", -1)
	states, loc := c.states, c.loc
	etag := c.etag
	ss := e.srv.session(strings.TrimPrefix(loc, "/webrtc/session/"))
	remoteBefore := ss.pc().RemoteDescription().SDP
	statesBefore := states.count()

	restart := "a=ice-ufrag:" + newUfrag + "\r\na=ice-pwd:" + newPwd + "\r\n"
	cur := "a=ice-ufrag:" + ufrag(remoteBefore) + "\r\n"
	cases := []struct {
		name, ctype, ifMatch, body string
		status                     int
		reason                     string
	}{
		{"restart with another ETag", sdpfragType, `"not-it"`, restart, http.StatusPreconditionFailed, "If-Match"},
		{"restart with a weak ETag", sdpfragType, "W/" + etag, restart, http.StatusPreconditionFailed, "If-Match"},
		{"trickle with another ETag", sdpfragType, `"not-it"`, cur + "a=candidate:" + candB + "\r\n", http.StatusPreconditionFailed, "If-Match"},
		// No If-Match (issue #13 item 7): 428, nothing applied, unless the
		// fragment names the current ICE session's ufrag (below).
		{"restart without If-Match", sdpfragType, "", restart, http.StatusPreconditionRequired, "PATCH needs If-Match"},
		{"trickle without If-Match or ufrag", sdpfragType, "", "a=mid:0\r\na=candidate:" + candB + "\r\n", http.StatusPreconditionRequired, "PATCH needs If-Match"},
		{"not a fragment", sdpfragType, "*", "hello", http.StatusBadRequest, "not an SDP line"},
		{"restart with a bad candidate", sdpfragType, "*", restart + "a=candidate:1 1 udp x 1.2.3.4 9 typ host\r\n", http.StatusBadRequest, "line 3 has a bad candidate"},
		{"restart without a password", sdpfragType, "*", "a=ice-ufrag:" + newUfrag + "\r\n", http.StatusBadRequest, "needs both a=ice-ufrag and a=ice-pwd"},
		{"short password", sdpfragType, "*", "a=ice-ufrag:" + newUfrag + "\r\na=ice-pwd:abc\r\n", http.StatusBadRequest, "RFC 8839"},
		{"injected line", sdpfragType, "*", "a=ice-ufrag:" + newUfrag + "\ra=setup:active\r\na=ice-pwd:" + newPwd + "\r\n", http.StatusBadRequest, "control character"},
		{"too large", sdpfragType, "*", strings.Repeat("a=x\r\n", maxFragSize/4), http.StatusRequestEntityTooLarge, "larger than"},
		{"SDP offer type", "application/sdp", "*", restart, http.StatusUnsupportedMediaType, sdpfragType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("PATCH", e.http.URL+loc, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			if tc.ifMatch != "" {
				req.Header.Set("If-Match", tc.ifMatch)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.reason) {
				t.Fatalf("%d %s; want %d with %q", resp.StatusCode, b, tc.status, tc.reason)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("refusal without CORS headers")
			}
		})
	}
	if st, b, _ := e.patchFrag("/webrtc/session/nope", "*", restart); st != http.StatusNotFound {
		t.Errorf("PATCH of an unknown session: %d %s", st, b)
	}
	if ss.pc().RemoteDescription().SDP != remoteBefore {
		t.Error("a refused PATCH changed the remote description")
	}
	if n := states.count(); n != statesBefore {
		t.Errorf("a refused PATCH changed the client's ICE state (%d -> %d changes)", statesBefore, n)
	}
	if st, b, _ := e.patchFrag(loc, etag, cur); st != http.StatusNoContent {
		t.Errorf("trickle with the unchanged ETag: %d %s", st, b)
	}
	// whip-whep's WHEP client trickles without If-Match, naming the ufrag.
	if st, b, _ := e.patchFrag(loc, "", cur); st != http.StatusNoContent {
		t.Errorf("trickle without If-Match naming the current ufrag: %d %s", st, b)
	}
	// Media still flows: the hub gets frames sent from now on.
	e.waitPublisherVideo(key, c)
}

// Concurrent restarts of one session run one after the other: each gets
// 200 with its own ETag, the last applied wins, and the client's own
// restart afterwards brings the media back.
func TestConcurrentICERestarts(t *testing.T) {
	e := newEnv(t)
	key := media.Key{AppID: e.app.ID, Channel: "room", UID: "83"}
	c := e.startWHIPPublisher("room", "83", -1)
	states, loc := c.states, c.loc

	const n = 4
	type result struct {
		status int
		etag   string
		body   string
	}
	results := make([]result, n)
	var pw sync.WaitGroup
	for i := range n {
		pw.Add(1)
		go func() {
			defer pw.Done()
			frag := fmt.Sprintf("a=ice-ufrag:conc%d\r\na=ice-pwd:%s%d\r\n", i, newPwd, i)
			req, _ := http.NewRequest("PATCH", e.http.URL+loc, strings.NewReader(frag))
			req.Header.Set("Content-Type", sdpfragType)
			req.Header.Set("If-Match", "*")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results[i] = result{body: err.Error()}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results[i] = result{resp.StatusCode, resp.Header.Get("ETag"), string(b)}
		}()
	}
	pw.Wait()
	etags := map[string]bool{}
	for i, r := range results {
		if r.status != http.StatusOK || r.etag == "" || etags[r.etag] {
			t.Fatalf("restart %d: %d (ETag %q) %s", i, r.status, r.etag, r.body)
		}
		etags[r.etag] = true
	}
	if u := e.remoteUfrag(loc); !strings.HasPrefix(u, "conc") {
		t.Fatalf("server's remote ufrag %q is none of the restarts'", u)
	}
	from := states.count()
	e.restartClient(c.pc, loc, "*")
	states.waitReconnected(t, from)
	e.waitPublisherVideo(key, c)
}
