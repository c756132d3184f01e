package webrtc

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/minirtc/minirtc/internal/transcode"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
)

// oneKeyAU is frame i of a stream with a single keyframe: frame 0 is an
// IDR, every later one is not (auIndex numbers them all).
func oneKeyAU(i int) []byte {
	if i == 0 {
		return testAU(0)
	}
	return avcc(nalu(naluNonIDR, 500+i, byte(i)))
}

// firstFrames is what a WHEP test client got: its first access unit's
// flags and the frame numbers of everything it got, in order.
type firstFrames struct {
	mu               sync.Mutex
	firstIDR, params bool // the first unit is an IDR; it carried testSPS/testPPS
	frames           []int
}

func (f *firstFrames) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.frames)
}

// playWHEP connects a WHEP client as viewer uid to uid 42's stream in
// "room" and records the video it gets.
func playWHEP(t *testing.T, e *env, viewer string) *firstFrames {
	t.Helper()
	pc := mediaPC(t, pion.RTPTransceiverDirectionRecvonly)
	got := &firstFrames{}
	readTracks(t, pc, func(tr *pion.TrackRemote) {
		var d h264Depacketizer
		ro := reorder{maxWait: 100 * time.Millisecond}
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() != pion.RTPCodecTypeVideo {
				continue
			}
			ro.push(p, time.Now(), func(p *rtp.Packet, lost bool) {
				au := d.push(p.Payload, p.Timestamp, p.Marker, lost)
				if au == nil {
					return
				}
				got.mu.Lock()
				defer got.mu.Unlock()
				if len(got.frames) == 0 {
					got.firstIDR = au.idr
					got.params = bytes.Equal(au.sps, testSPS) && bytes.Equal(au.pps, testPPS)
				}
				got.frames = append(got.frames, auIndex(au.avcc))
			})
		}
	})
	status, body, _ := e.post("whep", "room", "42", e.token("room", viewer, token.RoleSubscriber), offer(t, pc))
	if status != http.StatusCreated {
		t.Fatalf("WHEP as %s: %d %s", viewer, status, body)
	}
	setAnswer(t, pc, body)
	return got
}

// Every WHEP session is its own hub reader (listed with its viewer, under
// the hub's queue and drop rules), and one that joins late starts at the
// keyframe in the hub's GOP cache: the stream has a single keyframe, sent
// long before the reader joined, and the publisher cannot be asked for
// another (no keyframe requester), so only the hub's cache can provide it.
func TestWHEPLateReaderStartsAtHubCachedKeyframe(t *testing.T) {
	e := newEnv(t)
	key := media.Key{AppID: e.app.ID, Channel: "room", UID: "42"}
	pub, err := e.hub.Publish(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	vt := &media.Track{Codec: media.CodecH264, SPS: [][]byte{testSPS}, PPS: [][]byte{testPPS}}
	pub.SetTracks(vt, nil)
	var sent atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer pub.Close(nil)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			pts := time.Duration(i) * 40 * time.Millisecond
			if pub.Write(&media.Packet{Track: vt, DTS: pts, PTS: pts, Keyframe: i == 0, Payload: oneKeyAU(i)}) != nil {
				return
			}
			sent.Store(int64(i + 1))
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })

	eventually(t, "the publisher never sent 10 frames", func() bool { return sent.Load() >= 10 })
	first := playWHEP(t, e, "1001")
	eventually(t, "the first reader got no 30 frames", func() bool { return first.count() >= 30 })
	late := playWHEP(t, e, "1002")
	joinedAt := sent.Load()
	eventually(t, "the late reader got no 30 frames", func() bool { return late.count() >= 30 })

	for _, c := range []struct {
		name string
		got  *firstFrames
	}{{"first reader", first}, {"late reader", late}} {
		c.got.mu.Lock()
		if !c.got.firstIDR || !c.got.params || c.got.frames[0] != 0 {
			t.Errorf("%s: first access unit is frame %d (IDR %v, SPS/PPS %v), want the cached IDR, frame 0",
				c.name, c.got.frames[0], c.got.firstIDR, c.got.params)
		}
		for j, f := range c.got.frames {
			if f != j {
				t.Fatalf("%s: unit %d is frame %d (frames %v)", c.name, j, f, c.got.frames)
			}
		}
		c.got.mu.Unlock()
	}
	if joinedAt < 30 {
		t.Fatalf("the late reader joined after frame %d, not after the keyframe's GOP had grown", joinedAt)
	}

	// The hub lists one "webrtc" reader per session, with its viewer; none
	// of them dropped anything.
	var viewers []string
	for _, st := range e.hub.Streams() {
		for _, r := range st.Readers {
			if r.Protocol == "webrtc" {
				viewers = append(viewers, r.Viewer)
			}
			if r.Drops != 0 {
				t.Errorf("reader %s dropped %d packets", r.Viewer, r.Drops)
			}
		}
	}
	slices.Sort(viewers)
	if !slices.Equal(viewers, []string{"1001", "1002"}) {
		t.Errorf("hub readers of the WHEP sessions: viewers %q, want one per session (1001, 1002)", viewers)
	}
	if st := e.srv.Stats(); st.Sessions != 2 || st.Feeds != 1 {
		t.Errorf("stats %+v", st)
	}
}

// transcodeMeter counts the transcoders running, by direction, as the
// server's Meter (what webrtc itself runs) and the hub's derivations'
// meter (what the hub runs for its readers).
type transcodeMeter struct {
	noMeter
	mu      sync.Mutex
	running map[string]int
}

func (m *transcodeMeter) TranscodeStarted(dir string) {
	m.mu.Lock()
	m.running[dir]++
	m.mu.Unlock()
}

func (m *transcodeMeter) TranscodeEnded(dir string) {
	m.mu.Lock()
	m.running[dir]--
	m.mu.Unlock()
}

func (m *transcodeMeter) TranscodeTime(string, time.Duration) {}

// total is the number of transcoders running in any direction.
func (m *transcodeMeter) total() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, v := range m.running {
		n += v
	}
	return n
}

// A WHIP (Opus) publisher watched only over WHEP runs no transcoder: its
// Opus goes to the WHEP readers as it came. An RTMP/FLV reader (a hub reader
// that asks for AAC) starts one Opus -> AAC transcoder, and its leaving
// stops it; the WHEP reader plays on meanwhile.
func TestWHIPOpusTranscodesOnlyForAACReaders(t *testing.T) {
	tm := &transcodeMeter{running: map[string]int{}}
	fc := &fakeChannels{joined: map[string]int{}, rotations: map[string]int{}, kicks: map[string]func(error){}}
	e := newEnvWith(t, fc, testConfig(), media.Config{Grace: -1, Derive: transcode.NewDeriveFunc(transcode.DeriveConfig{Meter: tm})})
	e.chans = fc
	e.srv.SetMeter(tm)
	key := media.Key{AppID: e.app.ID, Channel: "room", UID: "81"}
	c := e.startWHIPPublisher("room", "81", -1)
	eventually(t, "the WHIP stream never went live", func() bool { return e.hub.Live(key) })

	viewer, frames := newWHEPClient(t)
	status, body, _, _ := e.open("whep", "room", "81", e.token("room", "1005", token.RoleSubscriber), offer(t, viewer))
	if status != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", status, body)
	}
	setAnswer(t, viewer, body)
	frames.waitAbove(t, -1, 10, "WHEP reader")
	if n, d := tm.total(), e.hub.Stats().Derivations; n != 0 || d != 0 {
		t.Fatalf("with only a WHEP reader: %d transcoders metered, %d hub derivations; want none", n, d)
	}

	// An RTMP/FLV reader asks the hub for AAC.
	rd, err := e.hub.Subscribe(key, media.SubscribeOptions{Protocol: "rtmp", Audio: media.CodecAAC})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), waitLong)
	defer rcancel()
	for gotAAC := false; !gotAAC; {
		pkts, err := rd.Next(rctx, nil)
		if err != nil {
			t.Fatalf("AAC reader: %v", err)
		}
		for _, p := range pkts {
			gotAAC = gotAAC || p.Track.Codec == media.CodecAAC
		}
	}
	tm.mu.Lock()
	running := tm.running[transcode.DirOpusToAAC]
	tm.mu.Unlock()
	if running != 1 || tm.total() != 1 || e.hub.Stats().Derivations != 1 {
		t.Fatalf("with an AAC reader: %d Opus->AAC transcoders (%d in all), %d derivations; want one", running, tm.total(), e.hub.Stats().Derivations)
	}

	rd.Close()
	eventually(t, "the transcoder did not stop when its reader left", func() bool {
		return tm.total() == 0 && e.hub.Stats().Derivations == 0
	})
	frames.waitAbove(t, int(c.frames.Load()), 10, "WHEP reader after the AAC reader left")
}
