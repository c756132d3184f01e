package rtmp

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/minirtc/minirtc/internal/flv"
	"github.com/minirtc/minirtc/internal/media"
)

// player writes a reader's packets to one RTMP viewer.
type player struct {
	nc      net.Conn
	rd      *media.Reader
	timeout time.Duration
}

// run writes until the reader ends, the write fails or ctx is cancelled.
func (pl *player) run(ctx context.Context) error {
	var (
		batch   []*media.Packet
		bufs    [][]byte
		started bool
		last    [2]*media.Track
		err     error
	)
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
		_ = pl.nc.SetWriteDeadline(time.Now().Add(pl.timeout))
		nb := net.Buffers(bufs)
		if _, err := nb.WriteTo(pl.nc); err != nil {
			return fmt.Errorf("rtmp: write: %w", err)
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
