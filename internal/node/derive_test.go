package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os/exec"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
	"github.com/thesyncim/gopus"
)

// transcoders reads the minirtc_transcoder_streams gauge of direction.
func transcoders(t *testing.T, n *Node, direction string) float64 {
	t.Helper()
	mfs, err := n.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "minirtc_transcoder_streams" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "direction" && l.GetValue() == direction {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// TestOpusPublisherAACReader: an enhanced-RTMP publisher sends Opus (a
// 440 Hz tone); while nobody plays no transcoder runs; an ffmpeg RTMP
// player (it lists no Opus support in its connect) gets AAC it decodes to the tone; when it
// leaves the derivation stops (hub stats and the transcoder gauge). Then the
// same with an HTTP-FLV player.
func TestOpusPublisherAACReader(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg is required: %v", err)
	}
	n, err := NewWithStore(testConfig(t), slog.New(slog.NewTextHandler(io.Discard, nil)), store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	app, _ := n.CreatedDefaultApp()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stopNode := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	defer func() {
		stopNode()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	ref := channel.Ref{App: app.ID, Channel: "room", UID: 42, Endpoint: nopEndpoint{}}
	if _, err := n.Channels().Join(channel.JoinRequest{App: app.ID, Channel: "room", UID: 42, Role: channel.RoleBroadcaster, Endpoint: ref.Endpoint}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Channels().Publish(ref, "rtmp"); err != nil {
		t.Fatal(err)
	}
	stream := token.StreamName(app.ID, "room", "42")
	exp := time.Now().Add(time.Hour)
	u, err := url.Parse(fmt.Sprintf("rtmp://%s/live/%s?%s", n.RTMPAddr(), stream, n.Signer().Query(token.ActionPublish, stream, exp)))
	if err != nil {
		t.Fatal(err)
	}

	// The publisher: 20 ms Opus packets of a stereo 440 Hz tone, in real time.
	pub := &gortmplib.Client{URL: u, Publish: true}
	if err := pub.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: 48000, Channels: 2, Application: gopus.ApplicationAudio})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Write(&message.AudioExSequenceStart{ChunkStreamID: 4, MessageStreamID: 0x1000000, FourCC: message.FourCCOpus,
		OpusConfig: &opus.IDHeader{Version: 1, ChannelCount: 2, InputSampleRate: 48000}}); err != nil {
		t.Fatal(err)
	}
	pubErr := make(chan error, 1)
	go func() {
		pcm := make([]float32, 960*2)
		buf := make([]byte, 1500)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			for j := range 960 {
				v := float32(0.4 * math.Sin(2*math.Pi*440*float64(i*960+j)/48000))
				pcm[2*j], pcm[2*j+1] = v, v
			}
			k, err := enc.Encode(pcm, buf)
			if err != nil {
				pubErr <- err
				return
			}
			if err := pub.Write(&message.AudioExCodedFrames{ChunkStreamID: 4, MessageStreamID: 0x1000000,
				DTS: time.Duration(i) * 20 * time.Millisecond, FourCC: message.FourCCOpus, Payload: bytes.Clone(buf[:k])}); err != nil {
				pubErr <- err
				return
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				pubErr <- nil
				return
			}
		}
	}()
	defer func() { cancel(); <-pubErr }()

	key := media.Key{AppID: app.ID, Channel: "room", UID: "42"}
	hub := n.Media()
	waitFor(t, "the Opus stream to go live", func() bool {
		for _, s := range hub.Streams() {
			if s.Key == key && s.Live && s.Audio != nil && s.Audio.Codec == media.CodecOpus {
				return true
			}
		}
		return false
	})
	time.Sleep(200 * time.Millisecond)
	if d := hub.Stats().Derivations; d != 0 || transcoders(t, n, "opus_to_aac") != 0 {
		t.Fatalf("transcoding for nobody: %d derivations", d)
	}

	players := []struct{ name, url string }{
		{"rtmp", fmt.Sprintf("rtmp://%s/live/%s?%s", n.RTMPAddr(), stream, n.Signer().Query(token.ActionPlay, stream, exp))},
		{"http-flv", fmt.Sprintf("http://%s/live/%s.flv?%s", n.HTTPAddr(), stream, n.Signer().Query(token.ActionPlay, stream, exp))},
	}
	for _, p := range players {
		t.Run(p.name, func(t *testing.T) { playAAC(t, ffmpeg, n, p.url, pubErr) })
	}
}

// playAAC plays url with ffmpeg for 3 s of audio decoded to 48 kHz mono PCM
// and checks the derivation runs while it plays, the audio is the 440 Hz
// tone, and the derivation stops once the player left.
func playAAC(t *testing.T, ffmpeg string, n *Node, playURL string, pubErr <-chan error) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	hub := n.Media()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-analyzeduration", "500000",
		"-i", playURL, "-t", "3", "-vn", "-ac", "1", "-ar", "48000", "-f", "s16le", "-")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	playDone := make(chan error, 1)
	go func() { playDone <- cmd.Wait() }()
	sawRunning := false
	for !sawRunning {
		select {
		case err := <-playDone:
			t.Fatalf("ffmpeg ended before the derivation was seen: %v %s", err, errOut.String())
		case err := <-pubErr:
			t.Fatalf("publisher: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if hub.Stats().Derivations == 1 && transcoders(t, n, "opus_to_aac") == 1 {
			sawRunning = true
		}
	}
	ss := hub.Streams()
	if len(ss) != 1 || len(ss[0].Derived) != 1 || ss[0].Derived[0].Codec != media.CodecAAC || ss[0].Derived[0].From != media.CodecOpus {
		t.Fatalf("derived tracks: %+v", ss)
	}
	if err := <-playDone; err != nil {
		t.Fatalf("ffmpeg: %v %s", err, errOut.String())
	}
	pcm := out.Bytes()
	if len(pcm) < 2*48000*2 {
		t.Fatalf("ffmpeg decoded %d bytes of audio, want 3 s", len(pcm))
	}
	// The tone's level and pitch over the last second.
	last := pcm[len(pcm)-2*48000:]
	var sum float64
	crossings := 0
	prev := int16(0)
	for i := 0; i+1 < len(last); i += 2 {
		v := int16(binary.LittleEndian.Uint16(last[i:]))
		sum += float64(v) * float64(v)
		if prev < 0 && v >= 0 {
			crossings++
		}
		prev = v
	}
	rms := math.Sqrt(sum/float64(len(last)/2)) / 32768
	if rms < 0.1 || crossings < 430 || crossings > 450 {
		t.Fatalf("decoded AAC: rms %.3f, %d upward zero crossings in 1 s: want a 440 Hz tone, not silence", rms, crossings)
	}

	// The player left: the derivation stops.
	waitFor(t, "the derivation to stop", func() bool {
		return hub.Stats().Derivations == 0 && transcoders(t, n, "opus_to_aac") == 0
	})
	if ss := hub.Streams(); len(ss) != 1 || len(ss[0].Derived) != 0 || len(ss[0].Readers) != 0 {
		t.Fatalf("after the player left: %+v", ss)
	}
}
