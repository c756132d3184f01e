package e2e

import (
	"context"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/thesyncim/gopus"
)

// recEndpoint records the events a channel member receives.
type recEndpoint struct {
	mu     sync.Mutex
	events []channel.Event
}

func (r *recEndpoint) Notify(ev channel.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recEndpoint) saw(kind channel.EventKind, uid uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		if ev.Kind == kind && ev.UID == uid {
			return true
		}
	}
	return false
}

func waitLive(t *testing.T, hub *media.Hub, key media.Key) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !hub.Live(key); {
		if time.Now().After(deadline) {
			t.Fatalf("stream %v never went live", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebRTCWHIPToRTMPAndFLV: a Go pion client (a native app) publishes
// H.264 + an Opus 440 Hz tone over WHIP; ffmpeg plays the stream over RTMP
// and HTTP-FLV (as live-player does) and decodes video frames and an AAC
// tone at 440 Hz. Refusals go through the node too.
func TestWebRTCWHIPToRTMPAndFLV(t *testing.T) {
	e := newNodeEnv(t)
	aus := h264File(t, 4)
	// A mini program is in the channel: it must see the WHIP publisher come and go.
	mp := &recEndpoint{}
	if _, err := e.n.Channels().Join(channel.JoinRequest{App: e.app.ID, Channel: "room", UID: 900, Endpoint: mp}); err != nil {
		t.Fatal(err)
	}

	pc, err := pionAPI(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	vt, err := pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "native")
	if err != nil {
		t.Fatal(err)
	}
	at, err := pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "native")
	if err != nil {
		t.Fatal(err)
	}
	var bg sync.WaitGroup
	defer bg.Wait()
	defer pc.Close()
	for _, tr := range []pion.TrackLocal{vt, at} {
		snd, err := pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		bg.Add(1)
		go func() {
			defer bg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := snd.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		if s == pion.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	offer := completeOffer(t, pc)

	// Refusals: an audience token cannot publish; a bad token is refused.
	if st, body, _ := e.post("whip", "5", e.token("room", "5", token.RoleSubscriber), offer); st != http.StatusForbidden || !strings.Contains(body, "no authorized") {
		t.Fatalf("audience WHIP: %d %s", st, body)
	}
	if st, body, _ := e.post("whip", "5", "007bad", offer); st != http.StatusUnauthorized {
		t.Fatalf("bad token WHIP: %d %s", st, body)
	}

	st, body, loc := e.post("whip", "5", e.token("room", "5", token.RolePublisher), offer)
	if st != http.StatusCreated || loc == "" {
		t.Fatalf("WHIP: %d %s", st, body)
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(20 * time.Second):
		t.Fatal("WHIP connection not established")
	}
	if m, ok := e.n.Channels().Member(e.app.ID, "room", 5); !ok || !m.Publishing {
		t.Fatalf("the WHIP publisher is not a publishing member: %+v", m)
	}
	if !mp.saw(channel.EventStreamStarted, 5) {
		t.Fatal("the mini program did not get stream-added for the WHIP publisher")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sendCtx, stopSend := context.WithCancel(ctx)
	defer stopSend()
	bg.Add(1)
	go func() {
		defer bg.Done()
		enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: 48000, Channels: 1, Application: gopus.ApplicationAudio})
		if err != nil {
			t.Error(err)
			return
		}
		buf := make([]byte, 1500)
		pcm := make([]float32, 960)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			for j := range pcm {
				pcm[j] = float32(0.4 * math.Sin(2*math.Pi*440*float64(i*960+j)/48000))
			}
			n, err := enc.Encode(pcm, buf)
			if err != nil {
				t.Error(err)
				return
			}
			_ = at.WriteSample(pionmedia.Sample{Data: buf[:n], Duration: 20 * time.Millisecond})
			if i%2 == 0 {
				_ = vt.WriteSample(pionmedia.Sample{Data: aus[(i/2)%len(aus)], Duration: 40 * time.Millisecond})
			}
			select {
			case <-sendCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, "5"))

	checkPlayedTone(ctx, t, e, "5", 50, 15*time.Second)
	if t.Failed() {
		t.FailNow()
	}

	// DELETE ends the session and the membership.
	req, _ := http.NewRequest("DELETE", "http://"+e.n.HTTPAddr()+loc, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, ok := e.n.Channels().Member(e.app.ID, "room", 5); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the WHIP publisher is still a member after DELETE")
		}
	}
	if !mp.saw(channel.EventStreamStopped, 5) {
		t.Error("the mini program did not get stream-removed after DELETE")
	}
	stopSend()
}

// TestWebRTCRTMPToWHEP: ffmpeg pushes H.264 + AAC (440 Hz) over RTMP like
// live-pusher; a Go WHEP client receives H.264 that ffmpeg decodes and Opus
// that decodes to the 440 Hz tone.
func TestWebRTCRTMPToWHEP(t *testing.T) {
	e := newNodeEnv(t)
	e.joinPublisher(6)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	push := pushCmd(ctx, t, e.pushURL("6"), 12)
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = push.Wait()
	}()
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, "6"))

	pc, err := pionAPI(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	var readers sync.WaitGroup
	defer readers.Wait()
	defer pc.Close()
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var annexB []byte
	var frames int
	var pcm []float32
	videoDone, audioDone := make(chan struct{}), make(chan struct{})
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		readers.Add(1)
		defer readers.Done()
		if tr.Kind() == pion.RTPCodecTypeVideo {
			if !strings.EqualFold(tr.Codec().MimeType, pion.MimeTypeH264) {
				t.Errorf("video codec %s", tr.Codec().MimeType)
				return
			}
			var dp codecs.H264Packet
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				b, err := dp.Unmarshal(p.Payload)
				if err != nil {
					continue
				}
				mu.Lock()
				if frames < 75 {
					annexB = append(annexB, b...)
					if p.Marker {
						frames++
						if frames == 75 {
							close(videoDone)
						}
					}
				}
				mu.Unlock()
			}
		}
		dec, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(48000, 1))
		if err != nil {
			t.Error(err)
			return
		}
		buf := make([]float32, 5760)
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			n, err := dec.Decode(p.Payload, buf)
			if err != nil {
				t.Errorf("opus decode: %v", err)
				return
			}
			mu.Lock()
			if len(pcm) < 2*48000 {
				pcm = append(pcm, buf[:n]...)
				if len(pcm) >= 2*48000 {
					close(audioDone)
				}
			}
			mu.Unlock()
		}
	})
	st, body, loc := e.post("whep", "6", e.token("room", "1001", token.RoleSubscriber), completeOffer(t, pc))
	if st != http.StatusCreated || loc == "" {
		t.Fatalf("WHEP: %d %s", st, body)
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []chan struct{}{videoDone, audioDone} {
		select {
		case <-c:
		case <-ctx.Done():
			t.Fatal("timed out waiting for WHEP media")
		}
	}
	mu.Lock()
	clip := filepath.Join(t.TempDir(), "whep.h264")
	if err := os.WriteFile(clip, annexB, 0o600); err != nil {
		t.Fatal(err)
	}
	f, rms := toneOf(pcm[48000/2:], 48000)
	mu.Unlock()
	decoded, _ := decodeWithFFmpeg(ctx, t, clip, "h264", 0)
	if decoded < 70 {
		t.Errorf("ffmpeg decoded %d of 75 received H.264 frames", decoded)
	}
	if math.Abs(f-440) > 5 || rms < 0.05 {
		t.Errorf("Opus tone at %.1f Hz (rms %.3f), want 440 Hz", f, rms)
	}
}

// pushCmd is ffmpeg as live-pusher: H.264 (no B-frames) + AAC 440 Hz, real time.
func pushCmd(ctx context.Context, t *testing.T, url string, seconds float64) *exec.Cmd {
	return exec.CommandContext(ctx, needTool(t, "ffmpeg"), publishArgs(url, seconds, true, true)...)
}
