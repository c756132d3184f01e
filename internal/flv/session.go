package flv

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/minirtc/minirtc/internal/media"
)

// session is one FLV viewer: it drains its reader and writes tag batches.
type session struct {
	srv    *Server
	cancel context.CancelFunc
	log    *slog.Logger
	rd     *media.Reader
	// writing is set once the response started (see OnClose in ServeHTTP).
	writing atomic.Bool
}

// run writes the stream until the reader ends, the viewer goes away or ctx
// is cancelled. The returned error is the close reason.
func (ss *session) run(ctx context.Context, out sink) error {
	var (
		batch   []*media.Packet
		bufs    [][]byte
		scratch []byte
		started bool
		last    [2]*media.Track
		err     error
		timer   *time.Timer

		drops    uint64 // drops already reported
		dropsLog time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		batch, err = ss.rd.Next(ctx, batch[:0])
		if len(batch) == 0 {
			if !started && err != nil && !errors.Is(err, context.Canceled) {
				out.fail(err)
			}
			return err
		}
		bufs = bufs[:0]
		scratch = scratch[:0]
		if !started {
			started = true
			ss.writing.Store(true)
			if err := out.start(); err != nil {
				return err
			}
			video, audio := ss.rd.Tracks()
			ts := Timestamp(batch[0].DTS)
			scratch = append(scratch, Header(video != nil, audio != nil)...)
			scratch = AppendTag(scratch, TagScript, ts, MetaData(video, audio))
			for _, t := range []*media.Track{video, audio} {
				if t == nil {
					continue
				}
				if body := CachedSequenceHeader(t); body != nil {
					scratch = AppendTag(scratch, TagType(t.Kind()), ts, body)
				}
				last[t.Kind()] = t
			}
			bufs = append(bufs, scratch)
		}
		for _, p := range batch {
			if k := p.Kind(); last[k] != p.Track {
				last[k] = p.Track
				if body := CachedSequenceHeader(p.Track); body != nil {
					// Its own allocation: scratch may already be referenced by bufs.
					bufs = append(bufs, AppendTag(nil, TagType(k), Timestamp(p.DTS), body))
				}
			}
			bufs = append(bufs, PacketTag(p)...)
		}
		clear(batch)
		if err := out.write(bufs); err != nil {
			return err
		}
		// Skipped packets are logged at most once a second.
		if now := time.Now(); now.Sub(dropsLog) >= time.Second {
			if d := ss.rd.Drops(); d != drops {
				ss.log.Info("flv viewer too slow, skipped packets", "skipped", d-drops, "total", d)
				drops, dropsLog = d, now
			}
		}
		if iv := ss.srv.cfg.BatchInterval; iv > 0 {
			if timer == nil {
				timer = time.NewTimer(iv)
			} else {
				timer.Reset(iv)
			}
			select {
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}
