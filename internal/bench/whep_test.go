package bench

import (
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/minirtc/minirtc/internal/bench/synth"
)

// whepRelay serves WHEP (POST offer -> 201 answer) from the relay's RTMP
// publisher with pion: H.264 only (the relay's AAC cannot go over WebRTC).
type whepRelay struct {
	r   *relay
	api *webrtc.API
	mu  sync.Mutex
	pcs []*webrtc.PeerConnection
	wg  sync.WaitGroup
}

func newWHEPRelay(t *testing.T, r *relay) *whepRelay {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	w := &whepRelay{r: r, api: webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))}
	t.Cleanup(func() {
		w.mu.Lock()
		for _, pc := range w.pcs {
			pc.Close()
		}
		w.mu.Unlock()
		w.wg.Wait()
	})
	return w
}

func (w *whepRelay) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Authorization") != "Bearer secret" {
		http.Error(rw, "no", http.StatusUnauthorized)
		return
	}
	offer, _ := io.ReadAll(req.Body)
	pc, err := w.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		http.Error(rw, err.Error(), 500)
		return
	}
	w.mu.Lock()
	w.pcs = append(w.pcs, pc)
	w.mu.Unlock()
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "relay")
	if err == nil {
		_, err = pc.AddTrack(track)
	}
	if err == nil {
		err = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)})
	}
	var answer webrtc.SessionDescription
	if err == nil {
		answer, err = pc.CreateAnswer(nil)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err == nil {
		err = pc.SetLocalDescription(answer)
	}
	if err != nil {
		http.Error(rw, err.Error(), 500)
		return
	}
	<-gathered
	ch := w.r.subscribe("/live/cam1")
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer w.r.unsubscribe("/live/cam1", ch)
		done := make(chan struct{})
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed {
				select {
				case <-done:
				default:
					close(done)
				}
			}
		})
		var sps, pps []byte
		for {
			var msg message.Message
			select {
			case <-done:
				return
			case <-w.r.quit:
				return
			case msg = <-ch:
			}
			v, ok := msg.(*message.Video)
			if !ok {
				continue
			}
			if v.Type == message.VideoTypeConfig {
				sps = v.AVCConfig.SequenceParameterSets[0].NALUnit
				pps = v.AVCConfig.PictureParameterSets[0].NALUnit
				continue
			}
			var annexB []byte
			if v.IsKeyFrame && sps != nil {
				annexB = append(append(append(annexB, 0, 0, 0, 1), sps...), append([]byte{0, 0, 0, 1}, pps...)...)
			}
			for au := v.AU; len(au) >= 4; {
				n := binary.BigEndian.Uint32(au)
				annexB = append(append(annexB, 0, 0, 0, 1), au[4:4+n]...)
				au = au[4+n:]
			}
			_ = track.WriteSample(media.Sample{Data: annexB, Duration: time.Second / 15})
		}
	}()
	rw.Header().Set("Content-Type", "application/sdp")
	rw.Header().Set("Location", "/whep/session/1")
	rw.WriteHeader(http.StatusCreated)
	io.WriteString(rw, pc.LocalDescription().SDP)
}

func TestMediaOnlyWHEP(t *testing.T) {
	r := newRelay(t)
	wr := newWHEPRelay(t, r)
	mux := http.NewServeMux()
	mux.Handle("POST /whep", wr)
	mux.HandleFunc("DELETE /whep/session/1", func(http.ResponseWriter, *http.Request) {})
	hs := startHTTP(t, &http.Server{Handler: mux})
	cfg := smallRun(Config{RTMPURL: r.rtmpURL("/live/cam1"), WHEPURL: hs + "/whep", WHEPToken: "secret"})
	cfg.Readers = 2
	rep, err := Run(context.Background(), cfg, testLogger(t), nil)
	if err != nil {
		t.Fatalf("%v: %v", err, rep.Errors)
	}
	if rep.Proto != ProtoWHEP || rep.ReadersPlaying != 2 || rep.ReadersFailed != 0 || rep.FirstFrame.Count != 2 ||
		rep.Latency.Count == 0 || rep.PlayConnect.Count != 2 || rep.Drops.FramesExpected == 0 || rep.AudioLatency.Count != 0 {
		t.Fatalf("report %+v", rep)
	}
	// A wrong token is refused and reported.
	cfg.WHEPToken = "wrong"
	cfg.Hold = 300 * time.Millisecond
	rep, err = Run(context.Background(), cfg, testLogger(t), nil)
	if err != nil || rep.ReadersFailed != 2 {
		t.Fatalf("err %v, failed %d, errors %v", err, rep.ReadersFailed, rep.Errors)
	}
}

// TestH264Assembler feeds packetized synthetic frames with losses and
// reordering: damaged frames are discarded and show up as drops.
func TestH264Assembler(t *testing.T) {
	v, err := synth.NewVideo(synth.VideoConfig{Width: 64, Height: 64, FPS: 10, GOP: 20, Bitrate: 300_000})
	if err != nil {
		t.Fatal(err)
	}
	type pkt struct {
		frame int
		p     *rtp.Packet
	}
	var pkts []pkt
	seq := uint16(65530) // wraps during the stream
	for i := range 10 {
		f := v.Next(time.Now())
		payloads := (&codecs.H264Payloader{}).Payload(100, f.AppendAnnexB(nil))
		for j, pl := range payloads {
			pkts = append(pkts, pkt{i, &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: uint32(i) * 9000,
				Marker: j == len(payloads)-1}, Payload: pl}})
			seq++
		}
	}
	middle := func(frame int) int { // index of a non-first, non-last packet of frame
		var idx []int
		for i, p := range pkts {
			if p.frame == frame {
				idx = append(idx, i)
			}
		}
		if len(idx) < 3 {
			t.Fatalf("frame %d has %d packets", frame, len(idx))
		}
		return idx[1]
	}
	marker := func(frame int) int {
		for i, p := range pkts {
			if p.frame == frame && p.p.Marker {
				return i
			}
		}
		return -1
	}
	cases := []struct {
		name      string
		order     func() []int
		frames    int64
		drops     int64
		unstamped int64
	}{
		{"clean", func() []int { return seqIdx(len(pkts), nil) }, 10, 0, 0},
		{"lost middle packet", func() []int { return seqIdx(len(pkts), map[int]bool{middle(4): true}) }, 9, 1, 0},
		{"lost marker", func() []int { return seqIdx(len(pkts), map[int]bool{marker(3): true}) }, 8, 2, 0},
		{"swapped packets", func() []int {
			o := seqIdx(len(pkts), nil)
			m := middle(6)
			o[m], o[m+1] = o[m+1], o[m]
			return o
		}, 9, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(time.Time{})
			a := &h264Assembler{s: s}
			for _, i := range tc.order() {
				a.push(pkts[i].p, time.Now())
			}
			if s.videoFrames.Load() != tc.frames || s.drops.Load() != tc.drops || s.unstamped != tc.unstamped || s.reordered != 0 {
				t.Fatalf("frames %d drops %d unstamped %d reordered %d", s.videoFrames.Load(), s.drops.Load(), s.unstamped, s.reordered)
			}
		})
	}
}

// seqIdx is 0..n-1 without the skipped indexes.
func seqIdx(n int, skip map[int]bool) []int {
	var o []int
	for i := range n {
		if !skip[i] {
			o = append(o, i)
		}
	}
	return o
}

// TestWHEPAnswerWithoutCandidates: a WHEP answer with no ICE candidate
// (what a server bound to an address it cannot announce used to send)
// fails the reader at once with a reason, instead of counting it neither
// playing nor failed.
func TestWHEPAnswerWithoutCandidates(t *testing.T) {
	r := newRelay(t)
	wr := newWHEPRelay(t, r)
	mux := http.NewServeMux()
	mux.Handle("POST /whep", stripCandidates(wr))
	mux.HandleFunc("DELETE /whep/session/1", func(http.ResponseWriter, *http.Request) {})
	hs := startHTTP(t, &http.Server{Handler: mux})
	cfg := smallRun(Config{RTMPURL: r.rtmpURL("/live/cam1"), WHEPURL: hs + "/whep", WHEPToken: "secret"})
	cfg.Readers = 2
	// Long enough for both readers to get their answer on a loaded machine
	// (a reader still waiting when the bench stops fails for another reason).
	cfg.Hold = 2 * time.Second
	rep, err := Run(context.Background(), cfg, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ReadersPlaying != 0 || rep.ReadersFailed != 2 || rep.Failure() == nil {
		t.Fatalf("playing %d failed %d errors %v", rep.ReadersPlaying, rep.ReadersFailed, rep.Errors)
	}
	for k := range rep.Errors {
		if !strings.Contains(k, "no ICE candidate") {
			t.Fatalf("error %q", k)
		}
	}
}

// stripCandidates removes the a=candidate lines from h's answers.
func stripCandidates(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		for l := range strings.Lines(rec.Body.String()) {
			if !strings.HasPrefix(l, "a=candidate:") {
				io.WriteString(w, l)
			}
		}
	})
}
