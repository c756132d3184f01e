package rtmp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
)

func startServer(t *testing.T, hcfg media.Config, cfg Config) (*media.Hub, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := media.NewHub(hcfg, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(cfg, hub, allowAll{}, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
	t.Cleanup(func() { hub.Close(); cancel(); <-done })
	return hub, ln.Addr().String()
}

// TestStalledViewerDoesNotDelayOthers: a viewer that stops reading (tiny
// receive buffer, never reads) loses packets, counted as drops, while another
// viewer of the same stream receives every packet, also those still queued
// when the stream ends.
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
	hub, addr := startServer(t, media.Config{QueueSize: 1024}, Config{BatchInterval: interval})
	u, _ := url.Parse("rtmp://" + addr + "/live/bench")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	fast := &gortmplib.Client{URL: u}
	if err := fast.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	stalled := &gortmplib.Client{URL: u, DialContext: (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}).DialContext}
	if err := stalled.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	for hub.Stats().Readers < 2 {
		time.Sleep(5 * time.Millisecond)
	}

	const total = 3000
	var wg sync.WaitGroup
	wg.Add(1)
	received := 0
	go func() {
		defer wg.Done()
		_ = fast.NetConn().SetReadDeadline(time.Now().Add(50 * time.Second))
		for received < total {
			msg, err := fast.Read()
			if err != nil {
				t.Errorf("fast viewer: %v after %d packets", err, received)
				return
			}
			if v, ok := msg.(*message.Video); ok && v.Type == message.VideoTypeAU {
				received++
			}
		}
	}()

	pub, err := hub.Publish(media.Key{AppID: "bench", Channel: "room", UID: "1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.SetTracks(benchVideo, nil)
	payload := make([]byte, 16<<10)
	payload[3] = byte(len(payload) - 4)
	payload[2] = byte((len(payload) - 4) >> 8)
	for i := range total {
		d := time.Duration(i) * time.Millisecond
		if err := pub.Write(&media.Packet{Track: benchVideo, DTS: d, PTS: d, Keyframe: i%50 == 0, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	// The stream ends at once: what is still queued reaches the fast viewer.
	hub.EndStream(media.Key{AppID: "bench", Channel: "room", UID: "1"}, nil)
	wg.Wait()
	if received != total {
		t.Fatalf("fast viewer got %d of %d packets", received, total)
	}
	if hub.Stats().Drops == 0 {
		t.Fatal("the stalled viewer has no drops")
	}
}

// TestHeldViewerTimesOut: a player that connects to a stream that never
// starts is closed after the hold timeout.
func TestHeldViewerTimesOut(t *testing.T) {
	hub, addr := startServer(t, media.Config{HoldTimeout: 50 * time.Millisecond}, Config{})
	u, _ := url.Parse("rtmp://" + addr + "/live/x")
	c := &gortmplib.Client{URL: u}
	if err := c.Initialize(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.NetConn().SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		if _, err := c.Read(); err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				t.Fatal("held viewer was not closed")
			}
			break
		}
	}
	for hub.Stats().Readers != 0 {
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIngestTimestampsAcrossExtendedBoundary: a publisher whose clock crosses
// the 24-bit RTMP timestamp boundary (extended timestamps on the wire) and
// then wraps reaches a viewer with continuous, monotonic timestamps.
func TestIngestTimestampsAcrossExtendedBoundary(t *testing.T) {
	hub, addr := startServer(t, media.Config{Grace: -1}, Config{BatchInterval: -1})
	u, _ := url.Parse("rtmp://" + addr + "/live/ts")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	viewer := playViewer(ctx, t, hub, u)
	pubc := &gortmplib.Client{URL: u, Publish: true}
	if err := pubc.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	defer pubc.Close()
	w := &gortmplib.Writer{Conn: pubc, Tracks: []*gortmplib.Track{{Codec: &codecs.H264{SPS: benchVideo.SPS[0], PPS: benchVideo.PPS[0]}}}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	// 0xFFFFFF ms is 4 h 39 min 37 s: start 2 s before it, cross it, then
	// jump back to 0 as a 32-bit wrap would.
	const frames = 150
	base := time.Duration(0xFFFFFF-2000) * time.Millisecond
	for i := range frames {
		d := base + time.Duration(i)*40*time.Millisecond
		if i >= 100 {
			d = time.Duration(i-100) * 40 * time.Millisecond
		}
		nal := []byte{0x41, byte(i)}
		if i%25 == 0 {
			nal = []byte{0x65, byte(i)}
		}
		if err := w.WriteH264(w.Tracks[0], d, d, [][]byte{nal}); err != nil {
			t.Fatal(err)
		}
	}
	_ = viewer.NetConn().SetReadDeadline(time.Now().Add(20 * time.Second))
	var ts []time.Duration
	for len(ts) < frames-1 { // the publisher's last frame may still be held in its buffers
		msg, err := viewer.Read()
		if err != nil {
			t.Fatalf("after %d frames: %v", len(ts), err)
		}
		if v, ok := msg.(*message.Video); ok && v.Type == message.VideoTypeAU {
			ts = append(ts, v.DTS)
		}
	}
	for i := 1; i < len(ts); i++ {
		if d := ts[i] - ts[i-1]; d <= 0 || d > 100*time.Millisecond {
			t.Fatalf("step %v at frame %d (%v -> %v)", d, i, ts[i-1], ts[i])
		}
	}
}

// TestEnhancedPassThrough: H.265 and Opus published with enhanced RTMP reach
// an RTMP viewer as enhanced RTMP, configuration first, then frames.
func TestEnhancedPassThrough(t *testing.T) {
	hub, addr := startServer(t, media.Config{}, Config{BatchInterval: -1})
	u, _ := url.Parse("rtmp://" + addr + "/live/hevc")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	viewer := playViewer(ctx, t, hub, u)
	pubc := &gortmplib.Client{URL: u, Publish: true}
	if err := pubc.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	defer pubc.Close()
	hvcc := &mp4.HvcC{ConfigurationVersion: 1, GeneralProfileIdc: 1, GeneralLevelIdc: 93, LengthSizeMinusOne: 3}
	msgs := []message.Message{
		&message.VideoExSequenceStart{ChunkStreamID: 6, MessageStreamID: 0x1000000, FourCC: message.FourCCHEVC, HEVCConfig: hvcc},
		&message.AudioExSequenceStart{ChunkStreamID: 4, MessageStreamID: 0x1000000, FourCC: message.FourCCOpus,
			OpusConfig: &opus.IDHeader{Version: 1, ChannelCount: 2, InputSampleRate: 48000}},
	}
	for i := range 10 {
		d := time.Duration(i) * 20 * time.Millisecond
		nal := []byte{0, 0, 0, 2, 0x02, byte(i)} // TRAIL_R
		if i == 0 {
			nal = []byte{0, 0, 0, 2, 0x26, 0x01} // IDR_W_RADL
		}
		msgs = append(msgs,
			&message.AudioExCodedFrames{ChunkStreamID: 4, MessageStreamID: 0x1000000, DTS: d, FourCC: message.FourCCOpus, Payload: []byte{0xfc, byte(i)}},
			&message.VideoExCodedFrames{ChunkStreamID: 6, MessageStreamID: 0x1000000, DTS: d, FourCC: message.FourCCHEVC, Payload: nal})
	}
	for _, m := range msgs {
		if err := pubc.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	_ = viewer.NetConn().SetReadDeadline(time.Now().Add(20 * time.Second))
	var order []string
	frames := 0
	for frames < 15 {
		msg, err := viewer.Read()
		if err != nil {
			t.Fatalf("after %v: %v", order, err)
		}
		switch m := msg.(type) {
		case *message.VideoExSequenceStart:
			order = append(order, "hevc-config")
		case *message.AudioExSequenceStart:
			order = append(order, "opus-config")
		case *message.VideoExCodedFrames:
			if frames == 0 && m.Payload[4] != 0x26 {
				t.Fatalf("first video frame is not the IDR: % x", m.Payload)
			}
			order = append(order, "hevc")
			frames++
		case *message.AudioExCodedFrames:
			order = append(order, "opus")
			frames++
		}
	}
	if len(order) < 4 || order[0] != "hevc-config" || order[1] != "opus-config" || order[2] != "hevc" {
		t.Fatalf("order %v", order)
	}
}

// byName authorizes every stream as uid = the stream name.
type byName struct{}

func (byName) Authorize(_ context.Context, _ token.Action, stream string, _ url.Values) (token.MediaGrant, error) {
	return token.MediaGrant{AppID: "a", Channel: "room", UID: stream}, nil
}

// TestPublisherLimit: a publish beyond the node's limit is refused with an
// error status while the first one keeps going; the refusal is logged with
// its catalogue reason.
func TestPublisherLimit(t *testing.T) {
	var logs strings.Builder
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(b)
	}), nil))
	hub, err := media.NewHub(media.Config{MaxPublishers: 1}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := NewServer(Config{}, hub, byName{}, log)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln) }()
	defer func() { hub.Close(); cancel(); <-done }()

	dial := func(name string) error {
		u, _ := url.Parse("rtmp://" + ln.Addr().String() + "/live/" + name)
		c := &gortmplib.Client{URL: u, Publish: true}
		err := c.Initialize(ctx)
		if err == nil {
			t.Cleanup(c.Close)
		}
		return err
	}
	if err := dial("1"); err != nil {
		t.Fatal(err)
	}
	if err := dial("2"); err == nil {
		t.Fatal("second publisher accepted beyond the limit")
	}
	if s := hub.Stats(); s.Publishers != 1 {
		t.Fatalf("%d publishers", s.Publishers)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "code=502") || !strings.Contains(logs.String(), "publisher limit") {
		t.Fatalf("refusal not logged with its reason:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// TestViewerOutlivesWriteTimeout: a viewer served by the egress loop keeps
// playing long after the write timeout (regression: the deadline set by the
// viewer's first blocking write used to cut it off mid-stream).
func TestViewerOutlivesWriteTimeout(t *testing.T) {
	hub, addr := startServer(t, media.Config{QueueSize: 1024}, Config{WriteTimeout: 200 * time.Millisecond})
	u, _ := url.Parse("rtmp://" + addr + "/live/bench")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	viewer := playViewer(ctx, t, hub, u)
	const total = 150 // 1.5 s of packets, several write timeouts long
	received := make(chan int, 1)
	go func() {
		n := 0
		_ = viewer.NetConn().SetReadDeadline(time.Now().Add(25 * time.Second))
		for n < total {
			msg, err := viewer.Read()
			if err != nil {
				t.Errorf("viewer: %v after %d packets", err, n)
				break
			}
			if v, ok := msg.(*message.Video); ok && v.Type == message.VideoTypeAU {
				n++
			}
		}
		received <- n
	}()
	pub, err := hub.Publish(media.Key{AppID: "bench", Channel: "room", UID: "1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.SetTracks(benchVideo, nil)
	payload := make([]byte, 1024)
	payload[3] = byte(len(payload) - 4)
	payload[2] = byte((len(payload) - 4) >> 8)
	for i := range total {
		d := time.Duration(i) * 10 * time.Millisecond
		if err := pub.Write(&media.Packet{Track: benchVideo, DTS: d, PTS: d, Keyframe: i%50 == 0, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := <-received; n != total {
		t.Fatalf("viewer got %d of %d packets", n, total)
	}
}

// playViewer connects an RTMP viewer to u and waits until the hub holds it;
// it is closed with the test.
func playViewer(ctx context.Context, t *testing.T, hub *media.Hub, u *url.URL) *gortmplib.Client {
	t.Helper()
	viewer := &gortmplib.Client{URL: u}
	if err := viewer.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(viewer.Close)
	for hub.Stats().Readers < 1 {
		time.Sleep(5 * time.Millisecond)
	}
	return viewer
}
