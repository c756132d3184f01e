package flv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minirtc/minirtc/internal/egress"
	"github.com/minirtc/minirtc/internal/flvtag"
	"github.com/minirtc/minirtc/internal/media"
)

// session is one FLV viewer: it drains its reader and writes tag batches.
//
// Two ways to write, as for RTMP viewers: the viewer's own goroutine writes
// a batch blocking (the first one, which is the GOP cache, and the rest of
// one the socket did not take); otherwise a viewer on a hijacked HTTP/1.1
// connection is lent to the egress loop, which drains it as soon as its
// reader has data and tries one non-blocking writev. WebSocket and HTTP/2
// viewers are written by their goroutine (at most once per BatchInterval).
// The fields below the line belong to the loop while the viewer is lent, to
// its goroutine otherwise.
type session struct {
	srv    *Server
	cancel context.CancelFunc
	log    *slog.Logger
	rd     *media.Reader
	// writing is set once the response started (see OnClose in ServeHTTP).
	writing atomic.Bool

	killMu sync.Mutex
	killed error       // the hub's reason for ending the reader (OnClose)
	cut    *time.Timer // cancels the session once the drain time is over

	slot *egress.Slot // non-nil: lent to the egress loop between blocking writes
	raws *rawSink     // set with slot
	// dueSlot is slot for the reader's hooks (due), which run on the
	// publisher's goroutine: set once the session knows it has a slot.
	dueSlot atomic.Pointer[egress.Slot]

	// ---- owned by the egress loop or the viewer goroutine (see above)
	batch    []*media.Packet
	bufs     [][]byte
	scratch  []byte
	started  bool
	last     [2]*media.Track
	pending  [][]byte // the unwritten rest of a batch (raw bytes, framed)
	werr     error    // why the loop handed the viewer back, if it failed
	drops    uint64   // drops already reported
	dropsLog time.Time
}

// due makes a lent viewer due in the egress loop: the reader's OnQueue
// (packets arrived) and OnClose (the hub ended it). Before the session has
// a slot it does nothing; Lend makes the viewer due anyway.
func (ss *session) due() {
	if sl := ss.dueSlot.Load(); sl != nil {
		sl.Due()
	}
}

// kill records the hub's reason for ending the reader and arms the cut.
func (ss *session) kill(reason error, arm func() *time.Timer) {
	ss.killMu.Lock()
	ss.killed = reason
	ss.cut = arm()
	ss.killMu.Unlock()
}

// stopCut stops a pending cut once the session is over.
func (ss *session) stopCut() {
	ss.killMu.Lock()
	if ss.cut != nil {
		ss.cut.Stop()
	}
	ss.killMu.Unlock()
}

// reason is the hub's reason if it ended the reader, else err.
func (ss *session) reason(err error) error {
	ss.killMu.Lock()
	defer ss.killMu.Unlock()
	if ss.killed != nil {
		return ss.killed
	}
	return err
}

// prepare turns a batch into tag buffers: the FLV header, metadata and
// sequence headers first, a sequence header again when a track changes, and
// the packets' shared tags.
func (ss *session) prepare(batch []*media.Packet) [][]byte {
	bufs := egress.Recycle(ss.bufs, egress.KeepCap)
	scratch := ss.scratch[:0]
	if !ss.started {
		ss.started = true
		video, audio := ss.rd.Tracks()
		ts := flvtag.Timestamp(batch[0].DTS)
		scratch = append(scratch, flvtag.Header(video != nil, audio != nil)...)
		// onMetaData at 0, whatever the stream's clock: demuxers (FFmpeg's)
		// take a later one for a data stream of its own.
		scratch = flvtag.AppendTag(scratch, flvtag.TagScript, 0, flvtag.MetaData(video, audio))
		for _, t := range []*media.Track{video, audio} {
			if t == nil {
				continue
			}
			if body := flvtag.CachedSequenceHeader(t); body != nil {
				scratch = flvtag.AppendTag(scratch, flvtag.TagType(t.Kind()), ts, body)
			}
			ss.last[t.Kind()] = t
		}
		bufs = append(bufs, scratch)
	}
	for _, p := range batch {
		if k := p.Kind(); ss.last[k] != p.Track {
			ss.last[k] = p.Track
			if body := flvtag.CachedSequenceHeader(p.Track); body != nil {
				// Its own allocation: scratch may already be referenced by bufs.
				bufs = append(bufs, flvtag.AppendTag(nil, flvtag.TagType(k), flvtag.Timestamp(p.DTS), body))
			}
		}
		bufs = append(bufs, flvtag.PacketTag(p)...)
	}
	ss.bufs, ss.scratch = bufs, scratch
	// Once per batch: the bytes of this batch's tags (chunk framing aside).
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	ss.srv.meter.BytesOut(n)
	return bufs
}

// reportDrops logs, at most once a second, how many packets the viewer
// skipped because it fell behind.
func (ss *session) reportDrops(now time.Time) {
	if now.Sub(ss.dropsLog) < time.Second {
		return
	}
	if d := ss.rd.Drops(); d != ss.drops {
		ss.log.Info("flv viewer too slow, skipped packets", "skipped", d-ss.drops, "total", d)
		ss.drops, ss.dropsLog = d, now
	}
}

// run writes the stream until the reader ends, the viewer goes away or ctx
// is cancelled. The returned error is the close reason.
func (ss *session) run(ctx context.Context, out sink) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// The viewer goroutine's turn: one blocking write (waiting for the
		// first packets of a held viewer, or for room after a full socket).
		if len(ss.pending) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := ss.raws.writeRaw(ss.pending); err != nil {
				return err
			}
			ss.pending = egress.Recycle(ss.pending, egress.KeepCap)
		} else {
			var err error
			ss.batch, err = ss.rd.Next(ctx, ss.batch[:0])
			if len(ss.batch) == 0 {
				if !ss.started && err != nil && !errors.Is(err, context.Canceled) {
					out.fail(err)
				}
				return err
			}
			if !ss.started {
				ss.writing.Store(true)
				if err := out.start(); err != nil {
					return err
				}
			}
			bufs := ss.prepare(ss.batch)
			ss.batch = egress.Recycle(ss.batch, egress.KeepCap)
			if err := out.write(bufs); err != nil {
				return err
			}
			ss.reportDrops(time.Now())
		}
		if ss.slot != nil {
			// Then the loop's, until the socket is full or the reader ends.
			// It writes only when the socket has room, so it needs no
			// deadline; a stale one would fail its writes.
			ss.raws.out.ClearDeadline()
			if err := ss.slot.Lend(ctx); err != nil {
				return err
			}
			if ss.werr != nil {
				return ss.werr
			}
			continue
		}
		// No loop: let packets gather for a moment before the next write,
		// so that a viewer costs one syscall per interval rather than per frame.
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

// Flush is the loop's turn for this viewer (egress.Viewer): drain the
// queue and try one non-blocking writev of one chunk. It reports whether the
// viewer stays with the loop; if not, the viewer goroutine takes over
// (pending or werr set).
func (ss *session) Flush(now time.Time) bool {
	var err error
	ss.batch, err = ss.rd.TryNext(ss.batch[:0])
	if len(ss.batch) == 0 {
		if err != nil {
			ss.werr = err
			return false
		}
		return true
	}
	bufs := ss.raws.frame(ss.prepare(ss.batch))
	ss.batch = egress.Recycle(ss.batch, egress.KeepCap)
	rest, err := egress.Try(ss.raws.out.Raw, bufs)
	if err != nil {
		ss.werr = fmt.Errorf("flv: write: %w", err)
		return false
	}
	ss.reportDrops(now)
	if len(rest) == 0 {
		return true
	}
	// The socket is full: the viewer goroutine writes the rest, blocking.
	ss.pending = append(ss.pending[:0], rest...)
	return false
}
