package media

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// TestAudioWaitsForVideo: a lazy reader (SubscribeOptions.WaitAudio, as
// RTMP and FLV subscribe) is not woken for audio of a stream with video:
// the next video packet wakes it once for both, or AudioWait passes and the
// held audio is released. A reader that is not lazy (WHEP), and every reader
// of an audio-only stream, is woken for audio as before. Nothing is lost or
// reordered by the wait.
func TestAudioWaitsForVideo(t *testing.T) {
	const wait = 60 * time.Millisecond
	for _, c := range []struct {
		name      string
		cfg       Config
		lazy      bool
		video     bool
		steps     []*Packet // written after the reader got the keyframe
		midWakes  int32     // before the last step
		wantWakes int32     // right after the steps (the keyframe's wake drained)
		afterWait int32     // once AudioWait has passed
	}{
		{"lazy: audio waits for video", Config{AudioWait: time.Minute}, true, true,
			[]*Packet{apkt(10), apkt(30), vpkt(40, false)}, 0, 1, 1},
		{"lazy: audio alone is released by the timer", Config{AudioWait: wait}, true, true,
			[]*Packet{apkt(10), apkt(30)}, 0, 0, 1},
		{"not lazy: audio wakes at once", Config{AudioWait: wait}, false, true,
			[]*Packet{apkt(10)}, 0, 1, 1},
		{"lazy, audio-only stream: audio wakes at once", Config{AudioWait: time.Minute}, true, false,
			[]*Packet{apkt(10)}, 0, 1, 1},
		{"lazy, wait off (negative)", Config{AudioWait: -1}, true, true,
			[]*Packet{apkt(10)}, 0, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newTestHub(t, c.cfg, nil)
			pub, err := h.Publish(key, nil)
			if err != nil {
				t.Fatal(err)
			}
			video := testVideo
			if !c.video {
				video = nil
			}
			pub.SetTracks(video, testAudio)
			var wakes atomic.Int32
			rd, err := h.Subscribe(key, SubscribeOptions{WaitAudio: c.lazy, OnQueue: func() { wakes.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			first := apkt(0)
			if c.video {
				first = vpkt(0, true)
			}
			if err := pub.Write(first); err != nil {
				t.Fatal(err)
			}
			if got, _ := rd.TryNext(nil); len(got) != 1 || wakes.Load() != 1 {
				t.Fatalf("first packet: %d queued, %d wakes; want 1, 1", len(got), wakes.Load())
			}
			wakes.Store(0)
			for i, p := range c.steps {
				if i == len(c.steps)-1 {
					if got := wakes.Load(); got != c.midWakes {
						t.Fatalf("before the last packet: %d wakes, want %d", got, c.midWakes)
					}
				}
				if err := pub.Write(p); err != nil {
					t.Fatal(err)
				}
			}
			if got := wakes.Load(); got != c.wantWakes {
				t.Fatalf("after the packets: %d wakes, want %d", got, c.wantWakes)
			}
			deadline := time.Now().Add(10 * time.Second)
			for wakes.Load() < c.afterWait && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if c.afterWait == c.wantWakes {
				time.Sleep(2 * wait) // a timer that should not fire has had its chance
			}
			if got := wakes.Load(); got != c.afterWait {
				t.Fatalf("after the wait: %d wakes, want %d", got, c.afterWait)
			}
			got, _ := rd.TryNext(nil)
			if want := dtsMS(c.steps); !slices.Equal(dtsMS(got), want) {
				t.Fatalf("delivered %v, want %v", dtsMS(got), want)
			}
		})
	}
}

// TestAudioWaitKeepsTimerForSkippingReader: a lazy reader that skips video
// (it lost packets and waits for a keyframe) still gets its held audio when
// the wait passes, though another reader's video cleared the others.
func TestAudioWaitKeepsTimerForSkippingReader(t *testing.T) {
	h := newTestHub(t, Config{AudioWait: 50 * time.Millisecond, QueueSize: 4}, nil)
	pub, err := h.Publish(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.SetTracks(testVideo, testAudio)
	var slowWakes atomic.Int32
	slow, err := h.Subscribe(key, SubscribeOptions{WaitAudio: true, OnQueue: func() { slowWakes.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := h.Subscribe(key, SubscribeOptions{WaitAudio: true})
	if err != nil {
		t.Fatal(err)
	}
	write := func(p *Packet) {
		t.Helper()
		if err := pub.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	// The slow reader never drains: its queue (4) overflows and it waits
	// for a keyframe, skipping video; the fast one drains every packet.
	write(vpkt(0, true))
	for i := 1; i <= 4; i++ {
		write(vpkt(40*i, false))
		fast.TryNext(nil)
	}
	slow.TryNext(nil) // now empty, lagging: video is skipped until a keyframe
	slowWakes.Store(0)
	write(apkt(170))
	write(vpkt(200, false)) // the fast reader is woken; the slow one skips it
	fast.TryNext(nil)
	deadline := time.Now().Add(10 * time.Second)
	for slowWakes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if slowWakes.Load() != 1 {
		t.Fatalf("the skipping reader was woken %d times for its held audio, want 1", slowWakes.Load())
	}
	if got, _ := slow.TryNext(nil); !slices.Equal(dtsMS(got), []int{170}) {
		t.Fatalf("skipping reader got %v, want its audio [170]", dtsMS(got))
	}
}
