package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
)

// makeSource encodes a test clip once (as a live-pusher would) and returns
// its path and its frame counts.
func makeSource(t *testing.T, seconds float64, video, audio bool) (string, flvStats) {
	t.Helper()
	return makeSourceGOP(t, seconds, video, audio, 50)
}

// makeSourceGOP is makeSource with another keyframe interval (frames).
func makeSourceGOP(t *testing.T, seconds float64, video, audio bool, gop int) (string, flvStats) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "src.flv")
	args := publishArgsGOP(path, seconds, video, audio, gop)
	args = append([]string{"-y"}, args...)
	// not -re for the file
	for i, a := range args {
		if a == "-re" {
			args = append(args[:i:i], args[i+1:]...)
			break
		}
	}
	if err := runWait(exec.Command(needTool(t, "ffmpeg"), args...)); err != nil {
		t.Fatal(err)
	}
	return path, readFLV(t, path)
}

// pushFile publishes a recorded clip in real time without re-encoding.
func pushFile(ctx context.Context, t *testing.T, src, url string) *exec.Cmd {
	return exec.CommandContext(ctx, needTool(t, "ffmpeg"), "-hide_banner", "-loglevel", "error",
		"-re", "-i", src, "-c", "copy", "-f", "flv", url)
}

func waitReaders(t *testing.T, hub *media.Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for hub.Stats().Readers < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d readers connected, want %d", hub.Stats().Readers, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func probe(t *testing.T, path string) []probeStream {
	t.Helper()
	out, err := exec.Command(needTool(t, "ffprobe"), "-v", "error", "-show_streams", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return parseProbe(t, out)
}

// parseProbe reads ffprobe's -show_streams -of json output.
func parseProbe(t *testing.T, out []byte) []probeStream {
	t.Helper()
	var res struct{ Streams []probeStream }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res.Streams
}

// TestMediaPublishPlay: players connect over RTMP and HTTP-FLV before the
// publisher; ffmpeg publishes H.264+AAC; both players receive every frame
// from the first keyframe on, with monotonic timestamps and the right
// codecs; after the publisher leaves and the grace period passes, the players
// are closed and MediaStopped is reported.
func TestMediaPublishPlay(t *testing.T) {
	for _, tc := range []struct {
		name         string
		video, audio bool
	}{
		{"av", true, true},
		{"audio-only", false, true},
		{"video-only", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newMediaEnv(t, media.Config{Grace: 500 * time.Millisecond})
			src, want := makeSource(t, 3, tc.video, tc.audio)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()

			dir := t.TempDir()
			outs := map[string]string{
				"rtmp": filepath.Join(dir, "rtmp.flv"),
				"flv":  filepath.Join(dir, "http.flv"),
			}
			players := map[string]*exec.Cmd{
				"rtmp": recordCmd(ctx, t, env.rtmpURL(token.ActionPlay, "42"), outs["rtmp"]),
				"flv":  recordCmd(ctx, t, env.flvURL("42"), outs["flv"]),
			}
			var wg sync.WaitGroup
			errs := make(map[string]error)
			var mu sync.Mutex
			for name, cmd := range players {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := runWait(cmd)
					mu.Lock()
					errs[name] = err
					mu.Unlock()
				}()
			}
			waitReaders(t, env.hub, 2)

			if err := runWait(pushFile(ctx, t, src, env.rtmpURL(token.ActionPublish, "42"))); err != nil {
				t.Fatal(err)
			}
			env.obs.wait(t, "started:42", 5*time.Second)
			env.obs.wait(t, "paused:42", 5*time.Second)
			env.obs.wait(t, "stopped:42", 10*time.Second)
			wg.Wait()

			for name, out := range outs {
				if errs[name] != nil {
					t.Errorf("%s player: %v", name, errs[name])
					continue
				}
				got := readFLV(t, out)
				if got.video != want.video || got.audio != want.audio {
					t.Errorf("%s: %d video / %d audio frames, published %d / %d", name, got.video, got.audio, want.video, want.audio)
				}
				if tc.video && !got.firstVideoKey {
					t.Errorf("%s: first video frame is not a keyframe", name)
				}
				if !got.monotonic {
					t.Errorf("%s: timestamps not monotonic", name)
				}
				streams := probe(t, out)
				var sawV, sawA bool
				for _, s := range streams {
					switch s.CodecType {
					case "video":
						sawV = true
						if s.CodecName != "h264" || s.Width != 320 || s.Height != 240 {
							t.Errorf("%s: video %+v", name, s)
						}
					case "audio":
						sawA = true
						if s.CodecName != "aac" || s.SampleRate != "44100" {
							t.Errorf("%s: audio %+v", name, s)
						}
					}
				}
				if sawV != tc.video || sawA != tc.audio {
					t.Errorf("%s: streams %+v, want video=%v audio=%v", name, streams, tc.video, tc.audio)
				}
			}
		})
	}
}
