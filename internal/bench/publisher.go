package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
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
	acks        atomic.Int64 // acknowledgements the server sent
	pings       atomic.Int64 // ping requests the server sent (answered)
	fromServer  atomic.Int64 // bytes the server sent after the publish was accepted
	started     time.Time    // first frame written (set before ready is closed)
	stopped     time.Time    // set when publishRTMP returns
}

// pubOptions configures publishRTMP.
type pubOptions struct {
	video   synth.VideoConfig
	audio   bool
	timeout time.Duration
	// ackWindow, when set, asks the server to acknowledge every ackWindow
	// bytes (RTMP Window Acknowledgement Size; gortmplib's client asks for
	// 2.5 MB). Tests make the server acknowledge often.
	ackWindow uint32
}

// publishRTMP pushes the synthetic stream to an RTMP URL until ctx ends.
// ready is closed once the first keyframe is written. It returns nil when
// ctx ended the push.
//
// What the server sends is read all the time by the connection's drainer
// and parsed between frames (see drainConn), so acknowledgements, pings and
// window sizes are handled at any bitrate, and a server that ends the
// publish (error status, closed connection) ends it here at once.
func publishRTMP(ctx context.Context, raw string, o pubOptions, ps *pubStats, ready chan<- struct{}) (err error) {
	defer func() { ps.stopped = time.Now() }()
	video, err := synth.NewVideo(o.video)
	if err != nil {
		return err
	}
	var audio *synth.Audio
	if o.audio {
		if audio, err = synth.NewAudio(synth.AudioConfig{}); err != nil {
			return err
		}
	}
	u, err := rtmpClientURL(raw)
	if err != nil {
		return err
	}
	timeout := o.timeout
	dd := &drainDialer{timeout: timeout}
	defer dd.closeAndWait()
	c := &gortmplib.Client{URL: u, Publish: true, DialContext: dd.dial}
	dialCtx, cancel := context.WithTimeout(ctx, timeout)
	err = c.Initialize(dialCtx)
	// Either clock may run out first: the dial context's, or the drainer's
	// own read timeout while the handshake waits for the server.
	timedOut := dialCtx.Err() != nil || errors.Is(err, errDrainTimeout)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		if timedOut { // gortmplib closed the socket: say why
			return fmt.Errorf("rtmp publish: not accepted within %v (connect, handshake and publish command)", timeout)
		}
		return fmt.Errorf("rtmp publish: %w", err)
	}
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()
	defer c.Close()
	dc := dd.last()
	fromServer0 := dc.received() - int64(dc.pending())
	// serve parses what the server sent so far.
	serve := func() error {
		// A bounded number per call: a server that floods the publisher
		// must not starve the stream.
		for n := 0; n < 64 && dc.pending() > 0; n++ {
			msg, err := c.Read()
			if err != nil {
				return publishEnd(ctx, err)
			}
			if err := ps.fromServerMessage(msg); err != nil {
				return err
			}
		}
		ps.fromServer.Store(dc.received() - fromServer0)
		if err := dc.readErr(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return errors.New("rtmp publish: the server closed the connection")
			}
			return fmt.Errorf("rtmp publish: %w", err)
		}
		return nil
	}
	if o.ackWindow > 0 {
		if err := c.Write(&message.SetWindowAckSize{Value: o.ackWindow}); err != nil {
			return publishEnd(ctx, err)
		}
	}

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
		for wait := time.Until(start.Add(due)); wait > 0; wait = time.Until(start.Add(due)) {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			case <-dc.notify:
				// The server sent something: answer it now rather than
				// at the next frame (a ping's round trip counts). Reset
				// above re-arms the timer (Go 1.23 timers need no drain).
				timer.Stop()
			}
			if err := serve(); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := serve(); err != nil {
			return err
		}
		now := time.Now()
		if err := nc.SetWriteDeadline(now.Add(timeout)); err != nil {
			// The run's end may close the connection between the check above and here.
			return publishEnd(ctx, err)
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

// fromServerMessage accounts for one message from the server and ends the
// publish when the server reports an error. gortmplib itself applies
// window and chunk sizes and answers acknowledgement windows and pings.
func (ps *pubStats) fromServerMessage(msg message.Message) error {
	switch m := msg.(type) {
	case *message.Acknowledge:
		ps.acks.Add(1)
	case *message.UserControlPingRequest:
		ps.pings.Add(1)
	case *message.CommandAMF0:
		if m.Name == "_error" || (m.Name == "onStatus" && statusLevel(m) == "error") {
			return fmt.Errorf("rtmp publish: the server ended the publish: %s", statusText(m))
		}
	}
	return nil
}

// statusLevel returns the "level" of an onStatus/_error info object.
func statusLevel(m *message.CommandAMF0) string {
	for _, a := range m.Arguments {
		if o, ok := amfObject(a); ok {
			if v, ok := o.GetString("level"); ok {
				return v
			}
		}
	}
	return ""
}

// statusText returns "code: description" of an onStatus/_error info object.
func statusText(m *message.CommandAMF0) string {
	for _, a := range m.Arguments {
		if o, ok := amfObject(a); ok {
			code, _ := o.GetString("code")
			desc, _ := o.GetString("description")
			return strings.TrimSuffix(code+": "+desc, ": ")
		}
	}
	return m.Name
}

func amfObject(v any) (amf0.Object, bool) {
	switch o := v.(type) {
	case amf0.Object:
		return o, true
	case amf0.ECMAArray:
		return amf0.Object(o), true
	}
	return nil, false
}

func publishEnd(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("rtmp publish: %w", err)
}
