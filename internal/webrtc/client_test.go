package webrtc

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/admission"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/minirtc/minirtc/internal/transcode"
	"github.com/pion/ice/v4"
	pion "github.com/pion/webrtc/v4"
)

// env is a WebRTC server on loopback with a hub, a memory store with one app
// and a recording Channels.
type env struct {
	t     *testing.T
	hub   *media.Hub
	srv   *Server
	http  *httptest.Server
	app   store.App
	chans *fakeChannels
}

type fakeChannels struct {
	mu        sync.Mutex
	joined    map[string]int
	rotations map[string]int
	kicks     map[string]func(error)
	refuse    error
}

func (f *fakeChannels) JoinPublisher(app, ch, uid, session string, wildcard bool, kicked func(error)) (func(bool), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return nil, f.refuse
	}
	f.joined[uid]++
	f.kicks[uid] = kicked
	return func(bool) {
		f.mu.Lock()
		f.joined[uid]--
		f.mu.Unlock()
	}, nil
}

func (f *fakeChannels) SetRotation(app, ch, uid string, deg int) {
	f.mu.Lock()
	f.rotations[uid] = deg
	f.mu.Unlock()
}

func (f *fakeChannels) Rotation(app, ch, uid string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rotations[uid]
}

func (f *fakeChannels) members(uid string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.joined[uid]
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fc := &fakeChannels{joined: map[string]int{}, rotations: map[string]int{}, kicks: map[string]func(error){}}
	e := newEnvWith(t, fc, testConfig(), media.Config{Grace: -1})
	e.chans = fc
	return e
}

// testConfig is the server config of newEnv.
func testConfig() Config { return Config{LoopbackOnly: true, PLIInterval: 500 * time.Millisecond} }

// newEnvWith is newEnv with the given Channels (env.chans stays nil) and
// configs.
func newEnvWith(t *testing.T, chans Channels, cfg Config, hubCfg media.Config) *env {
	t.Helper()
	log := testLogger(t)
	if hubCfg.Derive == nil {
		hubCfg.Derive = transcode.NewDeriveFunc(transcode.DeriveConfig{}) // AAC for RTMP/FLV readers, Opus for WHEP
	}
	hub, err := media.NewHub(hubCfg, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	app, err := store.NewApp("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	app.Enabled = true
	if err := st.PutApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	auth := &admission.MediaAuthorizer{Signer: token.NewURLSigner(make([]byte, 32)), Apps: st}
	srv, err := New(cfg, hub, auth, chans, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Run(ctx)
	}()
	t.Cleanup(func() {
		hs.Close()
		cancel()
		<-done
		hub.Close()
	})
	return &env{t: t, hub: hub, srv: srv, http: hs, app: app}
}

func (e *env) token(ch, uid string, role token.Role) string {
	e.t.Helper()
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: e.app.ID, AppCert: e.app.Certificate, Channel: ch, UID: uid,
		Role: role, IssuedAt: time.Now(), Lifetime: 3600})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// post sends an offer; it returns the status, body and Location.
func (e *env) post(kind, ch, uid, tok, offer string) (int, string, string) {
	e.t.Helper()
	status, body, loc, _ := e.open(kind, ch, uid, tok, offer)
	return status, body, loc
}

// open posts an offer (with no Authorization header when tok is ""); it
// returns the status, body, Location and ETag.
func (e *env) open(kind, ch, uid, tok, offer string) (int, string, string, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.http.URL+"/"+kind+"/"+e.app.ID+"/"+ch+"/"+uid, strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location"), resp.Header.Get("ETag")
}

func (e *env) delete(loc string) int {
	e.t.Helper()
	req, _ := http.NewRequest("DELETE", e.http.URL+loc, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// clientAPI is a pion API for test clients (loopback, H.264 + Opus + CVO,
// or VP8 when vp8 is set).
func clientAPI(t testing.TB, vp8 bool) *pion.API {
	t.Helper()
	var m *pion.MediaEngine
	var err error
	if vp8 {
		m = &pion.MediaEngine{}
		if err := m.RegisterCodec(pion.RTPCodecParameters{
			RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000},
			PayloadType:        96,
		}, pion.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	} else {
		m, _, err = newMediaEngine()
		if err != nil {
			t.Fatal(err)
		}
	}
	return pion.NewAPI(pion.WithMediaEngine(m), pion.WithSettingEngine(loopbackSettings()))
}

// loopbackSettings keep a test client's ICE on IPv4 loopback, without mDNS.
func loopbackSettings() pion.SettingEngine {
	var se pion.SettingEngine
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return se
}

// readTracks runs read on OnTrack's goroutine for every remote track of
// pc. At cleanup pc is closed, which ends the reads, and they are waited for.
func readTracks(t testing.TB, pc *pion.PeerConnection, read func(tr *pion.TrackRemote)) {
	var readers sync.WaitGroup
	t.Cleanup(func() {
		_ = pc.Close()
		readers.Wait()
	})
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		readers.Add(1)
		defer readers.Done()
		read(tr)
	})
}

// rawVideoClient is a receive-only video PeerConnection with no
// interceptors (it sends only the RTCP a test writes itself) that accepts
// packets it already got (no SRTP replay protection), for NACK tests. The
// caller closes it.
func rawVideoClient(t testing.TB) *pion.PeerConnection {
	t.Helper()
	m, _, err := newMediaEngine()
	if err != nil {
		t.Fatal(err)
	}
	se := loopbackSettings()
	se.DisableSRTPReplayProtection(true)
	pc, err := pion.NewAPI(pion.WithMediaEngine(m), pion.WithSettingEngine(se)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		pc.Close()
		t.Fatal(err)
	}
	return pc
}

// mediaPC is a client PeerConnection (clientAPI, H.264 and Opus) with a
// video and an audio transceiver in direction dir; the caller closes it.
func mediaPC(t testing.TB, dir pion.RTPTransceiverDirection) *pion.PeerConnection {
	t.Helper()
	pc, err := clientAPI(t, false).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: dir}); err != nil {
			_ = pc.Close()
			t.Fatal(err)
		}
	}
	return pc
}

// offer creates pc's offer with all candidates.
func offer(t testing.TB, pc *pion.PeerConnection) string {
	t.Helper()
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-g
	return pc.LocalDescription().SDP
}

func setAnswer(t testing.TB, pc *pion.PeerConnection, sdp string) {
	t.Helper()
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
}
