package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
)

var (
	testVideo = &Track{Codec: CodecH264, SPS: [][]byte{{0x67, 0x42, 0, 0x1e}}, PPS: [][]byte{{0x68}}}
	testAudio = &Track{Codec: CodecAAC, Config: []byte{0x12, 0x10}, SampleRate: 44100, Channels: 2}
)

func newTestHub(t testing.TB, cfg Config, obs Observer) *Hub {
	t.Helper()
	h, err := NewHub(cfg, obs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func vpkt(ms int, key bool) *Packet {
	d := time.Duration(ms) * time.Millisecond
	return &Packet{Track: testVideo, DTS: d, PTS: d, Keyframe: key, Payload: make([]byte, 100)}
}

func apkt(ms int) *Packet {
	d := time.Duration(ms) * time.Millisecond
	return &Packet{Track: testAudio, DTS: d, PTS: d, Payload: make([]byte, 10)}
}

type events struct {
	mu  sync.Mutex
	evs []string
}

func (e *events) add(s string) { e.mu.Lock(); e.evs = append(e.evs, s); e.mu.Unlock() }
func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.evs...)
}
func (e *events) MediaStarted(k Key, _ Info)  { e.add("started") }
func (e *events) MediaPaused(k Key)           { e.add("paused") }
func (e *events) MediaResumed(k Key, _ Info)  { e.add("resumed") }
func (e *events) MediaStopped(k Key, _ error) { e.add("stopped") }

var key = Key{AppID: "app", Channel: "room", UID: "1"}

func drain(t *testing.T, r *Reader) []*Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	var all []*Packet
	for {
		b, err := r.Next(ctx, nil)
		all = append(all, b...)
		if err != nil {
			return all
		}
	}
}

func dtsMS(ps []*Packet) []int {
	var out []int
	for _, p := range ps {
		out = append(out, int(p.DTS/time.Millisecond))
	}
	return out
}

func TestRebase(t *testing.T) {
	type in struct {
		video bool
		ms    int
	}
	cases := []struct {
		name string
		in   []in
		want []int
	}{
		{"passthrough from zero", []in{{true, 1000}, {false, 1000}, {true, 1040}, {false, 1023}}, []int{0, 0, 40, 23}},
		{"small backward step is held", []in{{true, 0}, {true, 40}, {true, 30}, {true, 80}}, []int{0, 40, 40, 80}},
		{"forward jump is closed", []in{{true, 0}, {true, 40}, {true, 60000}, {true, 60040}}, []int{0, 40, 80, 120}},
		{"clock reset is closed", []in{{true, 5000}, {true, 5040}, {true, 0}, {true, 40}}, []int{0, 40, 80, 120}},
		{"32-bit wrap", []in{{true, 1<<32 - 80}, {true, 1<<32 - 40}, {true, 0}, {true, 40}}, []int{0, 40, 80, 120}},
		{"past the 24-bit boundary", []in{{true, 0xFFFFFF - 40}, {true, 0xFFFFFF}, {true, 0xFFFFFF + 40}}, []int{0, 40, 80}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newTestHub(t, Config{}, nil)
			pub, err := h.Publish(key, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := h.Subscribe(key, SubscribeOptions{})
			for _, p := range c.in {
				var pk *Packet
				if p.video {
					pk = vpkt(p.ms, true)
				} else {
					pk = apkt(p.ms)
				}
				if err := pub.Write(pk); err != nil {
					t.Fatal(err)
				}
			}
			got := dtsMS(drain(t, r))
			if len(got) != len(c.want) {
				t.Fatalf("got %v want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v want %v", got, c.want)
				}
			}
		})
	}
}

// TestSyntheticLongStream: 5 hours of 25 fps timestamps (past the RTMP
// 24-bit boundary at 4 h 39 min) stay exact and monotonic.
func TestSyntheticLongStream(t *testing.T) {
	h := newTestHub(t, Config{}, nil)
	pub, _ := h.Publish(key, nil)
	r, _ := h.Subscribe(key, SubscribeOptions{})
	const frames = 5 * 3600 * 25
	ctx := context.Background()
	var last time.Duration = -1
	var n int
	var batch []*Packet
	for i := range frames {
		_ = pub.Write(vpkt(i*40, i%50 == 0))
		if i%256 == 255 || i == frames-1 {
			batch, _ = r.Next(ctx, batch[:0])
			for _, p := range batch {
				if p.DTS != time.Duration(n)*40*time.Millisecond || p.DTS <= last {
					t.Fatalf("frame %d: dts %v after %v", n, p.DTS, last)
				}
				last = p.DTS
				n++
			}
		}
	}
	if n != frames {
		t.Fatalf("%d frames, want %d", n, frames)
	}
}

func TestGOPCacheForLateReader(t *testing.T) {
	h := newTestHub(t, Config{}, nil)
	pub, _ := h.Publish(key, nil)
	pub.SetTracks(testVideo, testAudio)
	for i := range 120 {
		_ = pub.Write(vpkt(i*40, i%50 == 0))
		_ = pub.Write(apkt(i * 40))
	}
	r, _ := h.Subscribe(key, SubscribeOptions{})
	got := drain(t, r)
	if len(got) == 0 || !got[0].Keyframe || got[0].Kind() != KindVideo {
		t.Fatalf("late reader does not start with a keyframe: %d packets", len(got))
	}
	if got[0].DTS != 100*40*time.Millisecond || len(got) != 2*20 {
		t.Fatalf("late reader got %d packets from %v", len(got), got[0].DTS)
	}
}

func TestGOPCacheCap(t *testing.T) {
	h := newTestHub(t, Config{GOPMaxPackets: 10}, nil)
	pub, _ := h.Publish(key, nil)
	for i := range 30 {
		_ = pub.Write(vpkt(i*40, i == 0))
	}
	r, _ := h.Subscribe(key, SubscribeOptions{})
	if got := drain(t, r); len(got) != 0 {
		t.Fatalf("overflowed GOP cache still served %d packets", len(got))
	}
	_ = pub.Write(vpkt(30*40, false))
	_ = pub.Write(vpkt(31*40, true))
	if got := drain(t, r); len(got) != 1 || !got[0].Keyframe {
		t.Fatalf("reader did not start at the next keyframe: %d", len(got))
	}
}

// TestSlowReader: a reader that stops reading loses packets up to the next
// keyframe (counted) while a fast reader gets everything and the publisher
// is never blocked.
func TestSlowReader(t *testing.T) {
	h := newTestHub(t, Config{QueueSize: 16}, nil)
	pub, _ := h.Publish(key, nil)
	fast, _ := h.Subscribe(key, SubscribeOptions{})
	slow, _ := h.Subscribe(key, SubscribeOptions{})

	const total = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	var fastGot []*Packet
	go func() {
		defer wg.Done()
		ctx := context.Background()
		var b []*Packet
		for len(fastGot) < total {
			b, _ = fast.Next(ctx, b[:0])
			fastGot = append(fastGot, b...)
		}
	}()
	for i := range total {
		_ = pub.Write(vpkt(i*40, i%10 == 0))
		if i%8 == 7 {
			// let the fast reader keep up; the slow one never reads
			for fast.queued() > 0 {
				time.Sleep(10 * time.Microsecond)
			}
		}
	}
	wg.Wait()
	if fast.Drops() != 0 || len(fastGot) != total {
		t.Fatalf("fast reader: %d packets, %d drops", len(fastGot), fast.Drops())
	}
	if slow.Drops() == 0 {
		t.Fatal("slow reader has no drops")
	}
	got := drain(t, slow)
	if uint64(len(got))+slow.Drops() != total {
		t.Fatalf("slow reader: %d received + %d dropped != %d", len(got), slow.Drops(), total)
	}
	// After the overflow the slow reader resumes at a keyframe.
	_ = pub.Write(vpkt(total*40, false))
	_ = pub.Write(vpkt(total*40+40, true))
	if after := drain(t, slow); len(after) != 1 || !after[0].Keyframe {
		t.Fatalf("slow reader did not resume at a keyframe: %d packets", len(after))
	}
	if h.Stats().Drops != slow.Drops() {
		t.Fatalf("hub drops %d, reader %d", h.Stats().Drops, slow.Drops())
	}
}

func TestHoldTimeout(t *testing.T) {
	h := newTestHub(t, Config{HoldTimeout: 20 * time.Millisecond}, nil)
	r, err := h.Subscribe(key, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Next(context.Background(), nil)
	if ec, ok := errcode.As(err); !ok || ec.Code != errcode.CodeNotPublishing {
		t.Fatalf("held reader ended with %v", err)
	}
	if s := h.Stats(); s.Streams != 0 || s.Readers != 0 {
		t.Fatalf("stats after hold timeout: %+v", s)
	}
}

func TestHeldReaderStartsAtFirstKeyframe(t *testing.T) {
	h := newTestHub(t, Config{}, nil)
	r, _ := h.Subscribe(key, SubscribeOptions{})
	pub, _ := h.Publish(key, nil)
	pub.SetTracks(testVideo, testAudio)
	_ = pub.Write(apkt(0))
	_ = pub.Write(vpkt(10, false)) // no picture to decode yet
	_ = pub.Write(vpkt(20, true))
	got := drain(t, r)
	// The keyframe first, then the audio that arrived before it.
	if len(got) != 2 || !got[0].Keyframe || got[1].Kind() != KindAudio || got[1].DTS != 0 {
		t.Fatalf("held reader got %d packets", len(got))
	}
}

func TestGraceResumeAndExpiry(t *testing.T) {
	ev := &events{}
	h := newTestHub(t, Config{Grace: time.Hour}, ev)
	r, _ := h.Subscribe(key, SubscribeOptions{})
	p1, _ := h.Publish(key, nil)
	_ = p1.Write(vpkt(5000, true))
	_ = p1.Write(vpkt(5040, false))
	p1.Close(nil)
	if !h.Live(key) {
		t.Fatal("stream not kept during grace")
	}
	p2, _ := h.Publish(key, nil)
	_ = p2.Write(vpkt(0, true)) // new session, new clock
	_ = p2.Write(vpkt(40, false))
	got := dtsMS(drain(t, r))
	if want := []int{0, 40, 80, 120}; len(got) != 4 || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("timestamps across the reconnect: %v", got)
	}
	if err := p1.Write(vpkt(80, false)); !errors.Is(err, ErrPublisherGone) {
		t.Fatalf("old publisher write: %v", err)
	}
	h.cfg.Grace = time.Millisecond
	p2.Close(nil)
	_, err := r.Next(context.Background(), nil)
	if ec, ok := errcode.As(err); !ok || ec.Code != errcode.CodeNotPublishing {
		t.Fatalf("reader after grace: %v", err)
	}
	want := []string{"started", "paused", "resumed", "paused", "stopped"}
	if got := ev.get(); len(got) != len(want) || got[4] != "stopped" || got[2] != "resumed" {
		t.Fatalf("events %v want %v", got, want)
	}
}

func TestEndStreamAndKick(t *testing.T) {
	ev := &events{}
	h := newTestHub(t, Config{}, ev)
	var pubReason error
	pub, _ := h.Publish(key, func(err error) { pubReason = err })
	_ = pub.Write(vpkt(0, true))
	viewer, _ := h.Subscribe(key, SubscribeOptions{Viewer: "9"})
	other, _ := h.Subscribe(key, SubscribeOptions{Viewer: "8"})
	kick := errcode.NoAuthorized("kicked")
	h.CloseViewer("app", "room", "9", kick)
	if _, err := viewer.Next(context.Background(), nil); !errors.Is(err, kick) {
		_, err2 := viewer.Next(context.Background(), nil)
		if !errors.Is(err2, kick) {
			t.Fatalf("kicked viewer: %v", err2)
		}
	}
	end := errcode.NotPublishing("unpublished")
	h.EndStream(key, end)
	if !errors.Is(pubReason, end) {
		t.Fatalf("publisher onClose reason %v", pubReason)
	}
	drain(t, other)
	if _, err := other.Next(context.Background(), nil); !errors.Is(err, end) {
		t.Fatalf("reader after EndStream: %v", err)
	}
	if s := h.Stats(); s.Publishers != 0 || s.Streams != 0 || s.Readers != 0 {
		t.Fatalf("stats after EndStream: %+v", s)
	}
	if got := ev.get(); len(got) != 2 || got[1] != "stopped" {
		t.Fatalf("events %v", got)
	}
}

func TestLimits(t *testing.T) {
	h := newTestHub(t, Config{MaxPublishers: 1, MaxReadersPerStream: 1}, nil)
	if _, err := h.Publish(key, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(key, nil); err != nil {
		t.Fatalf("takeover by the same uid refused: %v", err)
	}
	_, err := h.Publish(Key{AppID: "app", Channel: "room", UID: "2"}, nil)
	if ec, ok := errcode.As(err); !ok || ec.Code != errcode.CodeOverloaded {
		t.Fatalf("second publisher: %v", err)
	}
	if _, err := h.Subscribe(key, SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = h.Subscribe(key, SubscribeOptions{})
	if ec, ok := errcode.As(err); !ok || ec.Reason != errcode.ReasonTooManyUsers {
		t.Fatalf("second reader: %v", err)
	}
}

// BenchmarkStreamWrite: the publisher's cost of one packet fanned out to N
// readers that keep up. Readers are drained between rounds of 256 packets
// with the timer stopped, so ns/op is the publisher goroutine's cost alone.
func BenchmarkStreamWrite(b *testing.B) {
	for _, n := range []int{1, 10, 100, 500} {
		b.Run(fmt.Sprintf("readers=%d", n), func(b *testing.B) {
			h := newTestHub(b, Config{}, nil)
			pub, _ := h.Publish(key, nil)
			readers := make([]*Reader, n)
			for i := range readers {
				readers[i], _ = h.Subscribe(key, SubscribeOptions{})
			}
			payload := make([]byte, 2500)
			ctx := context.Background()
			var batch []*Packet
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d := time.Duration(i) * 40 * time.Millisecond
				_ = pub.Write(&Packet{Track: testVideo, DTS: d, PTS: d, Keyframe: i%50 == 0, Payload: payload})
				i++
				if i%256 == 0 {
					b.StopTimer()
					for _, r := range readers {
						batch, _ = r.Next(ctx, batch[:0])
						clear(batch)
					}
					b.StartTimer()
				}
			}
			if d := h.Stats().Drops; d != 0 {
				b.Fatalf("%d drops", d)
			}
		})
	}
}

// TestKeyframeRequester: the publisher's keyframe requester is called when a
// reader needs a keyframe the stream has not cached, outside the hub's locks,
// at most once per KeyframeRequestInterval.
func TestKeyframeRequester(t *testing.T) {
	type step struct {
		do   string // "sub", "key", "delta", "audio", "tick" (advance the clock), "nil"
		want int    // requests counted after the step
	}
	tests := []struct {
		name      string
		cfg       Config
		audioOnly bool
		setFirst  bool // SetKeyframeRequester before SetTracks
		steps     []step
	}{
		{name: "reader on a stream without a cached keyframe", steps: []step{
			{"delta", 0}, {"sub", 1}, {"sub", 1}, {"tick", 1}, {"sub", 2},
		}},
		{name: "set before tracks", setFirst: true, steps: []step{
			{"sub", 1},
		}},
		{name: "reader gets the GOP cache", steps: []step{
			{"key", 0}, {"delta", 0}, {"sub", 0}, {"delta", 0},
		}},
		{name: "held reader, stream starts without a keyframe", steps: []step{
			{"tick", 0}, {"delta", 1}, {"delta", 1}, {"tick", 1}, {"delta", 2}, {"key", 2}, {"tick", 2}, {"delta", 2},
		}},
		{name: "audio-only stream", audioOnly: true, steps: []step{
			{"audio", 0}, {"sub", 0}, {"audio", 0},
		}},
		{name: "overflowing reader", cfg: Config{QueueSize: 4}, steps: []step{
			{"key", 0}, {"sub", 0}, {"delta", 0}, {"delta", 0}, {"delta", 0}, {"delta", 0}, {"delta", 1},
			{"delta", 1}, {"tick", 1}, {"delta", 2},
		}},
		{name: "nil clears", steps: []step{
			{"delta", 0}, {"nil", 0}, {"sub", 0}, {"tick", 0}, {"sub", 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHub(t, tc.cfg, nil)
			now := time.Unix(1000, 0)
			h.now = func() time.Time { return now }
			if tc.name == "held reader, stream starts without a keyframe" {
				if _, err := h.Subscribe(key, SubscribeOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			pub, err := h.Publish(key, nil)
			if err != nil {
				t.Fatal(err)
			}
			requests := 0
			fn := func() {
				// Outside the hub's locks: calling back in must not deadlock.
				_ = h.Live(key)
				_ = h.Stats()
				requests++
			}
			video := testVideo
			if tc.audioOnly {
				video = nil
			}
			if tc.setFirst {
				pub.SetKeyframeRequester(fn)
				pub.SetTracks(video, testAudio)
			} else {
				pub.SetTracks(video, testAudio)
				pub.SetKeyframeRequester(fn)
			}
			ms := 0
			for i, st := range tc.steps {
				switch st.do {
				case "sub":
					if _, err := h.Subscribe(key, SubscribeOptions{}); err != nil {
						t.Fatal(err)
					}
				case "key", "delta":
					ms += 40
					if err := pub.Write(vpkt(ms, st.do == "key")); err != nil {
						t.Fatal(err)
					}
				case "audio":
					ms += 20
					if err := pub.Write(apkt(ms)); err != nil {
						t.Fatal(err)
					}
				case "tick":
					now = now.Add(KeyframeRequestInterval)
				case "nil":
					pub.SetKeyframeRequester(nil)
				}
				if requests != st.want {
					t.Fatalf("after step %d (%s): %d requests, want %d", i, st.do, requests, st.want)
				}
			}
		})
	}
}

// TestStreamStats: per-stream figures, drops counted per stream (also for a
// reader that left) and adding up to the hub's total, GOP cache bytes.
func TestStreamStats(t *testing.T) {
	h := newTestHub(t, Config{QueueSize: 4, Grace: time.Hour}, nil)
	k1, k2 := Key{AppID: "app", Channel: "room", UID: "1"}, Key{AppID: "app", Channel: "room", UID: "2"}
	p1, _ := h.Publish(k1, nil)
	p2, _ := h.Publish(k2, nil)
	slow, _ := h.Subscribe(k1, SubscribeOptions{})
	fast, _ := h.Subscribe(k2, SubscribeOptions{})
	_, _ = h.Subscribe(k2, SubscribeOptions{}) // held until k2's publisher is live; never reads
	for i := range 20 {
		_ = p1.Write(vpkt(i*40, i%10 == 0))
	}
	_ = p2.Write(vpkt(0, true))
	drain(t, fast)
	slow.Close()
	p2.Close(nil)

	got := h.StreamStats()
	want := []StreamStats{
		// k1's GOP cache holds the packets from its last keyframe (10 of
		// 100 bytes); a paused stream keeps none.
		{Key: k1, Live: true, Readers: 0, Drops: 16, GOPBytes: 1000},
		{Key: k2, Paused: true, Readers: 2, Drops: 0},
	}
	if len(got) != len(want) {
		t.Fatalf("stream stats %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("stream %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := h.Stats(); s.Drops != 16 || s.Readers != 2 || s.Streams != 2 || s.Publishers != 1 {
		t.Errorf("hub stats %+v", s)
	}
}

// TestTakeoverRules: who may publish a stream that already has a publisher
// (Stream.mayTake). MayPublish answers as PublishWith does; a refused
// newcomer leaves the current publisher writing; a replaced one is told why.
func TestTakeoverRules(t *testing.T) {
	const stall = 2 * time.Second
	cases := []struct {
		name     string
		state    string // "live", "stalled", "attached" (no media yet), "paused" (grace), "none"
		wildcard bool
		want     string // "publish", "replace" or the refusal reason
	}{
		{"none/uid", "none", false, "publish"},
		{"none/wildcard", "none", true, "publish"},
		{"paused/uid", "paused", false, "publish"},
		{"paused/wildcard", "paused", true, "publish"},
		{"live/uid", "live", false, errcode.ReasonStreamBusy},
		{"live/wildcard", "live", true, errcode.ReasonStreamBusy},
		{"stalled/uid", "stalled", false, "replace"},
		{"stalled/wildcard", "stalled", true, errcode.ReasonStreamBusy},
		{"attached/uid", "attached", false, "replace"},
		{"attached/wildcard", "attached", true, errcode.ReasonStreamBusy},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newTestHub(t, Config{Grace: time.Hour, StallTimeout: stall}, nil)
			now := time.Unix(1000, 0)
			var clockMu sync.Mutex
			h.now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
			advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
			var (
				old       *Publisher
				oldReason error
			)
			if c.state != "none" {
				old, _ = h.Publish(key, func(err error) { oldReason = err })
				if c.state != "attached" {
					if err := old.Write(vpkt(0, true)); err != nil {
						t.Fatal(err)
					}
				}
				switch c.state {
				case "stalled":
					advance(stall)
				case "live":
					advance(stall - time.Millisecond)
				case "paused":
					old.Close(nil)
				case "attached":
					advance(time.Hour) // no media yet: not live, however long
				}
			}
			opt := PublishOptions{Wildcard: c.wildcard}
			mayErr := h.MayPublish(key, opt)
			p, err := h.PublishWith(key, opt)
			if (mayErr == nil) != (err == nil) {
				t.Fatalf("MayPublish %v, PublishWith %v", mayErr, err)
			}
			if c.want == "publish" || c.want == "replace" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if err := p.Write(vpkt(40, true)); err != nil {
					t.Fatalf("new publisher write: %v", err)
				}
				if c.want == "replace" {
					if ec, ok := errcode.As(oldReason); !ok || ec.Reason != errcode.ReasonConflict {
						t.Fatalf("replaced publisher told %v", oldReason)
					}
					if err := old.Write(vpkt(80, false)); !errors.Is(err, ErrPublisherGone) {
						t.Fatalf("replaced publisher write: %v", err)
					}
				} else if oldReason != nil {
					t.Fatalf("previous publisher told %v", oldReason)
				}
				if s := h.Stats(); s.Publishers != 1 {
					t.Fatalf("%d publishers", s.Publishers)
				}
				return
			}
			ec, ok := errcode.As(err)
			if !ok || ec.Reason != c.want || ec.HTTPStatus() != 409 {
				t.Fatalf("got %v, want %q (409)", err, c.want)
			}
			if oldReason != nil {
				t.Fatalf("refused newcomer ended the publisher: %v", oldReason)
			}
			if err := old.Write(vpkt(120, true)); err != nil {
				t.Fatalf("publisher after a refused newcomer: %v", err)
			}
		})
	}
}

// TestStreamsAndCloseReader: the operator view lists each stream's tracks,
// measured rates and readers, and CloseReader ends exactly one reader with
// its reason while the stream and the other reader go on.
func TestStreamsAndCloseReader(t *testing.T) {
	h := newTestHub(t, Config{}, nil)
	key := Key{AppID: "app", Channel: "c", UID: "7"}
	pub, err := h.Publish(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var closed []error
	var mu sync.Mutex
	r1, err := h.Subscribe(key, SubscribeOptions{Viewer: "1", Protocol: "rtmp", Remote: "127.0.0.1:1000",
		OnClose: func(err error) { mu.Lock(); closed = append(closed, err); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := h.Subscribe(key, SubscribeOptions{Viewer: "2", Protocol: "flv"})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	// 2 s of 25 fps video, 1000 bytes a frame: 200 kbit/s.
	for i := 0; i <= 50; i++ {
		p := vpkt(i*40, i%25 == 0)
		p.Payload = make([]byte, 1000)
		if err := pub.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	ss := h.Streams()
	if len(ss) != 1 {
		t.Fatalf("streams: %+v", ss)
	}
	s := ss[0]
	if s.Key != key || !s.Live || s.Video == nil || s.Audio != nil || len(s.Readers) != 2 {
		t.Fatalf("stream: %+v", s)
	}
	if s.Bitrate < 190e3 || s.Bitrate > 210e3 || s.FrameRate < 24 || s.FrameRate > 26 {
		t.Fatalf("rates: %v bit/s %v fps", s.Bitrate, s.FrameRate)
	}
	a, b := s.Readers[0], s.Readers[1]
	if a.Viewer != "1" || a.Protocol != "rtmp" || a.Remote != "127.0.0.1:1000" || b.Viewer != "2" || a.ID == b.ID || a.Queued == 0 {
		t.Fatalf("readers: %+v", s.Readers)
	}
	if h.CloseReader(999999, errcode.Banned("x")) {
		t.Fatal("closed an unknown reader")
	}
	reason := errcode.NoAuthorized("disconnected by the operator")
	if !h.CloseReader(a.ID, reason) {
		t.Fatal("CloseReader missed")
	}
	mu.Lock()
	if len(closed) != 1 || !errors.Is(closed[0], reason) {
		t.Fatalf("OnClose: %v", closed)
	}
	mu.Unlock()
	drain(t, r1) // what was queued still comes out, then the reason
	if _, err := r1.Next(context.Background(), nil); !errors.Is(err, reason) {
		t.Fatalf("reader 1 ended with %v", err)
	}
	ss = h.Streams()
	if len(ss) != 1 || len(ss[0].Readers) != 1 || ss[0].Readers[0].ID != b.ID {
		t.Fatalf("after close: %+v", ss)
	}
	if err := pub.Write(vpkt(2100, false)); err != nil {
		t.Fatalf("publisher after close: %v", err)
	}
}
