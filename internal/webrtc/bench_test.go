package webrtc

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minirtc/minirtc/codec/aac"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/transcode"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
)

// fakeWriter stands in for pion's SRTP write stream: it marshals the RTP
// packet (as pion does before encrypting) and reports each frame's end.
type fakeWriter struct {
	buf    [1500]byte
	marked chan time.Time // receives the time of every marker packet, if set
	pkts   atomic.Uint64

	mu   sync.Mutex
	logs []mark // marker packets, when logging
	log  bool
}

type mark struct {
	at time.Time
	ts uint32
}

func (w *fakeWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	p := rtp.Packet{Header: *h, Payload: payload}
	n, err := p.MarshalTo(w.buf[:])
	w.pkts.Add(1)
	if h.Marker && w.marked != nil {
		w.marked <- time.Now()
	}
	if h.Marker && w.log {
		w.mu.Lock()
		w.logs = append(w.logs, mark{time.Now(), h.Timestamp})
		w.mu.Unlock()
	}
	return n, err
}

func (w *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

// benchSession is a WHEP session bound to fake writers, attached to its
// stream (a hub reader).
func benchSession(b testing.TB, srv *Server, key media.Key, vw, aw pion.TrackLocalWriter) *whepSession {
	sess := &whepSession{s: srv, id: newID(), key: key, done: make(chan struct{})}
	sess.video = newLocalTrack(pion.RTPCodecTypeVideo, pion.RTPCodecCapability{MimeType: pion.MimeTypeH264}, "v", "s", 0)
	sess.video.bound = &binding{ssrc: 1, pt: 102, cvoID: 3, writer: vw}
	sess.audio = newLocalTrack(pion.RTPCodecTypeAudio, pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus}, "a", "s", 0)
	sess.audio.bound = &binding{ssrc: 2, pt: 111, writer: aw}
	sess.attached.Store(true)
	if err := srv.attach(sess); err != nil {
		b.Fatal(err)
	}
	return sess
}

// h264Publisher publishes key on hub with the test H.264 track (testSPS,
// testPPS) and, when withOpus, a 48 kHz stereo Opus track; the caller
// closes pub.
func h264Publisher(tb testing.TB, hub *media.Hub, key media.Key, withOpus bool) (pub *media.Publisher, vt, ot *media.Track) {
	tb.Helper()
	pub, err := hub.Publish(key, nil)
	if err != nil {
		tb.Fatal(err)
	}
	vt = &media.Track{Codec: media.CodecH264, SPS: [][]byte{testSPS}, PPS: [][]byte{testPPS}}
	if withOpus {
		ot = &media.Track{Codec: media.CodecOpus, SampleRate: 48000, Channels: 2}
	}
	pub.SetTracks(vt, ot)
	return pub, vt, ot
}

func benchServer(b testing.TB) (*Server, *media.Hub, func()) { return benchServerQueue(b, 4096) }

// benchServerQueue is benchServer with a hub reader queue of queueSize
// packets.
func benchServerQueue(b testing.TB, queueSize int) (*Server, *media.Hub, func()) {
	log := testLogger(b)
	hub, err := media.NewHub(media.Config{Grace: -1, QueueSize: queueSize, Derive: transcode.NewDeriveFunc(transcode.DeriveConfig{})}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{LoopbackOnly: true}, hub, nopAuth{}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Run(ctx)
	}()
	return srv, hub, func() {
		cancel()
		<-done
		hub.Close()
	}
}

type nopAuth struct{ Authorizer }

// BenchmarkRTMPToWHEPLatency measures what the bridge adds between a
// publisher's Publisher.Write and the RTP write of a WHEP session: hub
// fan-out (with the derived AAC -> Opus track), packetization, the writer and RTP
// marshalling. Network and SRTP are not included. Reported per frame:
// video-ms (write of an access unit to its last RTP packet) and audio-ms
// (write of the AAC access unit that completes an Opus frame to that frame's
// RTP packet; the 20 ms framing itself adds no wait beyond that, since a
// frame goes out as soon as its last sample has arrived).
func BenchmarkRTMPToWHEPLatency(b *testing.B) {
	srv, hub, stop := benchServer(b)
	defer stop()
	key := media.Key{AppID: "a", Channel: "c", UID: "1"}
	pub, err := hub.Publish(key, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close(nil)
	enc, err := aac.NewEncoder(aac.EncoderConfig{SampleRate: 44100, Channels: 1, Bitrate: 64000})
	if err != nil {
		b.Fatal(err)
	}
	vt := &media.Track{Codec: media.CodecH264, SPS: [][]byte{testSPS}, PPS: [][]byte{testPPS}}
	at := &media.Track{Codec: media.CodecAAC, Config: enc.AudioSpecificConfig(), SampleRate: 44100, Channels: 1}
	pub.SetTracks(vt, at)
	var aus [][]byte
	for i := 0; len(aus) < 200; i++ {
		got, err := enc.Encode(sineAt(1024, 44100, 440, i*1024))
		if err != nil {
			b.Fatal(err)
		}
		for _, au := range got {
			aus = append(aus, append([]byte(nil), au...))
		}
	}
	if err := pub.Write(&media.Packet{Track: vt, Keyframe: true, Payload: testAU(0)}); err != nil {
		b.Fatal(err)
	}
	vw := &fakeWriter{marked: make(chan time.Time, 16)}
	aw := &fakeWriter{log: true}
	sess := benchSession(b, srv, key, vw, aw)
	defer sess.close(nil)
	<-vw.marked // the cached keyframe

	type write struct {
		at       time.Time
		from, to time.Duration // PTS range of the access unit
	}
	var vSum time.Duration
	var writes []write
	audioSamples := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pts := time.Duration(i+1) * 40 * time.Millisecond
		t0 := time.Now()
		if err := pub.Write(&media.Packet{Track: vt, DTS: pts, PTS: pts, Keyframe: (i+1)%50 == 0, Payload: testAU(i + 1)}); err != nil {
			b.Fatal(err)
		}
		vSum += (<-vw.marked).Sub(t0)
		// Audio up to the same time.
		for time.Duration(audioSamples)*time.Second/44100 < pts {
			from := time.Duration(audioSamples) * time.Second / 44100
			audioSamples += 1024
			to := time.Duration(audioSamples) * time.Second / 44100
			writes = append(writes, write{time.Now(), from, to})
			if err := pub.Write(&media.Packet{Track: at, DTS: from, PTS: from, Keyframe: true, Payload: aus[(audioSamples/1024)%len(aus)]}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	time.Sleep(20 * time.Millisecond)
	b.ReportMetric(float64(vSum.Microseconds())/float64(b.N)/1000, "video-ms")
	// Each Opus frame: from the write of the AU holding its last sample
	// (plus the resampler's lookahead) to its RTP write.
	aw.mu.Lock()
	logs := append([]mark(nil), aw.logs...)
	aw.mu.Unlock()
	if len(logs) < 2 {
		return
	}
	var aSum time.Duration
	aN := 0
	base := logs[0].ts
	for _, m := range logs[1:] {
		end := time.Duration(m.ts-base)*time.Second/48000 + 20*time.Millisecond + writes[0].from
		for _, w := range writes {
			if end+time.Second/44100*resampleLookahead > w.from && end <= w.to+time.Second/44100*resampleLookahead {
				aSum += m.at.Sub(w.at)
				aN++
				break
			}
		}
	}
	if aN > 0 {
		b.ReportMetric(float64(aSum.Microseconds())/float64(aN)/1000, "audio-ms")
	}
}

// resampleLookahead is the resampler's lookahead in input samples.
const resampleLookahead = 8

// BenchmarkWHEPFanout measures the per-reader cost of delivering one stream
// to many WHEP sessions (queueing, RTP header, marshalling), without SRTP
// and UDP (see BenchmarkSRTPWrite for those). One op is one second of a
// 25 fps, ~600 kbit/s stream with 20 ms audio delivered to every reader.
func BenchmarkWHEPFanout(b *testing.B) {
	for _, readers := range []int{1, 100, 1000} {
		b.Run(itoa(readers)+"readers", func(b *testing.B) {
			srv, hub, stop := benchServer(b)
			defer stop()
			key := media.Key{AppID: "a", Channel: "c", UID: "1"}
			pub, vt, ot := h264Publisher(b, hub, key, true)
			defer pub.Close(nil)
			if err := pub.Write(&media.Packet{Track: vt, Keyframe: true, Payload: testAU(0)}); err != nil {
				b.Fatal(err)
			}
			var writers []*fakeWriter
			var sessions []*whepSession
			for r := 0; r < readers; r++ {
				vw, aw := &fakeWriter{}, &fakeWriter{}
				writers = append(writers, vw, aw)
				s := benchSession(b, srv, key, vw, aw)
				sessions = append(sessions, s)
			}
			total := func() (n uint64) {
				for _, w := range writers {
					n += w.pkts.Load()
				}
				return n
			}
			frame := avcc(nalu(naluNonIDR, 3000, 1)) // ~3 KB: 3 RTP packets
			opus := make([]byte, 80)
			b.ResetTimer()
			want := total()
			for i := 0; i < b.N; i++ {
				for f := 0; f < 50; f++ {
					pts := time.Duration(i*50+f+1) * 20 * time.Millisecond
					if f%2 == 0 {
						if err := pub.Write(&media.Packet{Track: vt, DTS: pts, PTS: pts, Payload: frame}); err != nil {
							b.Fatal(err)
						}
						want += 3 * uint64(readers)
					}
					if err := pub.Write(&media.Packet{Track: ot, DTS: pts, PTS: pts, Keyframe: true, Payload: opus}); err != nil {
						b.Fatal(err)
					}
					want += uint64(readers)
					for total()+uint64(readers)*64 < want {
						time.Sleep(50 * time.Microsecond) // keep queues from overflowing
					}
				}
			}
			for total() < want {
				time.Sleep(50 * time.Microsecond)
			}
			b.StopTimer()
			for _, s := range sessions {
				s.close(nil)
			}
			perReaderSecond := b.Elapsed().Seconds() / float64(b.N) / float64(readers)
			b.ReportMetric(1/perReaderSecond, "readers/core")
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// BenchmarkSRTPWrite measures pion's per-packet send cost for one WHEP
// session on loopback (RTP header, interceptors, SRTP encryption, UDP
// send): one op is one 1000-byte RTP packet. The receiving client runs in
// the same process and is drained by a goroutine (run with -cpu 1 the
// figure includes the receiver's work, so it overstates the sender's cost).
func BenchmarkSRTPWrite(b *testing.B) {
	srv, _, stop := benchServer(b)
	defer stop()
	spc, err := srv.api.play.NewPeerConnection(pion.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	defer spc.Close()
	track := newLocalTrack(pion.RTPCodecTypeVideo, pion.RTPCodecCapability{MimeType: pion.MimeTypeH264}, "v", "s", 0)
	if _, err := spc.AddTransceiverFromTrack(track, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
		b.Fatal(err)
	}
	cpc, err := clientAPI(b, false).NewPeerConnection(pion.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	defer cpc.Close()
	if _, err := cpc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		b.Fatal(err)
	}
	var readers sync.WaitGroup
	defer readers.Wait()
	defer cpc.Close()
	cpc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		readers.Add(1)
		defer readers.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
		}
	})
	connected := make(chan struct{})
	var once sync.Once
	spc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		if s == pion.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	ans, err := answer(context.Background(), spc, offer(b, cpc))
	if err != nil {
		b.Fatal(err)
	}
	setAnswer(b, cpc, ans)
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		b.Fatal("not connected")
	}
	bd := track.binding()
	payload := [][]byte{make([]byte, 1000)}
	payload[0][0] = 0x41
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := track.writeFrame(bd, payload, uint32(i*3000), -1); err != nil {
			b.Fatal(err)
		}
	}
}
