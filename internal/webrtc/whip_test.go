package webrtc

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minirtc/minirtc/codec/aac"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"
	"github.com/thesyncim/gopus"
)

// whipClient publishes the synthetic video and an Opus tone with pion.
type whipClient struct {
	pc           *pion.PeerConnection
	video, audio *localTrack

	// onPLI makes the video encoder send an IDR only when asked by a PLI
	// (like a browser), instead of every 10th frame. Set before run.
	onPLI     bool
	plis      atomic.Uint64 // PLIs received
	keyWanted atomic.Bool
	idrs      atomic.Uint64 // IDRs sent
	frames    atomic.Int64  // video frames sent: the next one is testAU(frames)

	mu   sync.Mutex
	sent [][]byte // Opus payloads, in order
}

// sentOpus returns a copy of the Opus payloads sent so far.
func (c *whipClient) sentOpus() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.sent...)
}

func newWHIPClient(t *testing.T) *whipClient {
	pc, err := clientAPI(t, false).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &whipClient{pc: pc}
	c.video = newLocalTrack(pion.RTPCodecTypeVideo, pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000}, "v", "s", 65000)
	c.audio = newLocalTrack(pion.RTPCodecTypeAudio, pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", "s", 1)
	for _, tr := range []*localTrack{c.video, c.audio} {
		snd, err := pc.AddTransceiverFromTrack(tr, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				pkts, _, err := snd.Sender().ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						c.plis.Add(1)
						c.keyWanted.Store(true)
					}
				}
			}
		}()
	}
	return c
}

// run sends ~25 fps video with rotation and 20 ms Opus frames until ctx ends.
func (c *whipClient) run(ctx context.Context, t *testing.T, rotation int) {
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: 48000, Channels: 1, Application: gopus.ApplicationAudio})
	if err != nil {
		t.Error(err)
		return
	}
	buf := make([]byte, 1500)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		vb, ab := c.video.binding(), c.audio.binding()
		if vb != nil && ab != nil {
			if i%2 == 0 {
				au := testAU(i / 2)
				if c.onPLI {
					au = avcc(nalu(naluNonIDR, 500+i/2, byte(i/2)))
					if c.keyWanted.Swap(false) {
						au = avcc(nalu(naluIDR, 3000+i/2, byte(i/2)))
					}
				}
				pl, key, err := h264Payloads(au, [][]byte{testSPS}, [][]byte{testPPS}, 1000)
				if err != nil {
					t.Error(err)
					return
				}
				if key {
					c.idrs.Add(1)
				}
				_ = c.video.writeFrame(vb, pl, uint32(i/2*3600), rotation)
				c.frames.Store(int64(i/2 + 1))
			}
			n, err := enc.Encode(sineAt(960, 48000, 440, i*960), buf)
			if err != nil {
				t.Error(err)
				return
			}
			c.mu.Lock()
			c.sent = append(c.sent, bytes.Clone(buf[:n]))
			c.mu.Unlock()
			_ = c.audio.writeFrame(ab, [][]byte{buf[:n]}, uint32(i*960), -1)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// whipPublisher is a WHIP test client that startWHIPPublisher connected; it
// sends until the test ends.
type whipPublisher struct {
	*whipClient
	loc, etag string     // its session's Location and ETag
	states    *iceStates // its ICE connection states
}

// startWHIPPublisher publishes uid's stream in channel ch with a WHIP test
// client: setup (if any) changes the client before its offer, the offer is
// posted (201 or the test fails), the answer set, the client's run started
// with rotation (-1: no CVO), and its ICE connection awaited. When the test
// ends the run is stopped and waited for, then the client closed.
func (e *env) startWHIPPublisher(ch, uid string, rotation int, setup ...func(*whipClient)) *whipPublisher {
	t := e.t
	t.Helper()
	c := newWHIPClient(t)
	t.Cleanup(func() { _ = c.pc.Close() })
	for _, f := range setup {
		f(c)
	}
	p := &whipPublisher{whipClient: c, states: watchICE(c.pc)}
	status, body, loc, etag := e.open("whip", ch, uid, e.token(ch, uid, token.RolePublisher), offer(t, c.pc))
	if status != http.StatusCreated {
		t.Fatalf("WHIP: %d %s (ETag %q)", status, body, etag)
	}
	p.loc, p.etag = loc, etag
	setAnswer(t, c.pc, body)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.run(ctx, t, rotation)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	p.states.waitConnected(t)
	return p
}

func TestWHIPPublishesIntoHub(t *testing.T) {
	e := newEnv(t)
	key := media.Key{AppID: e.app.ID, Channel: "room", UID: "77"}
	// An RTMP/FLV reader: it asks for AAC (the hub derives it from Opus).
	rd, err := e.hub.Subscribe(key, media.SubscribeOptions{Audio: media.CodecAAC})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	c := e.startWHIPPublisher("room", "77", 270)
	loc := c.loc
	if n := e.chans.members("77"); n != 1 {
		t.Fatalf("publisher is %d members", n)
	}

	var video [][]byte
	var firstKey bool
	var pcm []float32
	var dec *aac.Decoder
	var vTrack *media.Track
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	var pkts []*media.Packet
	for len(video) < 30 || len(pcm) < 48000 {
		pkts, err = rd.Next(rctx, pkts[:0])
		if err != nil {
			t.Fatalf("reading the hub: %v (video %d, audio %d)", err, len(video), len(pcm))
		}
		for _, p := range pkts {
			switch p.Track.Codec {
			case media.CodecH264:
				if len(video) == 0 {
					firstKey = p.Keyframe
					vTrack = p.Track
				}
				video = append(video, p.Payload)
			case media.CodecAAC:
				if dec == nil {
					if dec, err = aac.NewDecoder(p.Track.Config); err != nil {
						t.Fatal(err)
					}
				}
				out, err := dec.Decode(p.Payload)
				if err != nil {
					t.Fatal(err)
				}
				pcm = append(pcm, out...)
			}
		}
	}
	if !firstKey || !bytes.Equal(vTrack.SPS[0], testSPS) || !bytes.Equal(vTrack.PPS[0], testPPS) {
		t.Fatalf("first video packet keyframe=%v track %+v", firstKey, vTrack)
	}
	idx := -1
	for i := 0; i < 10000 && idx < 0; i += 10 {
		if bytes.Equal(video[0], testAU(i)) {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatal("first unit is not a test IDR")
	}
	for j, au := range video {
		if !bytes.Equal(au, testAU(idx+j)) {
			t.Fatalf("unit %d differs from frame %d", j, idx+j)
		}
	}
	f, rms := zeroCrossFreq(pcm[len(pcm)/2:], 48000, 1)
	if math.Abs(f-440) > 5 || rms < 0.1 {
		t.Errorf("AAC tone %.1f Hz rms %.3f, want 440 Hz", f, rms)
	}
	if r := e.chans.Rotation(key.AppID, key.Channel, key.UID); r != 270 {
		t.Errorf("rotation reported %d, want 270", r)
	}
	if c := e.delete(loc); c != http.StatusOK {
		t.Fatalf("DELETE: %d", c)
	}
	if n := e.chans.members("77"); n != 0 {
		t.Fatalf("publisher still a member after DELETE")
	}
	if c := e.delete(loc); c != http.StatusOK { // ended recently: still 200
		t.Fatalf("second DELETE: %d", c)
	}
}

func (e *env) patch(loc, ctype, body string) int {
	e.t.Helper()
	req, _ := http.NewRequest("PATCH", e.http.URL+loc, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("If-Match", "*")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestWHIPTrickleAndKick(t *testing.T) {
	e := newEnv(t)
	c := newWHIPClient(t)
	defer c.pc.Close()
	status, body, loc := e.post("whip", "room", "78", e.token("room", "78", token.RolePublisher), offer(t, c.pc))
	if status != http.StatusCreated {
		t.Fatalf("WHIP: %d %s", status, body)
	}
	cases := []struct {
		name, ctype, body string
		want              int
	}{
		{"wrong content type", "application/sdp", "", http.StatusUnsupportedMediaType},
		{"candidate", "application/trickle-ice-sdpfrag",
			"a=ice-ufrag:" + ufrag(c.pc.LocalDescription().SDP) + "\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n", http.StatusNoContent},
		{"ICE restart", "application/trickle-ice-sdpfrag", "a=ice-ufrag:zzzz\r\na=ice-pwd:yyyyyyyyyyyyyyyyyyyyyy\r\n", http.StatusOK},
		{"candidate of the ICE session before the restart", "application/trickle-ice-sdpfrag",
			"a=ice-ufrag:" + ufrag(c.pc.LocalDescription().SDP) + "\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n", http.StatusPreconditionFailed},
		{"bad candidate", "application/trickle-ice-sdpfrag", "a=candidate:nonsense\r\n", http.StatusBadRequest},
	}
	for _, tc := range cases {
		if got := e.patch(loc, tc.ctype, tc.body); got != tc.want {
			t.Errorf("%s: PATCH %d, want %d", tc.name, got, tc.want)
		}
	}
	if e.patch("/webrtc/session/nope", "application/trickle-ice-sdpfrag", "") != http.StatusNotFound {
		t.Error("PATCH of an unknown session")
	}
	// The channel kicks the member: the session ends and the member leaves.
	e.chans.mu.Lock()
	kick := e.chans.kicks["78"]
	e.chans.mu.Unlock()
	kick(errcode.Banned("test"))
	for deadline := time.Now().Add(5 * time.Second); e.srv.Stats().Sessions != 0 || e.chans.members("78") != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("kicked session still open: %+v, members %d", e.srv.Stats(), e.chans.members("78"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if e.hub.Live(media.Key{AppID: e.app.ID, Channel: "room", UID: "78"}) {
		t.Error("kicked publisher still live in the hub")
	}
}

func ufrag(sdp string) string {
	for _, l := range strings.Split(sdp, "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(l), "a=ice-ufrag:"); ok {
			return u
		}
	}
	return ""
}

// A reader that arrives when the hub holds no keyframe makes the WHIP
// publisher send a PLI at once, so an RTMP/FLV player starts without waiting
// for the periodic PLI: the publisher's encoder (like a browser's) sends an
// IDR only when asked, and the periodic PLI is off.
func TestWHIPKeyframeOnReaderDemand(t *testing.T) {
	const gopMax = 8
	cfg := testConfig()
	cfg.PLIInterval = time.Hour
	e := newEnvWith(t, nil, cfg, media.Config{Grace: -1, GOPMaxPackets: gopMax})
	key := media.Key{AppID: e.app.ID, Channel: "room", UID: "79"}
	// The probe reader tells when the GOP cache has overflowed (it holds no
	// keyframe any more): it sees what the cache saw, in order.
	probe, err := e.hub.Subscribe(key, media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()

	c := e.startWHIPPublisher("room", "79", -1, func(c *whipClient) { c.onPLI = true })

	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	var pkts []*media.Packet
	keys, sinceKey := 0, 0
	for keys == 0 || sinceKey <= gopMax {
		if pkts, err = probe.Next(rctx, pkts[:0]); err != nil {
			t.Fatalf("probe: %v (keyframes %d, since %d)", err, keys, sinceKey)
		}
		for _, p := range pkts {
			if p.Kind() == media.KindVideo && p.Keyframe {
				keys, sinceKey = keys+1, 0
			} else {
				sinceKey++
			}
		}
	}
	plis := c.plis.Load()

	// The late reader (what an RTMP/FLV player does) starts with a keyframe
	// that only a PLI sent after it attached can have produced.
	rd, err := e.hub.Subscribe(key, media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for first := true; first; {
		if pkts, err = rd.Next(rctx, pkts[:0]); err != nil {
			t.Fatalf("late reader: %v (PLIs %d -> %d)", err, plis, c.plis.Load())
		}
		for _, p := range pkts {
			if p.Kind() == media.KindVideo && first {
				first = false
				if !p.Keyframe {
					t.Fatal("the late reader's first video packet is not a keyframe")
				}
			}
		}
	}
	if c.plis.Load() <= plis {
		t.Fatalf("no PLI after the late reader attached (%d before, %d after)", plis, c.plis.Load())
	}
}

// A WHEP reader of a WHIP publisher gets the publisher's own Opus packets
// (no Opus -> AAC -> Opus), while the hub derives AAC for RTMP/FLV readers.
func TestWHEPPassesWHIPOpusThrough(t *testing.T) {
	e := newEnv(t)
	key := media.Key{AppID: e.app.ID, Channel: "room", UID: "80"}
	c := e.startWHIPPublisher("room", "80", -1)
	// RTMP/FLV readers (they ask for AAC) still get AAC.
	rd, err := e.hub.Subscribe(key, media.SubscribeOptions{Audio: media.CodecAAC})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	for aac := false; !aac; {
		pkts, err := rd.Next(rctx, nil)
		if err != nil {
			t.Fatalf("hub reader: %v", err)
		}
		for _, p := range pkts {
			aac = aac || p.Track.Codec == media.CodecAAC
		}
	}

	pc := mediaPC(t, pion.RTPTransceiverDirectionRecvonly)
	const want = 50
	got := make(chan []byte, want)
	readTracks(t, pc, func(tr *pion.TrackRemote) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() != pion.RTPCodecTypeAudio {
				continue
			}
			select {
			case got <- p.Payload:
			default:
			}
		}
	})
	status, body, _ := e.post("whep", "room", "80", e.token("room", "1002", token.RoleSubscriber), offer(t, pc))
	if status != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", status, body)
	}
	setAnswer(t, pc, body)
	var recv [][]byte
	for len(recv) < want {
		select {
		case p := <-got:
			recv = append(recv, p)
		case <-rctx.Done():
			t.Fatalf("WHEP reader got %d Opus packets", len(recv))
		}
	}
	// The received packets must be a run of the sent ones. The steady tone
	// makes the encoder repeat packets (every 5th is the same), so the run
	// may start at any sent packet equal to the first received one.
	sent := c.sentOpus()
	starts, bestStart, best := 0, -1, -1
	for i, p := range sent {
		if !bytes.Equal(p, recv[0]) {
			continue
		}
		starts++
		n := 0
		for n < len(recv) && i+n < len(sent) && bytes.Equal(recv[n], sent[i+n]) {
			n++
		}
		if n > best {
			bestStart, best = i, n
		}
	}
	if starts == 0 {
		t.Fatalf("the first Opus packet the reader got (%d bytes) is not one the publisher sent", len(recv[0]))
	}
	if best < len(recv) {
		t.Fatalf("Opus packet %d differs from the publisher's packet %d (%d sent packets equal the first received one)", best, bestStart+best, starts)
	}
}

// audioTrack is the session's hub audio track (nil before its audio began).
func (w *whipSession) audioTrack() *media.Track {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.aTrack
}
