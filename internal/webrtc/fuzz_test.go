package webrtc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/minirtc/minirtc/internal/admission"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// fuzzWHIP is one WHIP server (real handler, hub, authorizer and a
// recording Channels) shared by the inputs of a fuzz worker.
type fuzzWHIP struct {
	hub   *media.Hub
	srv   *Server
	mux   *http.ServeMux
	chans *fakeChannels
	tok   string
	path  string
}

func newFuzzWHIP(tb testing.TB) *fuzzWHIP {
	tb.Helper()
	log := testLogger(tb)
	hub, err := media.NewHub(media.Config{Grace: -1}, nil, log)
	if err != nil {
		tb.Fatal(err)
	}
	st := store.NewMemory()
	app, err := store.NewApp("fuzz", time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	app.Enabled = true
	if err := st.PutApp(context.Background(), app); err != nil {
		tb.Fatal(err)
	}
	auth := &admission.MediaAuthorizer{Signer: token.NewURLSigner(make([]byte, 32)), Apps: st}
	fc := &fakeChannels{joined: map[string]int{}, rotations: map[string]int{}, kicks: map[string]func(error){}}
	srv, err := New(testConfig(), hub, auth, fc, log)
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
		hub.Close()
	})
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: "room", UID: "42",
		Role: token.RolePublisher, IssuedAt: time.Now(), Lifetime: 24 * 3600})
	if err != nil {
		tb.Fatal(err)
	}
	return &fuzzWHIP{hub: hub, srv: srv, mux: mux, chans: fc, tok: tok, path: "/whip/" + app.ID + "/room/42"}
}

// do serves one request with the real handlers.
func (fw *fuzzWHIP) do(method, path, ctype, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer "+fw.tok)
	rec := httptest.NewRecorder()
	fw.mux.ServeHTTP(rec, req)
	return rec
}

// whipSeedOffers are offers of real clients: pion with H.264 and Opus,
// video only, audio only, and a browser-like offer.
func whipSeedOffers(tb testing.TB) []string {
	var offers []string
	for _, kinds := range [][]pion.RTPCodecType{
		{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio},
		{pion.RTPCodecTypeVideo},
		{pion.RTPCodecTypeAudio},
	} {
		pc, err := clientAPI(tb, false).NewPeerConnection(pion.Configuration{})
		if err != nil {
			tb.Fatal(err)
		}
		for _, k := range kinds {
			if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
				tb.Fatal(err)
			}
		}
		offers = append(offers, offer(tb, pc))
		_ = pc.Close()
	}
	return offers
}

// FuzzWHIPOffer posts arbitrary SDP to the real WHIP handler. Each answer
// is either 201 with an SDP answer and a session Location, or a catalogue
// error (JSON code and reason, 4xx, or 503 when overloaded), never a panic
// or a 500. After the session is deleted (or at once, on an error) no
// session, hub publisher or channel membership is left, and the goroutines
// return to what they were.
func FuzzWHIPOffer(f *testing.F) {
	for _, o := range whipSeedOffers(f) {
		f.Add(o)
	}
	f.Add(offerHead + "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n")
	f.Add(offerHead + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n")
	f.Add("v=0\r\n")
	f.Add("")
	fw := newFuzzWHIP(f)
	base := -1
	f.Fuzz(func(t *testing.T, sdp string) {
		if base < 0 {
			base = runtime.NumGoroutine()
		}
		rec := fw.do(http.MethodPost, fw.path, "application/sdp", sdp)
		switch {
		case rec.Code == http.StatusCreated:
			loc := rec.Header().Get("Location")
			if !strings.HasPrefix(rec.Body.String(), "v=0") || !strings.HasPrefix(loc, "/webrtc/session/") {
				t.Fatalf("201 without an SDP answer or Location: %q %q", loc, rec.Body.String())
			}
			if d := fw.do(http.MethodDelete, loc, "", ""); d.Code != http.StatusOK && d.Code != http.StatusNoContent {
				t.Fatalf("DELETE %s: %d %s", loc, d.Code, d.Body.String())
			}
		case rec.Code >= 400 && rec.Code < 500 || rec.Code == http.StatusServiceUnavailable:
			var e struct {
				Code   int    `json:"code"`
				Reason string `json:"reason"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == 0 || e.Reason == "" {
				t.Fatalf("%d without a catalogue error: %q (%v)", rec.Code, rec.Body.String(), err)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		if st := fw.srv.Stats(); st.Sessions != 0 {
			t.Fatalf("%d sessions left", st.Sessions)
		}
		if hs := fw.hub.Stats(); hs.Publishers != 0 {
			t.Fatalf("%d hub publishers left", hs.Publishers)
		}
		if n := fw.chans.members("42"); n != 0 {
			t.Fatalf("%d channel memberships left", n)
		}
		// pion ends a closed peer connection's goroutines shortly after.
		for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > base+2; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutines %d, were %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
			}
		}
	})
}

// TestWHIPSeedOffersAnswered: the real clients' seed offers are answered
// (so fuzzing starts from inputs that reach session set-up).
func TestWHIPSeedOffersAnswered(t *testing.T) {
	fw := newFuzzWHIP(t)
	for i, o := range whipSeedOffers(t) {
		rec := fw.do(http.MethodPost, fw.path, "application/sdp", o)
		if rec.Code != http.StatusCreated {
			t.Fatalf("seed %d: %d %s", i, rec.Code, rec.Body.String())
		}
		if d := fw.do(http.MethodDelete, rec.Header().Get("Location"), "", ""); d.Code >= 300 {
			t.Fatalf("seed %d: DELETE %d", i, d.Code)
		}
	}
}
