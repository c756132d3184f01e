package transcode

import (
	"context"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/minirtc/minirtc/codec/aac"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/media/mediatest"
	"github.com/thesyncim/gopus"
)

// recMeter records the metrics a DeriveFunc reports.
type recMeter struct {
	mu      sync.Mutex
	running map[string]int
	calls   map[string]int
}

func (m *recMeter) TranscodeStarted(dir string) { m.mu.Lock(); m.running[dir]++; m.mu.Unlock() }
func (m *recMeter) TranscodeEnded(dir string)   { m.mu.Lock(); m.running[dir]--; m.mu.Unlock() }
func (m *recMeter) TranscodeTime(dir string, _ time.Duration) {
	m.mu.Lock()
	m.calls[dir]++
	m.mu.Unlock()
}
func (m *recMeter) get(dir string) (running, calls int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running[dir], m.calls[dir]
}

func newRecMeter() *recMeter {
	return &recMeter{running: map[string]int{}, calls: map[string]int{}}
}

// decodeAAC decodes access units made for track.
func decodeAAC(t *testing.T, track *media.Track, pkts []*media.Packet) []float32 {
	t.Helper()
	dec, err := aac.NewDecoder(track.Config)
	if err != nil {
		t.Fatal(err)
	}
	var pcm []float32
	for _, p := range pkts {
		out, err := dec.Decode(p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		pcm = append(pcm, out...)
	}
	return pcm
}

func decodeOpus(t *testing.T, ch int, pkts []*media.Packet) []float32 {
	t.Helper()
	dec, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(48000, ch))
	if err != nil {
		t.Fatal(err)
	}
	var pcm []float32
	buf := make([]float32, 5760*ch)
	for _, p := range pkts {
		n, err := dec.Decode(p.Payload, buf)
		if err != nil {
			t.Fatal(err)
		}
		pcm = append(pcm, buf[:n*ch]...)
	}
	return pcm
}

// TestDeriveFunc: each direction's Deriver makes decodable audio of the
// source's tone on a track that describes it, in hub time, and meters its
// life under the webrtc metrics' direction names.
func TestDeriveFunc(t *testing.T) {
	opusPkts := encodeOpus(t, 2, 880, 2)
	asc, aacAUs := encodeAAC(t, 44100, 1, 1000, 2)
	ascTrack := &media.Track{Codec: media.CodecAAC, Config: asc, SampleRate: 44100, Channels: 1}
	opusTrack := &media.Track{Codec: media.CodecOpus, SampleRate: 48000, Channels: 2}
	base := 7 * time.Second // hub time of the first source packet
	cases := []struct {
		name     string
		cfg      DeriveConfig
		src      *media.Track
		want     media.Codec
		payloads [][]byte
		step     time.Duration
		dir      string
		channels int
		freq     float64
	}{
		{"opus to mono aac", DeriveConfig{}, opusTrack, media.CodecAAC, opusPkts, OpusFrame, DirOpusToAAC, 1, 880},
		{"opus to stereo aac", DeriveConfig{AACChannels: 2, AACBitrate: 96000}, opusTrack, media.CodecAAC, opusPkts, OpusFrame, DirOpusToAAC, 2, 880},
		{"aac to opus", DeriveConfig{OpusBitrate: 24000}, ascTrack, media.CodecOpus, aacAUs, samplesDur(aac.FrameLength, 44100), DirAACToOpus, 1, 1000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newRecMeter()
			c.cfg.Meter = m
			d, err := NewDeriveFunc(c.cfg)(c.src, c.want)
			if err != nil {
				t.Fatal(err)
			}
			track := d.(media.DerivedTracker).Track()
			if track.Codec != c.want || track.SampleRate != 48000 || track.Channels != c.channels || len(track.Config) == 0 {
				t.Fatalf("derived track %+v", track)
			}
			if running, _ := m.get(c.dir); running != 1 {
				t.Fatalf("%s running %d, want 1", c.dir, running)
			}
			var out []*media.Packet
			for i, pl := range c.payloads {
				ts := base + time.Duration(i)*c.step
				if out, err = d.Derive(out, &media.Packet{Track: c.src, DTS: ts, PTS: ts, Keyframe: true, Payload: pl}); err != nil {
					t.Fatal(err)
				}
			}
			if len(out) < 90 {
				t.Fatalf("%d derived packets from 2 s", len(out))
			}
			for i, p := range out {
				if p.Track != track || !p.Keyframe || p.PTS != p.DTS {
					t.Fatalf("packet %d: %+v", i, p)
				}
				if i > 0 && p.DTS <= out[i-1].DTS {
					t.Fatalf("packet %d at %v after %v", i, p.DTS, out[i-1].DTS)
				}
			}
			if d := out[0].DTS - base; d < -100*time.Millisecond || d > 100*time.Millisecond {
				t.Fatalf("first derived packet at %v, source at %v", out[0].DTS, base)
			}
			var pcm []float32
			if c.want == media.CodecAAC {
				pcm = decodeAAC(t, track, out)
			} else {
				var h opus.IDHeader
				if err := h.Unmarshal(track.Config); err != nil || int(h.ChannelCount) != c.channels || h.InputSampleRate != 48000 {
					t.Fatalf("Opus ID header %x: %+v %v", track.Config, h, err)
				}
				pcm = decodeOpus(t, c.channels, out)
			}
			f, rms := toneStats(pcm[len(pcm)/2:], 48000, c.channels)
			if math.Abs(f-c.freq) > c.freq*0.01 || rms < 0.15 {
				t.Fatalf("derived audio: tone %.1f Hz rms %.3f, want %.0f Hz, not silent", f, rms, c.freq)
			}
			if _, calls := m.get(c.dir); calls != len(c.payloads) {
				t.Fatalf("%d codec calls metered, want %d", calls, len(c.payloads))
			}
			// A corrupt packet is an error; the derivation goes on.
			ts := base + time.Duration(len(c.payloads))*c.step
			if _, err := d.Derive(nil, &media.Packet{Track: c.src, DTS: ts, PTS: ts, Payload: []byte{0xff, 0xff, 0xff}}); err == nil && c.want == media.CodecOpus {
				t.Fatal("corrupt AAC accepted")
			}
			d.Close()
			d.Close()
			if running, _ := m.get(c.dir); running != 0 {
				t.Fatalf("%s running %d after Close", c.dir, running)
			}
		})
	}
}

func TestDeriveFuncRefuses(t *testing.T) {
	m := newRecMeter()
	f := NewDeriveFunc(DeriveConfig{Meter: m})
	cases := []struct {
		name string
		src  *media.Track
		want media.Codec
	}{
		{"same codec", &media.Track{Codec: media.CodecOpus}, media.CodecOpus},
		{"video", &media.Track{Codec: media.CodecH264}, media.CodecAAC},
		{"aac without config", &media.Track{Codec: media.CodecAAC}, media.CodecOpus},
		{"aac with a bad config", &media.Track{Codec: media.CodecAAC, Config: []byte{0xff}}, media.CodecOpus},
		{"no track", nil, media.CodecAAC},
	}
	for _, c := range cases {
		if d, err := f(c.src, c.want); err == nil || d != nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if _, err := NewDeriveFunc(DeriveConfig{AACChannels: 6})(&media.Track{Codec: media.CodecOpus}, media.CodecAAC); err == nil {
		t.Error("6 AAC channels accepted")
	}
	if running, _ := m.get(DirAACToOpus); running != 0 {
		t.Fatalf("a refused bridge was metered")
	}
}

// TestHubDerivesAACFromOpus: through the hub, an Opus publisher's reader
// that wants AAC gets decodable AAC of the publisher's tone, a reader of the
// source gets the Opus, and the bridge stops when the AAC reader leaves.
func TestHubDerivesAACFromOpus(t *testing.T) {
	m := newRecMeter()
	h, err := media.NewHub(media.Config{Derive: NewDeriveFunc(DeriveConfig{Meter: m})}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	key := media.Key{AppID: "a", Channel: "c", UID: "1"}
	pub, err := h.Publish(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := &media.Track{Codec: media.CodecOpus, SampleRate: 48000, Channels: 2}
	pub.SetTracks(nil, src)
	rAAC, err := h.Subscribe(key, media.SubscribeOptions{Audio: media.CodecAAC})
	if err != nil {
		t.Fatal(err)
	}
	rOpus, err := h.Subscribe(key, media.SubscribeOptions{Audio: media.CodecOpus})
	if err != nil {
		t.Fatal(err)
	}
	defer rOpus.Close()
	_, track := rAAC.Tracks()
	if track == nil || track.Codec != media.CodecAAC {
		t.Fatalf("AAC reader's audio track %+v", track)
	}
	for i, pl := range encodeOpus(t, 2, 660, 2) {
		ts := time.Duration(i) * OpusFrame
		if err := pub.Write(&media.Packet{Track: src, DTS: ts, PTS: ts, Payload: pl}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(r *media.Reader) []*media.Packet {
		ps, err := r.TryNext(nil)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	aacPkts, opusPkts := read(rAAC), read(rOpus)
	if len(opusPkts) != 100 || opusPkts[0].Track != src {
		t.Fatalf("Opus reader got %d packets", len(opusPkts))
	}
	for _, p := range aacPkts {
		if p.Track != track {
			t.Fatalf("AAC reader got a %s packet", p.Track.Codec)
		}
	}
	pcm := decodeAAC(t, track, aacPkts)
	if f, rms := toneStats(pcm[len(pcm)/2:], 48000, 1); math.Abs(f-660) > 7 || rms < 0.15 {
		t.Fatalf("derived AAC: tone %.1f Hz rms %.3f", f, rms)
	}
	if running, _ := m.get(DirOpusToAAC); running != 1 || h.Stats().Derivations != 1 {
		t.Fatalf("running %d, hub %d", running, h.Stats().Derivations)
	}
	rAAC.Close()
	if running, _ := m.get(DirOpusToAAC); running != 0 || h.Stats().Derivations != 0 {
		t.Fatalf("after the AAC reader left: running %d, hub %d", running, h.Stats().Derivations)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := pub.Write(&media.Packet{Track: src, DTS: 3 * time.Second, PTS: 3 * time.Second, Payload: opusPkts[0].Payload}); err != nil {
		t.Fatal(err)
	}
	if ps, err := rOpus.Next(ctx, nil); err != nil || len(ps) != 1 {
		t.Fatalf("Opus reader after the stop: %d %v", len(ps), err)
	}
}

// BenchmarkDerive is the cost of one stream's derived track: one op is one
// second of source audio through the Deriver. cpu-ns/op is the process CPU
// time per derived second (robust on a loaded machine, unlike ns/op, which
// is wall time); streams/core = 1e9 / cpu-ns/op.
func BenchmarkDerive(b *testing.B) {
	opusPkts := encodeOpus(b, 1, 440, 1)
	asc, aacAUs := encodeAAC(b, 44100, 1, 440, 1)
	cases := []struct {
		name string
		src  *media.Track
		want media.Codec
		pls  [][]byte
		step time.Duration
	}{
		{"OpusToAAC", &media.Track{Codec: media.CodecOpus, SampleRate: 48000, Channels: 1}, media.CodecAAC, opusPkts, OpusFrame},
		{"AACToOpus44100", &media.Track{Codec: media.CodecAAC, Config: asc, SampleRate: 44100, Channels: 1}, media.CodecOpus, aacAUs, samplesDur(aac.FrameLength, 44100)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			d, err := NewDeriveFunc(DeriveConfig{})(c.src, c.want)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			perSec := int(time.Second / c.step)
			var out []*media.Packet
			n := 0
			b.ResetTimer()
			cpu0 := mediatest.CPUTime()
			for i := 0; i < b.N; i++ {
				for j := 0; j < perSec; j++ {
					ts := time.Duration(n) * c.step
					n++
					if out, err = d.Derive(out[:0], &media.Packet{Track: c.src, DTS: ts, PTS: ts, Payload: c.pls[j%len(c.pls)]}); err != nil {
						b.Fatal(err)
					}
				}
			}
			cpu := mediatest.CPUTime() - cpu0
			if cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(b.N)*1e9/float64(cpu.Nanoseconds()), "streams/core")
			}
		})
	}
}
