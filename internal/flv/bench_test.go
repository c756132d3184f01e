package flv

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/flvtag"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/media/mediatest"
	"github.com/minirtc/minirtc/internal/token"
)

// allowAll authorizes every stream name as app/room/uid 1 (benchmarks only).
type allowAll struct{}

func (allowAll) Authorize(_ context.Context, _ token.Action, _ string, _ url.Values) (token.MediaGrant, error) {
	return token.MediaGrant{AppID: "bench", Channel: "room", UID: "1"}, nil
}

// BenchmarkFLVFanout is BenchmarkRTMPFanout (internal/rtmp) for HTTP-FLV: one
// publisher (500 kbit/s H.264, 2 s GOP, 64 kbit/s AAC) and N HTTP-FLV readers
// on loopback, the readers in a child process (TestBenchFLVReaders) so that
// the CPU and memory figures are the server's alone. Metrics as there; the
// keyframe latency is measured by the viewer from dialing to its first
// video keyframe tag. MINIRTC_BENCH_INTERVAL overrides the batch interval.
// Run it once per N:
//
//	go test -run XXX -bench FLVFanout -benchtime 1x ./internal/flv
func BenchmarkFLVFanout(b *testing.B) {
	for _, n := range []int{100, 300, 600} {
		b.Run(fmt.Sprintf("readers=%d", n), func(b *testing.B) {
			for b.Loop() {
				runFLVFanout(b, n)
			}
		})
	}
}

func runFLVFanout(b *testing.B, n int) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := media.NewHub(media.Config{}, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	iv, _ := time.ParseDuration(os.Getenv("MINIRTC_BENCH_INTERVAL"))
	srv, err := NewServer(Config{BatchInterval: iv}, hub, allowAll{}, log)
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: mux}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = hs.Serve(ln) }()
	defer func() {
		hub.Close()
		srv.Close()
		_ = hs.Close()
		wg.Wait()
	}()

	mediatest.MeasureFanout(b, hub, ln.Addr().String(), "TestBenchFLVReaders", n)
}

// TestBenchFLVReaders is the reader side of BenchmarkFLVFanout, run in a
// child process; without its environment it has nothing to do.
func TestBenchFLVReaders(t *testing.T) {
	mediatest.RunFanoutChild(t, func(addr string) (io.ReadCloser, error) { return firstKeyframe(addr) })
}

// firstKeyframe dials addr, asks for the stream over HTTP-FLV and reads
// until the first H.264 keyframe tag.
func firstKeyframe(addr string) (net.Conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(nc, "GET /live/bench.flv HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		nc.Close()
		return nil, fmt.Errorf("status %s", res.Status)
	}
	body := bufio.NewReader(res.Body)
	if _, err := body.Discard(flvtag.HeaderSize + 4); err != nil {
		nc.Close()
		return nil, err
	}
	var hdr [flvtag.TagHeaderSize]byte
	for {
		if _, err := io.ReadFull(body, hdr[:]); err != nil {
			nc.Close()
			return nil, err
		}
		size := int(binary.BigEndian.Uint32(hdr[0:4]) & 0xffffff)
		first, err := body.Peek(1)
		if err != nil {
			nc.Close()
			return nil, err
		}
		if hdr[0] == flvtag.TagVideo && first[0]>>4 == 1 {
			first, err = body.Peek(2)
			if err == nil && first[1] == 1 { // an AVC NALU, not the sequence header
				return nc, nil
			}
		}
		if _, err := body.Discard(size + 4); err != nil {
			nc.Close()
			return nil, err
		}
	}
}
