package bench

import (
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
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
		rep.Latency.Count == 0 || rep.PlayConnect.Count != 2 || rep.Drops.FramesExpected == 0 {
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
