package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/node"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/pion/ice/v4"
	pion "github.com/pion/webrtc/v4"
)

// nodeEnv is a full minirtc node on loopback (WebRTC loopback-only).
type nodeEnv struct {
	t   *testing.T
	n   *node.Node
	app store.App
}

// newNodeEnv starts the node; opts adjust its configuration first.
func newNodeEnv(t *testing.T, opts ...func(*config.Config)) *nodeEnv {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.RTMP.Addr = "127.0.0.1:0"
	cfg.Media.PublisherGrace = 300 * time.Millisecond
	for _, o := range opts {
		o(&cfg)
	}
	n, err := node.NewWithStore(cfg, testLogger(t), store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	app, _ := n.CreatedDefaultApp()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node run: %v", err)
		}
	})
	return &nodeEnv{t: t, n: n, app: app}
}

func (e *nodeEnv) token(ch, uid string, role token.Role) string {
	e.t.Helper()
	tok, err := token.BuildRTC007(token.RTCOptions{AppID: e.app.ID, AppCert: e.app.Certificate, Channel: ch, UID: uid,
		Role: role, IssuedAt: time.Now(), Lifetime: 3600})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *nodeEnv) playURL(kind, uid string) string {
	s := token.StreamName(e.app.ID, "room", uid)
	q := e.n.Signer().Query(token.ActionPlay, s, time.Now().Add(time.Hour))
	if kind == "rtmp" {
		return fmt.Sprintf("rtmp://%s/live/%s?%s", e.n.RTMPAddr(), s, q)
	}
	return fmt.Sprintf("http://%s/live/%s.flv?%s", e.n.HTTPAddr(), s, q)
}

func (e *nodeEnv) pushURL(uid string) string {
	s := token.StreamName(e.app.ID, "room", uid)
	return fmt.Sprintf("rtmp://%s/live/%s?%s", e.n.RTMPAddr(), s, e.n.Signer().Query(token.ActionPublish, s, time.Now().Add(time.Hour)))
}

// joinPublisher makes uid a publishing broadcaster (what the mini program
// SDK does before its live-pusher pushes).
func (e *nodeEnv) joinPublisher(uid uint32) {
	e.t.Helper()
	ref := channel.Ref{App: e.app.ID, Channel: "room", UID: uid, Endpoint: nopEndpoint{}}
	if _, err := e.n.Channels().Join(channel.JoinRequest{App: e.app.ID, Channel: "room", UID: uid, Role: channel.RoleBroadcaster,
		Endpoint: ref.Endpoint}); err != nil {
		e.t.Fatal(err)
	}
	if _, _, err := e.n.Channels().Publish(ref, "rtmp"); err != nil {
		e.t.Fatal(err)
	}
}

// post sends a WHIP/WHEP offer and returns status, body and Location.
func (e *nodeEnv) post(kind, uid, tok, offer string) (int, string, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", "http://"+e.n.HTTPAddr()+"/"+kind+"/"+e.app.ID+"/room/"+uid, strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

// pionAPI is a WebRTC client stack like a native app's: H.264 + Opus, loopback.
func pionAPI(t *testing.T) *pion.API {
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

func completeOffer(t *testing.T, pc *pion.PeerConnection) string {
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

// h264File makes a baseline H.264 Annex-B clip (one slice per frame, no
// B-frames, IDR every second) and splits it into access units.
func h264File(t *testing.T, seconds int) [][]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.h264")
	if err := runWait(exec.Command(needTool(t, "ffmpeg"), "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", fmt.Sprint(seconds),
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-tune", "zerolatency", "-threads", "1",
		"-g", "25", "-bf", "0", "-pix_fmt", "yuv420p", "-bsf:v", "h264_mp4toannexb", "-f", "h264", out)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	nalus := splitAnnexB(b)
	if len(nalus) == 0 {
		t.Fatal("no NAL units in the clip")
	}
	var aus [][]byte
	var cur [][]byte
	for _, n := range nalus {
		cur = append(cur, n)
		if typ := n[0] & 0x1f; typ == 1 || typ == 5 {
			ab, err := h264.AnnexB(cur).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			aus = append(aus, ab)
			cur = nil
		}
	}
	return aus
}

// splitAnnexB returns the NAL units of an Annex-B byte stream.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 {
					end--
				}
				out = append(out, b[start:end])
			}
			start = i + 3
			i += 2
		}
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// toneOf measures the dominant frequency (zero crossings) and RMS of mono PCM.
func toneOf(pcm []float32, rate int) (freq, rms float64) {
	first, last, count := -1, -1, 0
	var sum float64
	for i := 1; i < len(pcm); i++ {
		sum += float64(pcm[i]) * float64(pcm[i])
		if pcm[i-1] < 0 && pcm[i] >= 0 {
			if first < 0 {
				first = i
			} else {
				count++
			}
			last = i
		}
	}
	if count == 0 {
		return 0, 0
	}
	return float64(count) * float64(rate) / float64(last-first), math.Sqrt(sum / float64(len(pcm)))
}

// checkPlayedTone plays uid's stream over RTMP and HTTP-FLV at once with
// ffmpeg, 4 s each (each within decodeTimeout), and checks that both decode
// at least minFrames H.264 frames and AAC carrying the 440 Hz test tone. It
// returns one summary line per protocol.
func checkPlayedTone(ctx context.Context, t *testing.T, e *nodeEnv, uid string, minFrames int, decodeTimeout time.Duration) []string {
	t.Helper()
	type result struct {
		frames int
		pcm    []float32
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i, kind := range []string{"rtmp", "flv"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dctx, dcancel := context.WithTimeout(ctx, decodeTimeout)
			defer dcancel()
			f, p := decodeWithFFmpeg(dctx, t, e.playURL(kind, uid), "", 4)
			results[i] = result{f, p}
		}()
	}
	wg.Wait()
	var lines []string
	for i, kind := range []string{"RTMP", "HTTP-FLV"} {
		r := results[i]
		if r.frames < minFrames {
			t.Errorf("%s: ffmpeg decoded %d video frames in 4 s, want at least %d", kind, r.frames, minFrames)
		}
		if len(r.pcm) < 48000 {
			t.Errorf("%s: %d audio samples", kind, len(r.pcm))
			continue
		}
		f, rms := toneOf(r.pcm[len(r.pcm)/4:], 48000)
		if math.Abs(f-440) > 5 || rms < 0.05 {
			t.Errorf("%s: AAC tone at %.1f Hz (rms %.3f), want 440 Hz", kind, f, rms)
		}
		lines = append(lines, fmt.Sprintf("%s: %d H.264 frames decoded in 4 s, AAC tone %.1f Hz rms %.3f", kind, r.frames, f, rms))
	}
	return lines
}

// decodeWithFFmpeg plays url (or a file) with ffmpeg for the given time and
// returns the number of decoded video frames and the decoded audio as mono
// 48 kHz float PCM. It may run on another goroutine: failures are t.Error.
func decodeWithFFmpeg(ctx context.Context, t *testing.T, input string, format string, seconds int) (frames int, pcm []float32) {
	t.Helper()
	dir := t.TempDir()
	md5 := filepath.Join(dir, "video.md5")
	raw := filepath.Join(dir, "audio.raw")
	args := []string{"-hide_banner", "-loglevel", "error", "-y"}
	if format != "" {
		args = append(args, "-f", format)
	}
	args = append(args, "-rw_timeout", "20000000", "-i", input, "-t", fmt.Sprint(seconds),
		"-map", "0:v:0", "-f", "framemd5", md5)
	if format == "" {
		args = append(args, "-t", fmt.Sprint(seconds), "-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "f32le", raw)
	}
	if format == "h264" {
		args = args[:0]
		args = append(args, "-hide_banner", "-loglevel", "error", "-y", "-f", "h264", "-i", input, "-f", "framemd5", md5)
	}
	if err := runWait(exec.CommandContext(ctx, needTool(t, "ffmpeg"), args...)); err != nil {
		t.Errorf("ffmpeg decode %s: %v", input, err)
		return 0, nil
	}
	b, err := os.ReadFile(md5)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(l) > 0 && l[0] != '#' {
			frames++
		}
	}
	if format == "" {
		a, err := os.ReadFile(raw)
		if err != nil {
			t.Error(err)
			return frames, nil
		}
		pcm = make([]float32, len(a)/4)
		for i := range pcm {
			pcm[i] = math.Float32frombits(uint32(a[4*i]) | uint32(a[4*i+1])<<8 | uint32(a[4*i+2])<<16 | uint32(a[4*i+3])<<24)
		}
	}
	return frames, pcm
}
