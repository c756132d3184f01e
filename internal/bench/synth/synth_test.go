package synth

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minirtc/minirtc/codec/aac"
)

// run executes a tool and returns stdout; stderr must be empty (ffmpeg at
// -v error prints nothing for a clean stream).
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Fatalf("%s %s reported:\n%s", name, strings.Join(args, " "), s)
	}
	return stdout.String()
}

func countFrames(t *testing.T, path, stream string) int {
	t.Helper()
	out := run(t, "ffprobe", "-v", "error", "-count_frames", "-select_streams", stream,
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path)
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(out), ",")))
	if err != nil {
		t.Fatalf("ffprobe frame count %q: %v", out, err)
	}
	return n
}

func TestVideoDecodesInFFmpeg(t *testing.T) {
	cases := []struct {
		name   string
		cfg    VideoConfig
		frames int
	}{
		{"default-no-padding", VideoConfig{}, 75},
		{"320x240-500k-gop30", VideoConfig{Width: 320, Height: 240, FPS: 30, GOP: 30, Bitrate: 500_000}, 90},
		{"176x144-15fps-gop1", VideoConfig{Width: 176, Height: 144, FPS: 15, GOP: 1, Bitrate: 100_000}, 20},
		{"640x480-2M-gop45", VideoConfig{Width: 640, Height: 480, FPS: 25, GOP: 45, Bitrate: 2_000_000}, 100},
		{"32x32-mostly-pcm", VideoConfig{Width: 32, Height: 32, FPS: 10, GOP: 5, Bitrate: 100_000}, 40},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVideo(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var annexB []byte
			avccBytes := 0
			start := time.Unix(1_700_000_000, 0)
			for i := range tc.frames {
				f := v.Next(start.Add(time.Duration(i) * time.Millisecond))
				if f.Key != (i%v.Config().GOP == 0) {
					t.Fatalf("frame %d: key=%v", i, f.Key)
				}
				annexB = f.AppendAnnexB(annexB)
				avcc := f.AppendAVCC(nil)
				avccBytes += len(avcc)
				st, ok, info := ParseStampAVCC(avcc)
				if !ok || st.Seq != uint64(i) || !st.Sent.Equal(start.Add(time.Duration(i)*time.Millisecond)) {
					t.Fatalf("frame %d: stamp %+v ok=%v", i, st, ok)
				}
				if info.IDR != f.Key || info.SPS != f.Key || info.PPS != f.Key || info.Malformed {
					t.Fatalf("frame %d: info %+v", i, info)
				}
			}
			path := filepath.Join(t.TempDir(), "x.h264")
			if err := os.WriteFile(path, annexB, 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-")
			if n := countFrames(t, path, "v:0"); n != tc.frames {
				t.Fatalf("ffprobe counted %d frames, want %d", n, tc.frames)
			}
			if tc.cfg.Bitrate > 0 {
				got := float64(avccBytes) * 8 * float64(v.Config().FPS) / float64(tc.frames)
				if d := got/float64(tc.cfg.Bitrate) - 1; d < -0.1 || d > 0.1 {
					t.Fatalf("bitrate %.0f bit/s, want %d ±10%%", got, tc.cfg.Bitrate)
				}
			}
		})
	}
}

// TestVideoPixels decodes a stream and checks what every macroblock shows:
// either flat grey (Intra_16x16 DC without residual, or skipped from it) or
// an I_PCM luma ramp over neutral chroma. The first IDR must show both.
func TestVideoPixels(t *testing.T) {
	const w, h, frames = 160, 32, 9
	v, err := NewVideo(VideoConfig{Width: w, Height: h, FPS: 10, GOP: 3, Bitrate: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	var annexB []byte
	for range frames {
		annexB = v.Next(time.Now()).AppendAnnexB(annexB)
	}
	path := filepath.Join(t.TempDir(), "x.h264")
	if err := os.WriteFile(path, annexB, 0o644); err != nil {
		t.Fatal(err)
	}
	raw := []byte(run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"))
	const frameLen = w * h * 3 / 2
	if len(raw) != frames*frameLen {
		t.Fatalf("decoded %d bytes, want %d", len(raw), frames*frameLen)
	}
	for f := range frames {
		pic := raw[f*frameLen : (f+1)*frameLen]
		grey, ramps := 0, 0
		for mby := range h / 16 {
			for mbx := range w / 16 {
				at := func(x, y int) byte { return pic[(mby*16+y)*w+mbx*16+x] }
				chroma := pic[w*h+(mby*8)*(w/2)+mbx*8]
				shift := (int(at(0, 0)) - 16 + 220) % 220 // the ramp's offset, if it is one
				isGrey, isRamp := chroma == 128, chroma == 128
				for y := range 16 {
					for x := range 16 {
						p := at(x, y)
						isGrey = isGrey && p == 128
						isRamp = isRamp && int(p) == 16+(y*16+x+shift)%220
					}
				}
				switch {
				case isGrey:
					grey++
				case isRamp:
					ramps++
				default:
					t.Fatalf("frame %d macroblock (%d,%d) is neither grey nor a ramp", f, mbx, mby)
				}
			}
		}
		if f == 0 && (grey == 0 || ramps == 0) {
			t.Fatalf("IDR has %d grey and %d I_PCM macroblocks, want both", grey, ramps)
		}
	}
}

func TestVideoConfigErrors(t *testing.T) {
	cases := []struct {
		cfg  VideoConfig
		want string
	}{
		{VideoConfig{Width: 100, Height: 240}, "multiples of 16"},
		{VideoConfig{Width: 320, Height: 4096}, "multiples of 16"},
		{VideoConfig{FPS: 500}, "fps"},
		{VideoConfig{GOP: -1}, "gop"},
		{VideoConfig{Bitrate: -5}, "negative"},
		{VideoConfig{Width: 16, Height: 16, FPS: 1, Bitrate: 1_000_000}, "at most"},
	}
	for _, tc := range cases {
		if _, err := NewVideo(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestStampRoundTrip(t *testing.T) {
	cases := []Stamp{
		{Seq: 0, Sent: time.Unix(0, 0)}, // all-zero fields need emulation prevention
		{Seq: 1, Sent: time.Unix(0, 3)},
		{Seq: 0x0000000300000003, Sent: time.Unix(1_800_000_000, 123456789)},
		{Seq: ^uint64(0), Sent: time.Unix(0, 1<<62)},
	}
	for _, st := range cases {
		nal := AppendStampNAL(nil, st)
		got, ok := ParseStampNAL(nal)
		if !ok || got.Seq != st.Seq || !got.Sent.Equal(st.Sent) {
			t.Errorf("%+v: got %+v ok=%v (nal % x)", st, got, ok, nal)
		}
		if bytes.Contains(nal, []byte{0, 0, 0}) || bytes.Contains(nal, []byte{0, 0, 1}) || bytes.Contains(nal, []byte{0, 0, 2}) {
			t.Errorf("%+v: start code emulation in % x", st, nal)
		}
	}
	// Not ours: other UUID, other payload type, truncated.
	other := AppendStampNAL(nil, Stamp{Seq: 5})
	other[5] ^= 0xff
	for _, nal := range [][]byte{other, {6, 4, 32}, AppendStampNAL(nil, Stamp{})[:20], {0x65, 1, 2}} {
		if _, ok := ParseStampNAL(nal); ok {
			t.Errorf("% x parsed as a stamp", nal)
		}
	}
}

func TestAudioDecodesInFFmpeg(t *testing.T) {
	cases := []AudioConfig{{}, {SampleRate: 44100, Channels: 2, Bitrate: 128000, ToneHz: 440}}
	for _, cfg := range cases {
		t.Run(strconv.Itoa(cfg.SampleRate), func(t *testing.T) {
			a, err := NewAudio(cfg)
			if err != nil {
				t.Fatal(err)
			}
			asc, err := aac.ParseAudioSpecificConfig(a.AudioSpecificConfig())
			if err != nil {
				t.Fatal(err)
			}
			var adts []byte
			const frames = 2*loopFrames + 7
			var last time.Duration
			for i := range frames {
				au, pts := a.Next()
				if d := pts - last - a.FrameDuration(); i > 0 && (d < -time.Microsecond || d > time.Microsecond) {
					t.Fatalf("pts step %v, want %v", pts-last, a.FrameDuration())
				}
				last = pts
				adts, err = aac.AppendADTSHeader(adts, aac.ADTSHeader{ProtectionAbsent: true, ObjectType: asc.ObjectType,
					SampleRateIndex: asc.SampleRateIndex, ChannelConfig: asc.ChannelConfig}, len(au))
				if err != nil {
					t.Fatal(err)
				}
				adts = append(adts, au...)
			}
			path := filepath.Join(t.TempDir(), "x.aac")
			if err := os.WriteFile(path, adts, 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-")
			if n := countFrames(t, path, "a:0"); n != frames {
				t.Fatalf("ffprobe counted %d frames, want %d", n, frames)
			}
		})
	}
}

func FuzzParseStampAVCC(f *testing.F) {
	v, err := NewVideo(VideoConfig{Width: 32, Height: 32, FPS: 10, GOP: 2, Bitrate: 20_000})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		f.Add(v.Next(time.Unix(int64(i), 0)).AppendAVCC(nil))
	}
	f.Add([]byte{0, 0, 0, 5, 6, 5, 32})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, au []byte) {
		st, ok, info := ParseStampAVCC(au)
		if ok {
			// A stamp we parsed re-encodes to a stamp that parses the same.
			again, ok2 := ParseStampNAL(AppendStampNAL(nil, st))
			if !ok2 || again.Seq != st.Seq || !again.Sent.Equal(st.Sent) {
				t.Fatalf("round trip of %+v: %+v %v", st, again, ok2)
			}
		}
		_ = info
	})
}

func BenchmarkVideoNext(b *testing.B) {
	for _, br := range []int{0, 500_000, 2_000_000} {
		b.Run(strconv.Itoa(br), func(b *testing.B) {
			v, err := NewVideo(VideoConfig{Bitrate: br})
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			b.ReportAllocs()
			var n int
			for b.Loop() {
				f := v.Next(now)
				for _, u := range f.NALUs {
					n += len(u)
				}
			}
			b.SetBytes(int64(n / max(b.N, 1)))
		})
	}
}

func BenchmarkParseStampAVCC(b *testing.B) {
	v, err := NewVideo(VideoConfig{Bitrate: 500_000})
	if err != nil {
		b.Fatal(err)
	}
	v.Next(time.Now())
	au := v.Next(time.Now()).AppendAVCC(nil)
	b.SetBytes(int64(len(au)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := ParseStampAVCC(au); !ok {
			b.Fatal("no stamp")
		}
	}
}
