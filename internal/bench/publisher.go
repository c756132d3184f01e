package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/minirtc/minirtc/internal/bench/synth"
)

// pubStats is what a publisher reports; counters are atomic for the
// progress line.
type pubStats struct {
	bytes       atomic.Int64 // media payload bytes written
	videoFrames atomic.Int64
	audioFrames atomic.Int64
	late        atomic.Int64 // frames written more than one frame interval late
	started     time.Time    // first frame written (set before ready is closed)
	stopped     time.Time    // set when publishRTMP returns
}

// publishRTMP pushes the synthetic stream to an RTMP URL until ctx ends.
// ready is closed once the first keyframe is written. It returns nil when
// ctx ended the push.
func publishRTMP(ctx context.Context, raw string, vcfg synth.VideoConfig, withAudio bool, timeout time.Duration, ps *pubStats, ready chan<- struct{}) (err error) {
	defer func() { ps.stopped = time.Now() }()
	video, err := synth.NewVideo(vcfg)
	if err != nil {
		return err
	}
	var audio *synth.Audio
	if withAudio {
		if audio, err = synth.NewAudio(synth.AudioConfig{}); err != nil {
			return err
		}
	}
	u, err := rtmpClientURL(raw)
	if err != nil {
		return err
	}
	c := &gortmplib.Client{URL: u, Publish: true}
	dialCtx, cancel := context.WithTimeout(ctx, timeout)
	err = c.Initialize(dialCtx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("rtmp publish: %w", err)
	}
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()
	defer c.Close()
	// The publisher never reads: a server sends it only small control
	// messages, which the socket buffer holds, and reading on another
	// goroutine would race with gortmplib's writer (it answers pings and
	// acknowledgements from the read path).

	vt := &gortmplib.Track{Codec: &codecs.H264{SPS: video.SPS(), PPS: video.PPS()}}
	tracks := []*gortmplib.Track{vt}
	var at *gortmplib.Track
	if audio != nil {
		var asc mpeg4audio.AudioSpecificConfig
		if err := asc.Unmarshal(audio.AudioSpecificConfig()); err != nil {
			return fmt.Errorf("rtmp publish: audio config: %w", err)
		}
		at = &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: &asc}}
		tracks = append(tracks, at)
	}
	nc := c.NetConn()
	if err := nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("rtmp publish: %w", err)
	}
	w := &gortmplib.Writer{Conn: c, Tracks: tracks}
	if err := w.Initialize(); err != nil {
		return publishEnd(ctx, err)
	}

	fps := video.Config().FPS
	frameDur := time.Second / time.Duration(fps)
	start := time.Now()
	var nextVideo, nextAudio time.Duration // offsets from start
	timer := time.NewTimer(0)
	defer timer.Stop()
	var vframes int64
	for {
		due := nextVideo
		if audio != nil && nextAudio < due {
			due = nextAudio
		}
		if wait := time.Until(start.Add(due)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		now := time.Now()
		if err := nc.SetWriteDeadline(now.Add(timeout)); err != nil {
			return fmt.Errorf("rtmp publish: %w", err)
		}
		if audio != nil && nextAudio <= nextVideo {
			au, pts := audio.Next()
			if err := w.WriteMPEG4Audio(at, pts, au); err != nil {
				return publishEnd(ctx, err)
			}
			ps.bytes.Add(int64(len(au) + 2))
			ps.audioFrames.Add(1)
			nextAudio = pts + audio.FrameDuration()
			continue
		}
		if now.Sub(start.Add(nextVideo)) > frameDur {
			ps.late.Add(1)
		}
		f := video.Next(now)
		if err := w.WriteH264(vt, f.PTS, f.PTS, f.NALUs); err != nil {
			return publishEnd(ctx, err)
		}
		n := 5
		for _, nalu := range f.NALUs {
			n += 4 + len(nalu)
		}
		ps.bytes.Add(int64(n))
		ps.videoFrames.Add(1)
		vframes++
		nextVideo = time.Duration(vframes) * time.Second / time.Duration(fps)
		if vframes == 1 {
			ps.started = now
			close(ready)
		}
	}
}

func publishEnd(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("rtmp publish: %w", err)
}
