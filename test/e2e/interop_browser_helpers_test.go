package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/pion/sdp/v3"
)

// The whip-whep-js page (test/e2e/interop/whip-whep.html) as the test sees
// it, and the checks around it.

// interopDir holds the interop page and its npm packages (package.json pins
// them; scripts/test.sh runs npm ci there).
const interopDir = "interop"

// whipWhepInstalled fails the test unless node_modules holds the whip-whep
// version package.json pins, and returns that version.
func whipWhepInstalled(t *testing.T) string {
	t.Helper()
	fix := "run `npm ci` in test/e2e/interop (scripts/test.sh does)"
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err := os.ReadFile(filepath.Join(interopDir, "package.json"))
	if err == nil {
		err = json.Unmarshal(b, &pkg)
	}
	if err != nil {
		t.Fatalf("test/e2e/interop/package.json: %v", err)
	}
	want := pkg.Dependencies["whip-whep"]
	var installed struct {
		Version string `json:"version"`
	}
	dir := filepath.Join(interopDir, "node_modules", "whip-whep")
	b, err = os.ReadFile(filepath.Join(dir, "package.json"))
	if err == nil {
		err = json.Unmarshal(b, &installed)
	}
	if err != nil {
		t.Fatalf("the whip-whep npm package is missing (%v): %s", err, fix)
	}
	if installed.Version != want {
		t.Fatalf("whip-whep %s is installed, package.json pins %q: %s", installed.Version, want, fix)
	}
	for _, f := range []string{"whip.js", "whep.js"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("whip-whep %s: %v: %s", want, err, fix)
		}
	}
	return want
}

// interopState is window.interop on the page.
type interopState struct {
	Loaded  bool        `json:"loaded"`
	Errors  []string    `json:"errors"`
	Logs    []string    `json:"logs"`
	Stopped bool        `json:"stopped"`
	HTTP    []exchange  `json:"http"`
	WHIP    interopPeer `json:"whip"`
	WHEP    interopPeer `json:"whep"`
}

// exchange is one request a client made (fetch) and the node's answer; the
// request body of PATCHes, the answer's body of PATCHes and failures.
type exchange struct {
	Method      string `json:"method"`
	URL         string `json:"url"`
	ContentType string `json:"contentType"`
	IfMatch     string `json:"ifMatch"`
	Body        string `json:"body"`
	Status      int    `json:"status"`
	ETag        string `json:"etag"`
	Location    string `json:"location"`
	Response    string `json:"response"`
	Error       string `json:"error"` // fetch failed (network, CORS)
}

func (x exchange) String() string {
	s := fmt.Sprintf("%s %s (Content-Type %q, If-Match %q) -> %d (ETag %q, Location %q)",
		x.Method, x.URL, x.ContentType, x.IfMatch, x.Status, x.ETag, x.Location)
	if x.Body != "" {
		s += fmt.Sprintf(", request body %q", x.Body)
	}
	if x.Response != "" {
		s += fmt.Sprintf(", answer body %q", x.Response)
	}
	if x.Error != "" {
		s += ", fetch error: " + x.Error
	}
	return s
}

// find returns the exchanges with this method.
func (st interopState) find(method string) []exchange {
	var out []exchange
	for _, x := range st.HTTP {
		if x.Method == method {
			out = append(out, x)
		}
	}
	return out
}

// interopPeer is one client's side: its SDP, its state and getStats figures.
type interopPeer struct {
	Done             bool    `json:"done"` // publish() / view() resolved
	Error            string  `json:"error"`
	Offer            string  `json:"offer"`
	Answer           string  `json:"answer"`
	Resource         string  `json:"resource"`
	ETag             string  `json:"etag"`
	ConnectionState  string  `json:"connectionState"`
	RemoteUfrag      string  `json:"remoteUfrag"`
	IceState         string  `json:"iceState"`
	PairChanges      int     `json:"pairChanges"`     // selectedCandidatePairChanges
	PairLocalUfrag   string  `json:"pairLocalUfrag"`  // of the candidate pair in use
	PairRemoteUfrag  string  `json:"pairRemoteUfrag"` // (empty for a peer-reflexive one)
	VideoCodec       string  `json:"videoCodec"`
	AudioCodec       string  `json:"audioCodec"`
	FramesEncoded    int     `json:"framesEncoded"`
	BytesSent        int64   `json:"bytesSent"`
	AudioBytesSent   int64   `json:"audioBytesSent"`
	FramesDecoded    int     `json:"framesDecoded"`
	TotalAudioEnergy float64 `json:"totalAudioEnergy"`
	Restart          *struct {
		Done       bool   `json:"done"`
		Error      string `json:"error"`
		LocalUfrag string `json:"localUfrag"`
		ETag       string `json:"etag"`
	} `json:"restart"`
}

// interopPage drives the page in one Chromium tab. The last state read is
// kept, so that a failure anywhere can still show the page's console.
type interopPage struct {
	t    *testing.T
	ctx  context.Context
	cdp  *devtools
	mu   sync.Mutex
	last interopState
}

// newInteropPage wraps the tab; when the test fails, the page's console
// output and errors and the clients' HTTP exchanges go into the test log.
func newInteropPage(ctx context.Context, t *testing.T, cdp *devtools) *interopPage {
	p := &interopPage{t: t, ctx: ctx, cdp: cdp}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		st := p.lastState()
		// A fresh read when the DevTools connection still works (a
		// cancelled read closes it).
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var fresh interopState
		if err := cdp.eval(rctx, "JSON.stringify(window.interop || {})", &fresh); err == nil {
			st = fresh
		}
		t.Logf("page console (%d lines):\n%s", len(st.Logs), strings.Join(st.Logs, "\n"))
		t.Logf("page errors: %q; WHIP: %s; WHEP: %s", st.Errors, st.WHIP.summary(), st.WHEP.summary())
		for _, x := range st.HTTP {
			t.Logf("HTTP: %s", x)
		}
	})
	return p
}

func (p *interopPeer) summary() string {
	return fmt.Sprintf("done=%t error=%q connection=%q ice=%q pair ufrags %q/%q (%d changes) video=%q audio=%q framesEncoded=%d framesDecoded=%d",
		p.Done, p.Error, p.ConnectionState, p.IceState, p.PairLocalUfrag, p.PairRemoteUfrag, p.PairChanges,
		p.VideoCodec, p.AudioCodec, p.FramesEncoded, p.FramesDecoded)
}

func (p *interopPage) lastState() interopState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// state reads window.interop and fails the test on a page error.
func (p *interopPage) state() interopState {
	p.t.Helper()
	var st interopState
	if err := p.cdp.eval(p.ctx, "JSON.stringify(window.interop || {})", &st); err != nil {
		p.t.Fatalf("reading the page state: %v", err)
	}
	p.mu.Lock()
	p.last = st
	p.mu.Unlock()
	switch {
	case len(st.Errors) > 0:
		p.t.Fatalf("page errors: %q", st.Errors)
	case st.WHIP.Error != "":
		p.t.Fatalf("WHIPClient.publish: %s", st.WHIP.Error)
	case st.WHEP.Error != "":
		p.t.Fatalf("WHEPClient.view: %s", st.WHEP.Error)
	}
	return st
}

// wait polls the page until cond holds (30 s at most: a slow machine
// still gets there; it returns as soon as it does).
func (p *interopPage) wait(what string, cond func(interopState) bool) interopState {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := p.state()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s; WHIP: %s; WHEP: %s", what, st.WHIP.summary(), st.WHEP.summary())
		}
		select {
		case <-p.ctx.Done():
			p.t.Fatalf("waiting for %s: %v", what, p.ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// call runs a function the page exports (it returns at once; its outcome
// shows in the state).
func (p *interopPage) call(fn string) {
	p.t.Helper()
	if err := p.cdp.eval(p.ctx, "window."+fn+"()", nil); err != nil {
		p.t.Fatalf("%s: %v", fn, err)
	}
}

// sdpCodecs lists the codec names (rtpmap encoding names, in order, without
// duplicates) of the offer's or answer's media sections of kind.
func sdpCodecs(t *testing.T, text, kind string) []string {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		t.Fatalf("parsing the SDP: %v\n%s", err, text)
	}
	var names []string
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != kind {
			continue
		}
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			_, enc, _ := strings.Cut(a.Value, " ")
			name, _, _ := strings.Cut(enc, "/")
			if !contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names
}

// sdpDirection is the direction attribute of the first section of kind.
func sdpDirection(t *testing.T, text, kind string) string {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		t.Fatalf("parsing the SDP: %v", err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != kind {
			continue
		}
		for _, a := range md.Attributes {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				return a.Key
			}
		}
	}
	return ""
}

// sdpUfrag is the first a=ice-ufrag of an SDP.
func sdpUfrag(text string) string {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "a=ice-ufrag:"); ok {
			return v
		}
	}
	return ""
}

// videoCounter counts the video packets a hub reader gets from a stream
// (after the GOP cache, live ones): what the count grows by after some
// moment, the node received after it.
type videoCounter struct {
	n  atomic.Int64
	wg sync.WaitGroup
}

// countVideo reads key's stream until the test ends (or the stream does).
func countVideo(t *testing.T, hub *media.Hub, key media.Key) *videoCounter {
	t.Helper()
	r, err := hub.Subscribe(key, media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &videoCounter{}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		var buf []*media.Packet
		for {
			var err error
			buf, err = r.Next(ctx, buf[:0])
			for _, p := range buf {
				if p.Kind() == media.KindVideo {
					c.n.Add(1)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		r.Close()
		c.wg.Wait()
	})
	return c
}
