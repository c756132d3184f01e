package flv

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/flvtag"
	"github.com/minirtc/minirtc/internal/media"
)

// TestStalledViewerDoesNotDelayOthers: an HTTP-FLV viewer that stops reading
// (tiny receive buffer, never reads) loses packets, counted as drops, while
// another viewer of the same stream receives every packet, also those still
// queued when the stream ends, and a complete chunked body. Both with the egress loop and
// with viewers written by their own goroutines.
func TestStalledViewerDoesNotDelayOthers(t *testing.T) {
	for _, c := range []struct {
		name     string
		interval time.Duration
	}{
		{"egress", 0},         // the default: batches written by the egress loop
		{"own-goroutine", -1}, // every batch written by the viewer's goroutine
	} {
		t.Run(c.name, func(t *testing.T) { testStalledViewer(t, c.interval) })
	}
}

func testStalledViewer(t *testing.T, interval time.Duration) {
	e := newFLVEnvWith(t, media.Config{QueueSize: 1024}, Config{BatchInterval: interval})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u, _ := url.Parse(e.url("http"))

	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	stalled, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	fmt.Fprintf(stalled, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", u.RequestURI(), u.Host)

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	type result struct {
		frames int
		err    error
	}
	done := make(chan result, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{0, err}
			return
		}
		defer resp.Body.Close()
		n, err := countVideoFrames(resp.Body)
		done <- result{n, err}
	}()
	defer wg.Wait()
	for e.hub.Stats().Readers < 2 {
		time.Sleep(5 * time.Millisecond)
	}

	pub, err := e.hub.Publish(e.key(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.SetTracks(h264Track, nil)
	payload := make([]byte, 16<<10)
	binary.BigEndian.PutUint32(payload, uint32(len(payload)-4))
	payload[4] = 0x65
	const total = 3000
	for i := range total {
		d := time.Duration(i) * time.Millisecond
		if err := pub.Write(&media.Packet{Track: h264Track, DTS: d, PTS: d, Keyframe: i%50 == 0, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	// The stream ends at once: what is still queued for the fast viewer
	// reaches it, then its body ends with the chunked terminator.
	e.hub.EndStream(e.key(), errcode.NotPublishing("test over"))
	res := <-done
	if res.err != nil {
		t.Fatalf("fast viewer: %v after %d frames", res.err, res.frames)
	}
	if res.frames != total {
		t.Fatalf("fast viewer got %d of %d frames", res.frames, total)
	}
	if e.hub.Stats().Drops == 0 {
		t.Fatal("the stalled viewer has no drops")
	}
}

// countVideoFrames reads an FLV body to its end and counts the coded video
// frames; a body cut short is an error.
func countVideoFrames(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if _, err := br.Discard(flvtag.HeaderSize + 4); err != nil {
		return 0, err
	}
	frames := 0
	var hdr [flvtag.TagHeaderSize]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return frames, nil
			}
			return frames, err
		}
		size := int(binary.BigEndian.Uint32(hdr[0:4]) & 0xffffff)
		if hdr[0] == flvtag.TagVideo {
			b, err := br.Peek(2)
			if err != nil {
				return frames, err
			}
			if b[1] == 1 {
				frames++
			}
		}
		if _, err := br.Discard(size + 4); err != nil {
			return frames, err
		}
	}
}
