package media

import (
	"errors"
	"sync"
	"testing"
	"time"
)

var testOpus = &Track{Codec: CodecOpus, Config: []byte("OpusHead"), SampleRate: 48000, Channels: 2}

func opkt(ms int, tr *Track) *Packet {
	d := time.Duration(ms) * time.Millisecond
	return &Packet{Track: tr, DTS: d, PTS: d, Payload: make([]byte, 20)}
}

// fakeDerive is a counting DeriveFunc: each Deriver makes one packet of the
// wanted codec per source packet, on a track of its own (known up front),
// shifted by shift (negative: a Deriver whose clock runs behind).
type fakeDerive struct {
	mu      sync.Mutex
	starts  []Codec // the wanted codec of each start
	srcs    []*Track
	closes  int
	derives int
	shift   time.Duration
	panicAt int   // Derive panics on this call (1-based); 0: never
	errAt   int   // Derive fails on this call (1-based); 0: never
	errFrom error // DeriveFunc fails with it
}

type fakeDeriver struct {
	f     *fakeDerive
	track *Track
}

func (f *fakeDerive) derive(src *Track, want Codec) (Deriver, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.errFrom != nil {
		return nil, f.errFrom
	}
	f.starts = append(f.starts, want)
	f.srcs = append(f.srcs, src)
	return &fakeDeriver{f: f, track: &Track{Codec: want, SampleRate: 48000, Channels: 1, Config: []byte{0x11, 0x88}}}, nil
}

func (d *fakeDeriver) Track() *Track { return d.track }

func (d *fakeDeriver) Derive(dst []*Packet, src *Packet) ([]*Packet, error) {
	d.f.mu.Lock()
	d.f.derives++
	n, shift, panicAt, errAt := d.f.derives, d.f.shift, d.f.panicAt, d.f.errAt
	d.f.mu.Unlock()
	if n == panicAt {
		panic("codec bug")
	}
	if n == errAt {
		return dst, errors.New("corrupt packet")
	}
	return append(dst, &Packet{Track: d.track, DTS: src.DTS + shift, PTS: src.PTS + shift, Payload: []byte{byte(n)}}), nil
}

func (d *fakeDeriver) Close() {
	d.f.mu.Lock()
	d.f.closes++
	d.f.mu.Unlock()
}

func (f *fakeDerive) counts() (starts, closes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.starts), f.closes
}

// codecs lists the audio codecs of ps (video as "V").
func codecs(ps []*Packet) []string {
	var out []string
	for _, p := range ps {
		if p.Kind() == KindVideo {
			out = append(out, "V")
		} else {
			out = append(out, p.Track.Codec.String())
		}
	}
	return out
}

func countCodec(ps []*Packet, c Codec) int {
	n := 0
	for _, p := range ps {
		if p.Track.Codec == c {
			n++
		}
	}
	return n
}

// TestDerivedTracks drives the derived-track lifecycle with a counting
// Deriver: started by the first reader that wants another codec than the
// source's, shared, stopped by the last one leaving or the stream's end,
// restarted by a new source track, never started for readers of the source
// codec.
func TestDerivedTracks(t *testing.T) {
	type env struct {
		t   *testing.T
		h   *Hub
		f   *fakeDerive
		pub *Publisher
	}
	// wantRunning checks the starts, closes and running count.
	wantRunning := func(e env, starts, closes, running int) {
		e.t.Helper()
		s, c := e.f.counts()
		if s != starts || c != closes {
			e.t.Fatalf("deriver starts %d closes %d, want %d and %d", s, c, starts, closes)
		}
		if got := e.h.Stats().Derivations; got != running {
			e.t.Fatalf("Stats.Derivations = %d, want %d", got, running)
		}
	}
	sub := func(e env, c Codec) *Reader {
		e.t.Helper()
		r, err := e.h.Subscribe(key, SubscribeOptions{Audio: c})
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(r.Close)
		return r
	}
	write := func(e env, ps ...*Packet) {
		e.t.Helper()
		for _, p := range ps {
			if err := e.pub.Write(p); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name string
		run  func(e env)
	}{
		{"no reader wants it: nothing runs", func(e env) {
			write(e, opkt(0, testOpus), opkt(20, testOpus))
			wantRunning(e, 0, 0, 0)
		}},
		{"first wanting reader starts it, its readers get only the derived codec", func(e env) {
			write(e, opkt(0, testOpus))
			r := sub(e, CodecAAC)
			wantRunning(e, 1, 0, 1)
			if _, a := r.Tracks(); a == nil || a.Codec != CodecAAC {
				t.Fatalf("reader's audio track %v, want the derived AAC track", a)
			}
			write(e, opkt(20, testOpus), opkt(40, testOpus))
			got := drain(e.t, r)
			if len(got) != 2 || countCodec(got, CodecAAC) != 2 {
				e.t.Fatalf("AAC reader got %v", codecs(got))
			}
			d := e.h.Streams()[0].Derived
			if len(d) != 1 || d[0].Codec != CodecAAC || d[0].From != CodecOpus || !d[0].Running || d[0].Readers != 1 || d[0].Packets != 2 {
				e.t.Fatalf("Streams().Derived = %+v", d)
			}
		}},
		{"readers of the source codec or any codec start nothing", func(e env) {
			write(e, opkt(0, testOpus))
			ro, ra := sub(e, CodecOpus), sub(e, CodecUnknown)
			write(e, opkt(20, testOpus))
			wantRunning(e, 0, 0, 0)
			for _, r := range []*Reader{ro, ra} {
				if got := drain(e.t, r); len(got) != 1 || got[0].Track != testOpus {
					e.t.Fatalf("source reader got %v", codecs(got))
				}
			}
			if d := e.h.Streams()[0].Derived; len(d) != 0 {
				e.t.Fatalf("derived tracks listed: %+v", d)
			}
		}},
		{"shared by two readers, stopped when the last leaves", func(e env) {
			write(e, opkt(0, testOpus))
			r1, r2 := sub(e, CodecAAC), sub(e, CodecAAC)
			src := sub(e, CodecUnknown)
			write(e, opkt(20, testOpus))
			wantRunning(e, 1, 0, 1)
			g1, g2 := drain(e.t, r1), drain(e.t, r2)
			if len(g1) != 1 || len(g2) != 1 || g1[0] != g2[0] {
				e.t.Fatalf("readers do not share the derived packet: %v %v", codecs(g1), codecs(g2))
			}
			r1.Close()
			wantRunning(e, 1, 0, 1)
			r2.Close()
			wantRunning(e, 1, 1, 0)
			write(e, opkt(40, testOpus))
			if got := drain(e.t, src); len(got) != 2 || countCodec(got, CodecOpus) != 2 {
				e.t.Fatalf("source reader after the stop: %v", codecs(got))
			}
			if d := e.h.Streams()[0].Derived; len(d) != 0 {
				e.t.Fatalf("derived tracks listed after the last reader left: %+v", d)
			}
			// A new wanting reader starts a new one.
			sub(e, CodecAAC)
			wantRunning(e, 2, 1, 1)
		}},
		{"stopped when the stream ends", func(e env) {
			write(e, opkt(0, testOpus))
			sub(e, CodecAAC)
			wantRunning(e, 1, 0, 1)
			e.h.EndStream(key, nil)
			wantRunning(e, 1, 1, 0)
		}},
		{"a new source track restarts it", func(e env) {
			write(e, opkt(0, testOpus))
			r := sub(e, CodecAAC)
			_, a1 := r.Tracks()
			opus2 := &Track{Codec: CodecOpus, Config: []byte("OpusHead2"), SampleRate: 48000, Channels: 1}
			write(e, opkt(20, opus2))
			wantRunning(e, 2, 1, 1)
			if e.f.srcs[1] != opus2 {
				e.t.Fatal("restarted for the old source track")
			}
			_, a2 := r.Tracks()
			if a2 == a1 || a2 == nil {
				e.t.Fatal("derived track did not change with the source track")
			}
			// The source becomes AAC: an AAC reader takes it, nothing runs.
			write(e, apkt(40))
			wantRunning(e, 2, 2, 0)
			if got := drain(e.t, r); len(got) != 2 || got[1].Track != testAudio {
				e.t.Fatalf("AAC reader after the source became AAC: %v", codecs(got))
			}
		}},
		{"pending stream: starts when the source audio appears", func(e env) {
			e.pub.Close(nil)
			e.h.EndStream(key, nil)
			r := sub(e, CodecAAC)
			wantRunning(e, 0, 0, 0)
			pub, err := e.h.Publish(key, nil)
			if err != nil {
				e.t.Fatal(err)
			}
			if err := pub.Write(opkt(0, testOpus)); err != nil {
				e.t.Fatal(err)
			}
			wantRunning(e, 1, 0, 1)
			if got := drain(e.t, r); len(got) != 1 || got[0].Track.Codec != CodecAAC {
				e.t.Fatalf("held AAC reader got %v", codecs(got))
			}
		}},
		{"held reader knows its derived track once the publisher declares its audio", func(e env) {
			r := sub(e, CodecAAC)
			wantRunning(e, 0, 0, 0)
			e.pub.SetTracks(testVideo, testOpus)
			wantRunning(e, 1, 0, 1)
			if v, a := r.Tracks(); v != testVideo || a == nil || a.Codec != CodecAAC {
				e.t.Fatalf("held reader's tracks %v %v", v, a)
			}
			write(e, vpkt(0, true), opkt(0, testOpus))
			wantRunning(e, 1, 0, 1)
			if got := codecs(drain(e.t, r)); len(got) != 2 || got[0] != "V" || got[1] != "AAC" {
				e.t.Fatalf("held reader got %v", got)
			}
		}},
		{"late reader starts at the cached keyframe with derived audio only", func(e env) {
			e.pub.SetTracks(testVideo, testOpus)
			early := sub(e, CodecAAC)
			write(e, vpkt(0, true), opkt(0, testOpus), vpkt(40, false), opkt(20, testOpus))
			if got := codecs(drain(e.t, early)); len(got) != 4 || got[0] != "V" || countCodec(drain(e.t, early), CodecOpus) != 0 {
				e.t.Fatalf("early AAC reader got %v", got)
			}
			late := sub(e, CodecAAC)
			got := drain(e.t, late)
			if len(got) != 4 || !got[0].Keyframe || got[0].Kind() != KindVideo || countCodec(got, CodecAAC) != 2 || countCodec(got, CodecOpus) != 0 {
				e.t.Fatalf("late AAC reader got %v", codecs(got))
			}
			other := sub(e, CodecUnknown)
			if got := drain(e.t, other); len(got) != 4 || countCodec(got, CodecOpus) != 2 || countCodec(got, CodecAAC) != 0 {
				e.t.Fatalf("late source reader got %v", codecs(got))
			}
		}},
		{"late reader of a new derivation gets the keyframe and no foreign audio", func(e env) {
			e.pub.SetTracks(testVideo, testOpus)
			write(e, vpkt(0, true), opkt(0, testOpus), vpkt(40, false))
			r := sub(e, CodecAAC)
			if got := drain(e.t, r); len(got) != 2 || countCodec(got, CodecH264) != 2 {
				e.t.Fatalf("late AAC reader got %v, want the cached video only", codecs(got))
			}
			write(e, opkt(20, testOpus))
			if got := drain(e.t, r); len(got) != 1 || got[0].Track.Codec != CodecAAC {
				e.t.Fatalf("then %v", codecs(got))
			}
		}},
		{"derived timestamps stay monotonic", func(e env) {
			write(e, opkt(0, testOpus))
			r := sub(e, CodecAAC)
			e.f.shift = -50 * time.Millisecond
			write(e, opkt(20, testOpus), opkt(40, testOpus), opkt(100, testOpus))
			if got := dtsMS(drain(e.t, r)); len(got) != 3 || got[0] != -30 || got[1] != -10 || got[2] != 50 {
				e.t.Fatalf("derived DTS %v", got)
			}
			// A restart whose Deriver starts behind is clamped too.
			e.f.shift = -200 * time.Millisecond
			write(e, opkt(120, &Track{Codec: CodecOpus, SampleRate: 48000, Channels: 1}))
			if got := dtsMS(drain(e.t, r)); len(got) != 1 || got[0] != 50 {
				e.t.Fatalf("after restart: DTS %v, want 50", got)
			}
		}},
		{"a panicking Deriver stops, the stream goes on", func(e env) {
			e.pub.SetTracks(testVideo, testOpus)
			write(e, vpkt(0, true))
			r := sub(e, CodecAAC)
			e.f.panicAt = 1
			write(e, opkt(0, testOpus), vpkt(40, false), opkt(20, testOpus))
			wantRunning(e, 1, 1, 0)
			if got := drain(e.t, r); countCodec(got, CodecH264) != 2 || countCodec(got, CodecAAC) != 0 {
				e.t.Fatalf("reader after the panic got %v", codecs(got))
			}
			// A new source track tries again.
			write(e, opkt(40, &Track{Codec: CodecOpus, SampleRate: 48000, Channels: 1}))
			wantRunning(e, 2, 1, 1)
		}},
		{"a Derive error drops that packet only", func(e env) {
			write(e, opkt(0, testOpus))
			r := sub(e, CodecAAC)
			e.f.errAt = 2
			write(e, opkt(20, testOpus), opkt(40, testOpus), opkt(60, testOpus))
			wantRunning(e, 1, 0, 1)
			if got := dtsMS(drain(e.t, r)); len(got) != 2 || got[0] != 20 || got[1] != 60 {
				e.t.Fatalf("derived DTS %v, want [20 60]", got)
			}
			if d := e.h.Streams()[0].Derived; len(d) != 1 || d[0].Errors != 1 || !d[0].Running {
				e.t.Fatalf("Derived = %+v", d)
			}
		}},
		{"a DeriveFunc error: no audio for its readers, the others go on", func(e env) {
			e.f.errFrom = errors.New("no such codec")
			write(e, opkt(0, testOpus))
			r, src := sub(e, CodecAAC), sub(e, CodecOpus)
			write(e, opkt(20, testOpus))
			wantRunning(e, 0, 0, 0)
			if got := drain(e.t, r); len(got) != 0 {
				e.t.Fatalf("reader of a failed derivation got %v", codecs(got))
			}
			if got := drain(e.t, src); len(got) != 1 {
				e.t.Fatalf("source reader got %v", codecs(got))
			}
			if d := e.h.Streams()[0].Derived; len(d) != 1 || d[0].Running {
				e.t.Fatalf("Derived = %+v, want listed and not running", d)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeDerive{}
			h := newTestHub(t, Config{Derive: f.derive}, nil)
			pub, err := h.Publish(key, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.run(env{t: t, h: h, f: f, pub: pub})
		})
	}
}

// TestDerivedTracksConcurrent runs readers joining and leaving while the
// publisher writes (for -race): every Deriver started is closed once.
func TestDerivedTracksConcurrent(t *testing.T) {
	f := &fakeDerive{}
	h := newTestHub(t, Config{Derive: f.derive}, nil)
	pub, _ := h.Publish(key, nil)
	pub.SetTracks(testVideo, testOpus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			_ = pub.Write(vpkt(i*20, i%25 == 0))
			_ = pub.Write(opkt(i*20, testOpus))
		}
	}()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				r, err := h.Subscribe(key, SubscribeOptions{Audio: CodecAAC})
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = r.TryNext(nil)
				r.Close()
			}
		}()
	}
	<-done
	wg.Wait()
	starts, closes := f.counts()
	if starts != closes || h.Stats().Derivations != 0 {
		t.Fatalf("starts %d closes %d running %d", starts, closes, h.Stats().Derivations)
	}
}
