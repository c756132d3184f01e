package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	pion "github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/minirtc/minirtc/internal/bench/synth"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	return port
}

// startNode runs a node with cfg until the test ends; it returns the node
// once its HTTP listener answers.
func startNode(t *testing.T, cfg config.Config, log *slog.Logger) *Node {
	t.Helper()
	n, err := NewWithStore(cfg, log, store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	return runUntilReady(t, n)
}

// runUntilReady runs n until the test ends and returns it once its HTTP
// listener answers /healthz with 200.
func runUntilReady(t *testing.T, n *Node) *Node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + n.HTTPAddr() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return n
			}
		}
		if i > 300 {
			t.Fatalf("node never ready: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// loopbackClient is a pion API for a test client on IPv4 loopback.
func loopbackClient(t *testing.T) *pion.API {
	t.Helper()
	m := &pion.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	var se pion.SettingEngine
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return pion.NewAPI(pion.WithMediaEngine(m), pion.WithSettingEngine(se))
}

// postWHIP publishes pc's offer (all candidates gathered) for uid in
// channel ch and returns the status and body.
func postWHIP(t *testing.T, n *Node, app store.App, ch, uid string, pc *pion.PeerConnection) (int, string) {
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
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: ch, UID: uid,
		Role: token.RolePublisher, IssuedAt: time.Now(), Lifetime: 600})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+n.HTTPAddr()+"/whip/"+app.ID+"/"+ch+"/"+uid,
		strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// hostCandidates lists the "ip port" pairs of the host candidates in sdp.
func hostCandidates(sdp string) []string {
	var out []string
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "a=candidate:") {
			continue
		}
		f := strings.Fields(l)
		if len(f) >= 8 && f[7] == "host" {
			out = append(out, f[4]+" "+f[5])
		}
	}
	return out
}

// TestWebRTCExplicitLoopbackAddr: with webrtc.udpAddr set explicitly to
// 127.0.0.1:PORT (not loopback-only mode), a WHIP answer carries a
// 127.0.0.1:PORT host candidate and the connection carries media into the
// hub. Before the fix the answer had no candidate at all.
func TestWebRTCExplicitLoopbackAddr(t *testing.T) {
	cfg := testConfig(t)
	port := freeUDPPort(t)
	cfg.WebRTC.UDPAddr = "127.0.0.1:" + strconv.Itoa(port)
	n := startNode(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	app, _ := n.CreatedDefaultApp()

	pc, err := loopbackClient(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	track, err := pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "pub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(track, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		if s == pion.PeerConnectionStateConnected {
			close(connected)
		}
	})
	status, answer := postWHIP(t, n, app, "room", "5", pc)
	if status != http.StatusCreated {
		t.Fatalf("WHIP: %d %s", status, answer)
	}
	want := "127.0.0.1 " + strconv.Itoa(port)
	if c := hostCandidates(answer); len(c) == 0 || !strings.Contains(strings.Join(c, ","), want) {
		t.Fatalf("answer host candidates %q, want %q:\n%s", c, want, answer)
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("WHIP connection never connected")
	}

	video, err := synth.NewVideo(synth.VideoConfig{Width: 64, Height: 64, FPS: 25, GOP: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = track.WriteSample(pionmedia.Sample{Data: video.Next(time.Now()).AppendAnnexB(nil), Duration: 40 * time.Millisecond})
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { cancel(); <-sending }()

	key := media.Key{AppID: app.ID, Channel: "room", UID: "5"}
	var rd *media.Reader
	for rd == nil {
		if rd, err = n.media.hub.Subscribe(key, media.SubscribeOptions{}); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("stream never appeared in the hub: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	defer rd.Close()
	var pkts []*media.Packet
	frames := 0
	for frames < 10 {
		pkts, err = rd.Next(ctx, pkts[:0])
		if err != nil {
			t.Fatalf("reading the hub after %d frames: %v", frames, err)
		}
		for _, p := range pkts {
			if p.Track.Codec == media.CodecH264 {
				frames++
			}
		}
	}
}

// TestWebRTCNoCandidates: a configuration whose address yields no ICE
// candidate (a port range on interfaces that do not exist) refuses WHIP
// with a catalogue error that says what to set, and the node warns at
// start.
func TestWebRTCNoCandidates(t *testing.T) {
	cfg := testConfig(t)
	cfg.WebRTC.PortMin, cfg.WebRTC.PortMax = 41000, 41010
	cfg.WebRTC.Interfaces = []string{"no-such-interface0"}
	logs := &syncWriter{w: &strings.Builder{}}
	log := slog.New(slog.NewTextHandler(logs, nil))
	n := startNode(t, cfg, log)
	app, _ := n.CreatedDefaultApp()
	pc, err := loopbackClient(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	status, body := postWHIP(t, n, app, "room", "6", pc)
	var e struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("WHIP: %d %q", status, body)
	}
	if status != http.StatusServiceUnavailable || !strings.Contains(e.Reason, "no ICE candidate") ||
		!strings.Contains(e.Reason, "webrtc.udpAddr") {
		t.Fatalf("WHIP: %d %+v", status, e)
	}
	if s := logs.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "no ICE candidate") {
		t.Fatalf("no start warning:\n%s", s)
	}
}

// syncWriter serializes writes to w (logs come from several goroutines).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(fmt.Stringer).String()
}
