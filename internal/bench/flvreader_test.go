package bench

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/bench/synth"
)

// TestFLVReaderFFmpeg muxes the synthetic H.264 stream into FLV with ffmpeg
// and reads it back with our tag reader: every frame must arrive, stamped,
// in order, starting with a decodable keyframe.
func TestFLVReaderFFmpeg(t *testing.T) {
	const frames = 45
	v, err := synth.NewVideo(synth.VideoConfig{Width: 160, Height: 128, FPS: 15, GOP: 15, Bitrate: 200_000})
	if err != nil {
		t.Fatal(err)
	}
	var annexB []byte
	start := time.Now()
	for i := range frames {
		annexB = v.Next(start.Add(time.Duration(i) * time.Millisecond)).AppendAnnexB(annexB)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "x.h264"), filepath.Join(dir, "x.flv")
	if err := os.WriteFile(in, annexB, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-framerate", "15", "-i", in, "-c", "copy", "-f", "flv", out)
	if b, err := cmd.CombinedOutput(); err != nil || len(b) > 0 {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fr := newFLVReader(f)
	if err := fr.readHeader(); err != nil {
		t.Fatal(err)
	}
	s := newSink(start)
	configs, videoTags := 0, 0
	for {
		tag, err := fr.next()
		if err != nil {
			break
		}
		if tag.Type != flvTagVideo {
			continue
		}
		b := tag.Body
		if b[0]&0x0f != 7 {
			t.Fatalf("codec id %d", b[0]&0x0f)
		}
		switch b[1] {
		case 0:
			configs++
			s.config()
		case 1:
			videoTags++
			s.video(b[5:], len(b), time.Duration(tag.Timestamp)*time.Millisecond, start.Add(time.Second))
		}
	}
	if configs != 1 || videoTags != frames {
		t.Fatalf("%d sequence headers and %d video tags, want 1 and %d", configs, videoTags, frames)
	}
	if !s.playing.Load() || s.videoFrames.Load() != frames || s.drops.Load() != 0 || s.unstamped != 0 || s.reordered != 0 {
		t.Fatalf("sink: playing %v frames %d drops %d unstamped %d reordered %d",
			s.playing.Load(), s.videoFrames.Load(), s.drops.Load(), s.unstamped, s.reordered)
	}
	if s.latency.Count() != frames {
		t.Fatalf("%d latency samples", s.latency.Count())
	}
}

// TestSinkDrops feeds a sink a sequence with gaps and a repeat.
func TestSinkDrops(t *testing.T) {
	v, err := synth.NewVideo(synth.VideoConfig{Width: 32, Height: 32, FPS: 10, GOP: 4})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var aus [][]byte
	for range 12 {
		aus = append(aus, v.Next(time.Now()).AppendAVCC(nil))
	}
	s := newSink(start)
	// Frames 1-3 precede any keyframe the reader saw: ignored. Then 4..11
	// with 6 and 7 lost and 9 repeated.
	for _, i := range []int{1, 2, 3, 4, 5, 8, 9, 9, 10, 11} {
		s.video(aus[i], len(aus[i]), noTS, time.Now())
	}
	if s.videoFrames.Load() != 7 || s.drops.Load() != 2 || s.reordered != 1 {
		t.Fatalf("frames %d drops %d reordered %d", s.videoFrames.Load(), s.drops.Load(), s.reordered)
	}
}

func flvTagBytes(typ byte, ts uint32, body []byte) []byte {
	b := []byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body)), byte(ts >> 16), byte(ts >> 8), byte(ts), byte(ts >> 24), 0, 0, 0}
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, uint32(len(body)+11))
}

func FuzzFLVReader(f *testing.F) {
	hdr := []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0}
	good := append(append([]byte(nil), hdr...), flvTagBytes(flvTagVideo, 40, []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65})...)
	good = append(good, flvTagBytes(flvTagAudio, 0x01000020, []byte{0xaf, 1, 1, 2})...)
	f.Add(good)
	f.Add(hdr)
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\xff"))
	f.Add([]byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0, 9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := newFLVReader(bytes.NewReader(data))
		if fr.readHeader() != nil {
			return
		}
		s := newSink(time.Time{})
		for range 1000 {
			tag, err := fr.next()
			if err != nil {
				return
			}
			if len(tag.Body) > maxFLVTag {
				t.Fatalf("tag of %d bytes", len(tag.Body))
			}
			if tag.Type == flvTagVideo && len(tag.Body) >= 5 {
				s.video(tag.Body[5:], len(tag.Body), time.Duration(tag.Timestamp)*time.Millisecond, time.Now())
			}
		}
	})
}

func BenchmarkSinkVideo(b *testing.B) {
	v, err := synth.NewVideo(synth.VideoConfig{Bitrate: 500_000})
	if err != nil {
		b.Fatal(err)
	}
	var aus [][]byte
	for range 60 {
		aus = append(aus, v.Next(time.Now()).AppendAVCC(nil))
	}
	s := newSink(time.Time{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		au := aus[i%len(aus)]
		s.video(au, len(au), noTS, time.Now())
		i++
	}
}

func BenchmarkFLVReader(b *testing.B) {
	body := make([]byte, 2100)
	body[0], body[1] = 0x27, 1
	tag := flvTagBytes(flvTagVideo, 0, body)
	stream := bytes.Repeat(tag, 1000)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		fr := newFLVReader(bytes.NewReader(stream))
		fr.buf = make([]byte, 0, 4096)
		for {
			if _, err := fr.next(); err != nil {
				break
			}
		}
	}
}
