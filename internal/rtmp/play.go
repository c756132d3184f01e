package rtmp

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/minirtc/minirtc/internal/egress"
	"github.com/minirtc/minirtc/internal/flvtag"
	"github.com/minirtc/minirtc/internal/media"
)

// player writes a reader's packets to one RTMP viewer.
//
// Two ways to write: the viewer's own goroutine writes a batch with a
// blocking writev (the first batch, which is the GOP cache, and whenever the
// socket is full); otherwise the viewer is lent to the egress loop, which
// drains it as soon as its reader has data (media.SubscribeOptions.OnQueue) and tries
// one non-blocking writev.
// The fields below the line are owned by whichever of the two currently has
// the viewer: the loop while it is lent (egress.Slot.Lend), the viewer
// goroutine otherwise.
type player struct {
	out      egress.Conn // its Raw is nil: no loop
	rd       *media.Reader
	interval time.Duration // without a loop: least time between two writes (batching)
	slot     *egress.Slot  // nil: the viewer goroutine writes everything

	firstWrite func() // benchmarks: called after the first write
	log        *slog.Logger
	meter      Meter // nil: no metrics

	// prefix (the replies to the play command) and first (the packets
	// queued at play time) make the viewer goroutine's first write.
	prefix []byte
	first  []*media.Packet

	// ---- owned by the egress loop or the viewer goroutine (see above)
	batch    []*media.Packet
	bufs     [][]byte
	started  bool
	last     [2]*media.Track
	pending  [][]byte // the unwritten rest of a batch
	werr     error    // why the loop handed the viewer back, if it failed
	drops    uint64   // drops already reported
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

// prepare turns a batch into chunk buffers: metadata and sequence headers
// first for a new viewer, a sequence header again when a track changes, and
// the packets' shared chunks.
func (pl *player) prepare(batch []*media.Packet) [][]byte {
	bufs := egress.Recycle(pl.bufs, egress.KeepCap)
	if pl.prefix != nil {
		bufs = append(bufs, pl.prefix)
		pl.prefix = nil
	}
	if !pl.started {
		pl.started = true
		video, audio := pl.rd.Tracks()
		ts := flvtag.Timestamp(batch[0].DTS)
		// onMetaData at 0, whatever the stream's clock: players that turn
		// RTMP into FLV (FFmpeg) take a later one for a data stream.
		bufs = appendMessage(bufs, csidData, 0, msgTypeData, nil, flvtag.MetaData(video, audio))
		for _, t := range []*media.Track{video, audio} {
			if t == nil {
				continue
			}
			bufs = appendSequenceHeader(bufs, t, ts)
			pl.last[t.Kind()] = t
		}
	}
	for _, p := range batch {
		if k := p.Kind(); pl.last[k] != p.Track {
			pl.last[k] = p.Track
			bufs = appendSequenceHeader(bufs, p.Track, flvtag.Timestamp(p.DTS))
		}
		// Copy the slice headers: writev consumes its buffers.
		bufs = append(bufs, packetChunks(p)...)
	}
	pl.bufs = bufs
	if pl.meter != nil {
		// Once per batch: the bytes handed to this batch's write.
		pl.meter.BytesOut(batchBytes(bufs))
	}
	return bufs
}

// writeBlocking writes bufs from the viewer goroutine, with a deadline.
func (pl *player) writeBlocking(bufs [][]byte) error {
	if err := pl.out.WriteBlocking(bufs); err != nil {
		return fmt.Errorf("rtmp: write: %w", err)
	}
	if pl.firstWrite != nil {
		pl.firstWrite()
		pl.firstWrite = nil
	}
	pl.reportDrops(time.Now())
	return nil
}

// run writes until the reader ends, a write fails or ctx is cancelled.
func (pl *player) run(ctx context.Context) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// The viewer goroutine's turn: one blocking batch (waiting for the
		// first packets of a held viewer, or for room after a full socket).
		if len(pl.pending) > 0 {
			if err := pl.writeBlocking(pl.pending); err != nil {
				return err
			}
			pl.pending = egress.Recycle(pl.pending, egress.KeepCap)
		} else {
			var err error
			if pl.first != nil {
				pl.batch, pl.first = pl.first, nil
			} else {
				pl.batch, err = pl.rd.Next(ctx, pl.batch[:0])
			}
			if len(pl.batch) == 0 {
				return err
			}
			bufs := pl.prepare(pl.batch)
			pl.batch = egress.Recycle(pl.batch, egress.KeepCap)
			if err := pl.writeBlocking(bufs); err != nil {
				return err
			}
		}
		if pl.slot != nil {
			// Then the loop's, until the socket is full or the reader ends.
			pl.out.ClearDeadline()
			if err := pl.slot.Lend(ctx); err != nil {
				return err
			}
			if pl.werr != nil {
				return pl.werr
			}
			continue
		}
		// No loop: let packets gather for a moment before the next write,
		// so that a viewer costs one syscall per interval rather than per frame.
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

// Flush is the loop's turn for one viewer (egress.Viewer): drain the
// queue and try one non-blocking writev. It reports whether the viewer stays
// with the loop; if not, the viewer goroutine must take over (pending or
// werr set).
func (pl *player) Flush(now time.Time) bool {
	var err error
	pl.batch, err = pl.rd.TryNext(pl.batch[:0])
	if len(pl.batch) == 0 {
		if err != nil {
			pl.werr = err
			return false
		}
		return true
	}
	bufs := pl.prepare(pl.batch)
	pl.batch = egress.Recycle(pl.batch, egress.KeepCap)
	rest, err := egress.Try(pl.out.Raw, bufs)
	if err != nil {
		pl.werr = fmt.Errorf("rtmp: write: %w", err)
		return false
	}
	pl.reportDrops(time.Now())
	if len(rest) == 0 {
		return true
	}
	// The socket is full: the viewer goroutine writes the rest, blocking.
	pl.pending = append(pl.pending[:0], rest...)
	return false
}

func appendSequenceHeader(bufs [][]byte, t *media.Track, ts uint32) [][]byte {
	body := flvtag.CachedSequenceHeader(t)
	if body == nil {
		return bufs
	}
	csid, typ := csidFor(t.Kind())
	return appendMessage(bufs, csid, ts, typ, nil, body)
}
