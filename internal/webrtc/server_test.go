package webrtc

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/codec/aac"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
	"github.com/thesyncim/gopus"
)

func TestOfferRules(t *testing.T) {
	e := newEnv(t)
	pub := e.token("room", "7", token.RolePublisher)
	sub := e.token("room", "7", token.RoleSubscriber)

	vp8, err := clientAPI(t, true).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer vp8.Close()
	if _, err := vp8.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	vp8Offer := offer(t, vp8)

	h264 := mediaPC(t, pion.RTPTransceiverDirectionSendonly)
	defer h264.Close()
	goodOffer := offer(t, h264)

	cases := []struct {
		name, kind, uid, tok, offer string
		status                      int
		reason                      string
	}{
		{"VP8 only", "whip", "7", pub, vp8Offer, http.StatusNotAcceptable, "only decode H.264"},
		{"VP8 only WHEP", "whep", "7", sub, vp8Offer, http.StatusNotAcceptable, "offer H.264"},
		{"no token", "whip", "7", "", goodOffer, http.StatusUnauthorized, "invalid key"},
		{"garbage token", "whip", "7", "007garbage", goodOffer, http.StatusUnauthorized, "malformed token"},
		{"token for another uid", "whip", "8", pub, goodOffer, http.StatusUnauthorized, "another uid"},
		{"token for another channel", "whip", "7", e.token("hall", "7", token.RolePublisher), goodOffer, http.StatusUnauthorized, "another channel"},
		{"audience token cannot publish", "whip", "7", sub, goodOffer, http.StatusForbidden, "no authorized"},
		{"not an SDP", "whip", "7", pub, "hello", http.StatusBadRequest, "not a valid SDP"},
		{"play a stream that is not live", "whep", "9", sub, goodOffer, http.StatusNotFound, "not publishing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body, _ := e.post(c.kind, "room", c.uid, c.tok, c.offer)
			if status != c.status || !strings.Contains(body, c.reason) {
				t.Fatalf("got %d %s; want %d with %q", status, body, c.status, c.reason)
			}
		})
	}
	if n := e.chans.members("7"); n != 0 {
		t.Fatalf("refused publishers joined the channel (%d)", n)
	}
}

// tone helpers

func sineAt(n, rate int, freq float64, start int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(0.4 * math.Sin(2*math.Pi*freq*float64(start+i)/float64(rate)))
	}
	return out
}

func zeroCrossFreq(pcm []float32, rate, ch int) (freq, rms float64) {
	n := len(pcm) / ch
	first, last, count := -1, -1, 0
	var sum float64
	for i := 1; i < n; i++ {
		v := float64(pcm[i*ch])
		sum += v * v
		if pcm[(i-1)*ch] < 0 && pcm[i*ch] >= 0 {
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
	return float64(count) * float64(rate) / float64(last-first), math.Sqrt(sum / float64(n))
}

// testAU is a synthetic access unit: IDR every 10th frame.
func testAU(i int) []byte {
	if i%10 == 0 {
		return avcc(nalu(naluIDR, 3000+i, byte(i)))
	}
	return avcc(nalu(naluNonIDR, 500+i, byte(i)))
}

// publishTestStream writes ~25 fps video and 44.1 kHz AAC tone into the hub
// in real time until stop is closed; it returns the publisher.
// liveTestStream publishes the test stream as uid 42 in "room" with the
// given rotation and waits until the hub has it live; the publisher stops
// with the test.
func liveTestStream(t *testing.T, e *env, rotation int) media.Key {
	t.Helper()
	key := media.Key{AppID: e.app.ID, Channel: "room", UID: "42"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(stop); wg.Wait() })
	publishTestStream(t, e.hub, key, stop, &wg).SetRotation(rotation)
	for deadline := time.Now().Add(5 * time.Second); !e.hub.Live(key); {
		if time.Now().After(deadline) {
			t.Fatal("stream never went live")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return key
}

func publishTestStream(t *testing.T, hub *media.Hub, key media.Key, stop chan struct{}, wg *sync.WaitGroup) *media.Publisher {
	pub, err := hub.Publish(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := aac.NewEncoder(aac.EncoderConfig{SampleRate: 44100, Channels: 1, Bitrate: 64000})
	if err != nil {
		t.Fatal(err)
	}
	vt := &media.Track{Codec: media.CodecH264, SPS: [][]byte{testSPS}, PPS: [][]byte{testPPS}}
	at := &media.Track{Codec: media.CodecAAC, Config: enc.AudioSpecificConfig(), SampleRate: 44100, Channels: 1}
	pub.SetTracks(vt, at)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer pub.Close(nil)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		samples := 0
		for i := 0; ; i++ {
			pts := time.Duration(i) * 40 * time.Millisecond
			if err := pub.Write(&media.Packet{Track: vt, DTS: pts, PTS: pts, Keyframe: i%10 == 0, Payload: testAU(i)}); err != nil {
				return
			}
			// Audio up to this video time.
			for time.Duration(samples)*time.Second/44100 < pts+40*time.Millisecond {
				aus, err := enc.Encode(sineAt(1024, 44100, 1000, samples))
				if err != nil {
					t.Error(err)
					return
				}
				for _, au := range aus {
					apts := time.Duration(samples) * time.Second / 44100
					if err := pub.Write(&media.Packet{Track: at, DTS: apts, PTS: apts, Keyframe: true, Payload: append([]byte(nil), au...)}); err != nil {
						return
					}
				}
				samples += 1024
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return pub
}

func TestWHEPPlaysHubStream(t *testing.T) {
	e := newEnv(t)
	liveTestStream(t, e, 90)

	pc := mediaPC(t, pion.RTPTransceiverDirectionRecvonly)
	defer pc.Close()
	type result struct {
		aus      [][]byte
		firstIDR bool
		rotation int
		pcm      []float32
	}
	var mu sync.Mutex
	res := result{rotation: -1}
	videoDone, audioDone := make(chan struct{}), make(chan struct{})
	var readers sync.WaitGroup
	srs := map[pion.RTPCodecType]*rtcp.SenderReport{}
	pc.OnTrack(func(tr *pion.TrackRemote, rcv *pion.RTPReceiver) {
		readers.Add(2)
		defer readers.Done()
		go func() {
			defer readers.Done()
			for {
				pkts, _, err := rcv.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok {
						mu.Lock()
						srs[tr.Kind()] = sr
						mu.Unlock()
					}
				}
			}
		}()
		cvo := uint8(0)
		for _, x := range rcv.GetParameters().HeaderExtensions {
			if x.URI == cvoURI {
				cvo = uint8(x.ID)
			}
		}
		if tr.Kind() == pion.RTPCodecTypeVideo {
			var d h264Depacketizer
			var ro reorder
			ro.maxWait = 100 * time.Millisecond
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				ro.push(p, time.Now(), func(p *rtp.Packet, lost bool) {
					au := d.push(p.Payload, p.Timestamp, p.Marker, lost)
					mu.Lock()
					defer mu.Unlock()
					if p.Marker && cvo != 0 {
						if x := p.GetExtension(cvo); len(x) == 1 {
							res.rotation = cvoDegrees(x[0])
						}
					}
					if au == nil || len(res.aus) >= 30 {
						return
					}
					if len(res.aus) == 0 {
						res.firstIDR = au.idr && bytes.Equal(au.sps, testSPS) && bytes.Equal(au.pps, testPPS)
					}
					res.aus = append(res.aus, au.avcc)
					if len(res.aus) == 30 {
						close(videoDone)
					}
				})
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
				t.Error(err)
				return
			}
			mu.Lock()
			if len(res.pcm) < 48000 {
				res.pcm = append(res.pcm, buf[:n]...)
				if len(res.pcm) >= 48000 {
					close(audioDone)
				}
			}
			mu.Unlock()
		}
	})
	status, body, loc := e.post("whep", "room", "42", e.token("room", "1001", token.RoleSubscriber), offer(t, pc))
	if status != http.StatusCreated || loc == "" {
		t.Fatalf("WHEP: %d %s", status, body)
	}
	setAnswer(t, pc, body)
	for _, c := range []chan struct{}{videoDone, audioDone} {
		select {
		case <-c:
		case <-time.After(20 * time.Second):
			t.Fatal("timed out waiting for media")
		}
	}
	mu.Lock()
	if !res.firstIDR {
		t.Error("the first access unit is not the cached IDR with the track's SPS/PPS")
	}
	// The units must be consecutive frames of the test stream.
	idx := -1
	for i := 0; i < 100000 && idx < 0; i += 10 {
		if bytes.Equal(res.aus[0], testAU(i)) {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatal("the first unit is not a test IDR")
	}
	for j, au := range res.aus {
		if !bytes.Equal(au, testAU(idx+j)) {
			t.Fatalf("unit %d differs from frame %d", j, idx+j)
		}
	}
	if res.rotation != 90 {
		t.Errorf("CVO rotation %d, want 90", res.rotation)
	}
	f, rms := zeroCrossFreq(res.pcm[9600:], 48000, 1)
	if math.Abs(f-1000) > 10 || rms < 0.1 {
		t.Errorf("Opus tone %.1f Hz rms %.3f, want 1000 Hz", f, rms)
	}
	mu.Unlock()
	if st := e.srv.Stats(); st.Feeds != 1 || st.Sessions != 1 {
		t.Errorf("stats %+v", st)
	}
	// Sender reports map the same hub instant to the same NTP time on both
	// tracks (lip sync), whatever the send times.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(srs)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no sender reports for both tracks")
		}
	}
	var sess *whepSession
	e.srv.mu.Lock()
	for _, x := range e.srv.sessions {
		sess = x.(*whepSession)
	}
	e.srv.mu.Unlock()
	mu.Lock()
	at := func(sr *rtcp.SenderReport, base uint32, rate int64) float64 {
		ntp := float64(sr.NTPTime>>32) + float64(sr.NTPTime&0xffffffff)/(1<<32)
		return ntp + float64(int32(base+uint32(rate)-sr.RTPTime))/float64(rate) // the instant of pts = 1 s
	}
	v, a := at(srs[pion.RTPCodecTypeVideo], sess.vBase, 90000), at(srs[pion.RTPCodecTypeAudio], sess.aBase, 48000)
	mu.Unlock()
	if math.Abs(v-a) > 0.001 {
		t.Errorf("sender reports put pts 1s at %.4f (video) and %.4f (audio)", v, a)
	}
	if c := e.delete(loc); c != http.StatusOK {
		t.Fatalf("DELETE: %d", c)
	}
	for deadline := time.Now().Add(5 * time.Second); e.srv.Stats().Feeds != 0; {
		if time.Now().After(deadline) {
			t.Fatal("feed not stopped after the last session left")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// DELETE is idempotent for a session that just ended; an id that never
	// was a session is 404.
	if c := e.delete(loc); c != http.StatusOK {
		t.Fatalf("second DELETE: %d, want 200", c)
	}
	if c := e.delete("/webrtc/session/0123456789abcdef01234567"); c != http.StatusNotFound {
		t.Fatalf("DELETE of an unknown session: %d, want 404", c)
	}
	_ = pc.Close()
	readers.Wait()
}

// TestRecentIDs: the ring forgets the oldest id once it is full.
func TestRecentIDs(t *testing.T) {
	var r recentIDs
	for i := 0; i <= recentIDsCap; i++ {
		r.add(fmt.Sprint("id", i))
	}
	if r.has("id0") || !r.has("id1") || !r.has(fmt.Sprint("id", recentIDsCap)) || len(r.set) != recentIDsCap {
		t.Fatalf("has id0 %v, id1 %v, newest %v, %d kept", r.has("id0"), r.has("id1"), r.has(fmt.Sprint("id", recentIDsCap)), len(r.set))
	}
}
