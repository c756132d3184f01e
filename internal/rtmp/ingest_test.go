package rtmp

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/minirtc/minirtc/internal/media"
)

func avcConfig(sps, pps []byte) *message.Video {
	return &message.Video{Codec: message.CodecH264, Type: message.VideoTypeConfig, IsKeyFrame: true,
		AVCConfig: &mp4.AVCDecoderConfiguration{
			NumOfSequenceParameterSets: 1, SequenceParameterSets: []mp4.AVCParameterSet{{Length: uint16(len(sps)), NALUnit: sps}},
			NumOfPictureParameterSets: 1, PictureParameterSets: []mp4.AVCParameterSet{{Length: uint16(len(pps)), NALUnit: pps}},
		}}
}

func aacConfig() *message.Audio {
	return &message.Audio{Codec: message.CodecMPEG4Audio, AACType: message.AudioAACTypeConfig,
		AACConfig: &mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 44100, ChannelConfig: 2}}
}

func aacFrame(ms int) *message.Audio {
	return &message.Audio{Codec: message.CodecMPEG4Audio, AACType: message.AudioAACTypeAU, DTS: time.Duration(ms) * time.Millisecond, AU: []byte{0x21, 0}}
}

func avcFrame(ms int, key bool, au []byte) *message.Video {
	return &message.Video{Codec: message.CodecH264, Type: message.VideoTypeAU, IsKeyFrame: key, DTS: time.Duration(ms) * time.Millisecond, AU: au}
}

func metadata(video, audio bool) *message.DataAMF0 {
	o := amf0.Object{{Key: "duration", Value: 0.0}}
	if video {
		o = append(o, amf0.ObjectEntry{Key: "videocodecid", Value: 7.0})
	}
	if audio {
		o = append(o, amf0.ObjectEntry{Key: "audiocodecid", Value: 10.0})
	}
	return &message.DataAMF0{Payload: amf0.Data{"@setDataFrame", "onMetaData", o}}
}

// TestIngestStartup: the hub learns the publisher's tracks from the first
// packets: metadata says what to wait for; without it, a missing track is
// waited for up to startupSpan of media.
func TestIngestStartup(t *testing.T) {
	sps := benchVideo.SPS[0]
	pps := benchVideo.PPS[0]
	idr := []byte{0, 0, 0, 2, 0x65, 0}
	cases := []struct {
		name      string
		msgs      []message.Message
		wantVideo bool
		wantAudio bool
		wantLive  bool
	}{
		{"metadata av", []message.Message{metadata(true, true), avcConfig(sps, pps), aacConfig(), aacFrame(0), avcFrame(0, true, idr)}, true, true, true},
		{"metadata audio-only starts at once", []message.Message{metadata(false, true), aacConfig(), aacFrame(0)}, false, true, true},
		{"no metadata waits for video", []message.Message{aacConfig(), aacFrame(0), aacFrame(23)}, false, false, false},
		{"no metadata audio-only after startup span", []message.Message{aacConfig(), aacFrame(0), aacFrame(500), aacFrame(1000)}, false, true, true},
		{"camera off: AVC config without frames", []message.Message{metadata(true, true), avcConfig(sps, pps), aacConfig(), aacFrame(0), aacFrame(1000)}, false, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hub, err := media.NewHub(media.Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer hub.Close()
			key := media.Key{AppID: "a", Channel: "c", UID: "1"}
			pub, _ := hub.Publish(key, nil)
			r, _ := hub.Subscribe(key, media.SubscribeOptions{})
			in := newIngest(pub)
			for _, m := range c.msgs {
				if err := in.handle(m); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			got, _ := r.Next(ctx, nil)
			if live := len(got) > 0; live != c.wantLive {
				t.Fatalf("live %v (%d packets), want %v", live, len(got), c.wantLive)
			}
			if !c.wantLive {
				return
			}
			v, a := r.Tracks()
			if (v != nil) != c.wantVideo || (a != nil) != c.wantAudio {
				t.Fatalf("tracks video %v audio %v", v != nil, a != nil)
			}
			if a != nil && (a.SampleRate != 44100 || a.Channels != 2 || len(a.Config) == 0) {
				t.Fatalf("audio track %+v", a)
			}
			if v != nil && (v.Width != 320 || v.Height != 240 || len(v.Config) == 0) {
				t.Fatalf("video track %+v", v)
			}
		})
	}
}

// TestIngestInBandParameterSets: new SPS/PPS inside an IDR make a new track
// (readers then get a new sequence header); repeated identical ones do not.
func TestIngestInBandParameterSets(t *testing.T) {
	hub, _ := media.NewHub(media.Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer hub.Close()
	pub, _ := hub.Publish(media.Key{UID: "1"}, nil)
	in := newIngest(pub)
	sps, pps := benchVideo.SPS[0], benchVideo.PPS[0]
	for _, m := range []message.Message{metadata(true, false), avcConfig(sps, pps)} {
		_ = in.handle(m)
	}
	first := in.video
	withSets := func(s []byte) []byte {
		au := []byte{0, 0, 0, byte(len(s))}
		au = append(au, s...)
		au = append(au, 0, 0, 0, byte(len(pps)))
		au = append(au, pps...)
		return append(au, 0, 0, 0, 2, 0x65, 0)
	}
	_ = in.handle(avcFrame(0, true, withSets(sps)))
	if in.video != first {
		t.Fatal("identical in-band parameter sets replaced the track")
	}
	other := append([]byte(nil), sps...)
	other[len(other)-1] ^= 0x80
	_ = in.handle(avcFrame(40, true, withSets(other)))
	if in.video == first || string(in.video.SPS[0]) != string(other) {
		t.Fatal("new in-band SPS did not make a new track")
	}
}

// TestIngestAACChannels: an AAC sequence header without a usable channel
// count ends the publish with a clear reason at the header (issue #13 item
// 7), in both the legacy and the enhanced RTMP forms; valid ones give the
// track its channel count (configuration 7 is 8 channels).
func TestIngestAACChannels(t *testing.T) {
	hub, _ := media.NewHub(media.Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer hub.Close()
	for i, tc := range []struct {
		name     string
		conf     mpeg4audio.AudioSpecificConfig
		enhanced bool
		channels int // 0: refused
	}{
		{"legacy channelConfiguration 0", mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 44100, ChannelConfig: 0}, false, 0},
		{"enhanced channelConfiguration 0", mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 44100, ChannelConfig: 0}, true, 0},
		{"legacy stereo", mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 44100, ChannelConfig: 2}, false, 2},
		{"enhanced 7.1", mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 48000, ChannelConfig: 7}, true, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := hub.Publish(media.Key{UID: string(rune('1' + i))}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close(nil)
			in := newIngest(pub)
			conf := tc.conf
			var m message.Message = &message.Audio{Codec: message.CodecMPEG4Audio, AACType: message.AudioAACTypeConfig, AACConfig: &conf}
			if tc.enhanced {
				m = &message.AudioExSequenceStart{FourCC: message.FourCCMP4A, AACConfig: &conf}
			}
			err = in.handle(m)
			if tc.channels == 0 {
				if err == nil || !strings.Contains(err.Error(), "channelConfiguration 0") {
					t.Fatalf("err = %v, want the refusal of channelConfiguration 0", err)
				}
				if in.audio != nil {
					t.Fatalf("audio track installed: %+v", in.audio)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if in.audio == nil || in.audio.Channels != tc.channels {
				t.Fatalf("track %+v, want %d channels", in.audio, tc.channels)
			}
		})
	}
}
