package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"
)

// deadlineEvery is how often a reader pushes its read deadline forward: a
// deadline per message would cost a timer update per frame and reader.
const deadlineEvery = time.Second

// readRTMP plays an RTMP URL with gortmplib's client until ctx ends and
// feeds s. It returns the time the play request was accepted (connect
// latency) and the error that ended it (nil when ctx ended it).
func readRTMP(ctx context.Context, raw string, timeout time.Duration, s *sink) (time.Duration, error) {
	u, err := rtmpClientURL(raw)
	if err != nil {
		return 0, err
	}
	c := &gortmplib.Client{URL: u}
	dialCtx, cancel := context.WithTimeout(ctx, timeout)
	err = c.Initialize(dialCtx)
	timedOut := dialCtx.Err() != nil
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		if timedOut { // gortmplib closed the socket: say why
			return 0, fmt.Errorf("rtmp play: not accepted within %v (connect, handshake and play command)", timeout)
		}
		return 0, fmt.Errorf("rtmp play: %w", err)
	}
	connected := time.Since(s.start)
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()
	defer c.Close()

	nc := c.NetConn()
	var lastDeadline time.Time
	for {
		now := time.Now()
		if now.Sub(lastDeadline) >= deadlineEvery {
			if err := nc.SetReadDeadline(now.Add(timeout)); err != nil {
				if ctx.Err() != nil {
					return connected, nil // the bench closed it
				}
				return connected, fmt.Errorf("rtmp play: %w", err)
			}
			lastDeadline = now
		}
		msg, err := c.Read()
		if err != nil {
			if ctx.Err() != nil {
				return connected, nil
			}
			return connected, fmt.Errorf("rtmp play: %w", err)
		}
		now = time.Now()
		switch m := msg.(type) {
		case *message.Video:
			if m.Codec != message.CodecH264 {
				continue
			}
			switch m.Type {
			case message.VideoTypeConfig:
				if m.AVCConfig != nil && len(m.AVCConfig.SequenceParameterSets) > 0 && len(m.AVCConfig.PictureParameterSets) > 0 {
					s.config()
				}
			case message.VideoTypeAU:
				s.video(m.AU, len(m.AU)+5, m.DTS, now)
			}
		case *message.VideoExSequenceStart:
			s.config()
		case *message.VideoExFramesX:
			s.video(m.Payload, len(m.Payload)+5, m.DTS, now)
		case *message.VideoExCodedFrames:
			s.video(m.Payload, len(m.Payload)+8, m.DTS, now)
		case *message.Audio:
			if m.Codec == message.CodecMPEG4Audio && m.AACType == message.AudioAACTypeAU {
				s.audio(len(m.AU)+2, m.DTS, now)
			}
		case *message.AudioExCodedFrames:
			s.audio(len(m.Payload)+5, m.DTS, now)
		}
	}
}

// readFLV plays an HTTP-FLV URL until ctx ends and feeds s.
func readFLV(ctx context.Context, client *http.Client, raw string, timeout time.Duration, s *sink) (time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errStalled := fmt.Errorf("no data for %v", timeout)
	watchdog := time.AfterFunc(timeout, func() { cancel(errStalled) })
	defer watchdog.Stop()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return 0, fmt.Errorf("flv play: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, flvEnd(ctx, err)
	}
	defer func() { _ = resp.Body.Close() }() // read side: nothing to report
	connected := time.Since(s.start)
	if resp.StatusCode != http.StatusOK {
		return connected, fmt.Errorf("flv play: HTTP %s", resp.Status)
	}
	fr := newFLVReader(resp.Body)
	if err := fr.readHeader(); err != nil {
		return connected, flvEnd(ctx, err)
	}
	lastKick := time.Now()
	for {
		tag, err := fr.next()
		if err != nil {
			return connected, flvEnd(ctx, err)
		}
		now := time.Now()
		if now.Sub(lastKick) >= deadlineEvery {
			watchdog.Reset(timeout)
			lastKick = now
		}
		b := tag.Body
		ts := time.Duration(tag.Timestamp) * time.Millisecond
		switch tag.Type {
		case flvTagVideo:
			if len(b) < 5 {
				continue
			}
			if b[0]&0x80 != 0 { // enhanced FLV: ExVideoTagHeader
				if string(b[1:5]) != "avc1" {
					continue
				}
				switch b[0] & 0x0f {
				case 0: // SequenceStart
					s.config()
				case 1: // CodedFrames (with composition time)
					if len(b) >= 8 {
						s.video(b[8:], len(b), ts, now)
					}
				case 3: // CodedFramesX
					s.video(b[5:], len(b), ts, now)
				}
				continue
			}
			if b[0]&0x0f != 7 { // CodecID 7 = AVC
				continue
			}
			switch b[1] { // AVCPacketType
			case 0:
				s.config()
			case 1:
				s.video(b[5:], len(b), ts, now)
			}
		case flvTagAudio:
			if len(b) >= 2 && b[0]>>4 == 10 && b[1] == 0 {
				continue // AAC sequence header
			}
			s.audio(len(b), ts, now)
		}
	}
}

// flvEnd maps the error that ended an FLV read: nil when the bench stopped
// it, the watchdog's cause when it stalled.
func flvEnd(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	switch {
	case cause == nil:
		return fmt.Errorf("flv play: %w", err)
	case errors.Is(cause, context.Canceled):
		return nil
	default:
		return fmt.Errorf("flv play: %w", cause)
	}
}
