package rtmp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/minirtc/minirtc/internal/flv"
	"github.com/minirtc/minirtc/internal/media"
)

// player writes a reader's packets to one RTMP viewer.
type player struct {
	nc       net.Conn
	rd       *media.Reader
	timeout  time.Duration
	interval time.Duration // minimum time between two writes (batching)

	firstWrite func() // benchmarks: called after the first write
	log        *slog.Logger

	drops    uint64 // drops already reported
	dropsLog time.Time
}

// reportDrops logs, at most once a second, how many packets the viewer
// skipped because it fell behind.
func (pl *player) reportDrops(now time.Time) {
	if now.Sub(pl.dropsLog) < time.Second {
		return
	}
	if d := pl.rd.Drops(); d != pl.drops {
		pl.log.Info("rtmp viewer too slow, skipped packets", "skipped", d-pl.drops, "total", d)
		pl.drops = d
		pl.dropsLog = now
	}
}

// run writes until the reader ends, the write fails or ctx is cancelled.
func (pl *player) run(ctx context.Context) error {
	var (
		batch   []*media.Packet
		bufs    [][]byte
		started bool
		last    [2]*media.Track
		err     error

		deadline time.Time // write deadline, refreshed at most once a second
		timer    *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		batch, err = pl.rd.Next(ctx, batch[:0])
		if len(batch) == 0 {
			return err
		}
		bufs = bufs[:0]
		if !started {
			started = true
			video, audio := pl.rd.Tracks()
			ts := flv.Timestamp(batch[0].DTS)
			bufs = appendMessage(bufs, csidData, ts, msgTypeData, nil, flv.MetaData(video, audio))
			for _, t := range []*media.Track{video, audio} {
				if t == nil {
					continue
				}
				bufs = appendSequenceHeader(bufs, t, ts)
				last[t.Kind()] = t
			}
		}
		for _, p := range batch {
			if k := p.Kind(); last[k] != p.Track {
				last[k] = p.Track
				bufs = appendSequenceHeader(bufs, p.Track, flv.Timestamp(p.DTS))
			}
			bufs = append(bufs, packetChunks(p)...)
		}
		clear(batch)
		now := time.Now()
		if d := now.Add(pl.timeout); d.Sub(deadline) > time.Second {
			deadline = d
			_ = pl.nc.SetWriteDeadline(deadline)
		}
		nb := net.Buffers(bufs)
		if _, err := nb.WriteTo(pl.nc); err != nil {
			return fmt.Errorf("rtmp: write: %w", err)
		}
		if pl.firstWrite != nil {
			pl.firstWrite()
			pl.firstWrite = nil
		}
		pl.reportDrops(now)
		// Batching: let packets gather for a moment before the next write, so
		// that a viewer costs one syscall per interval rather than per frame.
		if pl.interval > 0 {
			if timer == nil {
				timer = time.NewTimer(pl.interval)
			} else {
				timer.Reset(pl.interval)
			}
			select {
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

func appendSequenceHeader(bufs [][]byte, t *media.Track, ts uint32) [][]byte {
	body := flv.CachedSequenceHeader(t)
	if body == nil {
		return bufs
	}
	csid, typ := csidFor(t.Kind())
	return appendMessage(bufs, csid, ts, typ, nil, body)
}
