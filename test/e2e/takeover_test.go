package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/flvtag"
	"github.com/minirtc/minirtc/internal/token"
	pion "github.com/pion/webrtc/v4"
)

// Stream takeover (issue #13, item 5): one publisher per stream. These tests
// run a full node; uid 123 is a member that joined and published (as the
// mini program SDK does), and its stream is played over HTTP-FLV by a reader
// that connected before the media and counts the video frames it receives.

// flvCounter is an HTTP-FLV reader that counts the video frames (not
// sequence headers) it receives until the stream ends.
type flvCounter struct {
	mu     sync.Mutex
	frames int
	done   chan struct{}
	err    error
}

// countFLV starts reading url; the hub must see the reader before the test
// goes on (waitReaders).
func countFLV(ctx context.Context, t *testing.T, url string) *flvCounter {
	t.Helper()
	c := &flvCounter{done: make(chan struct{})}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			c.err = err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			c.err = fmt.Errorf("FLV play: HTTP %d", resp.StatusCode)
			return
		}
		var hdr [13]byte // FLV header and PreviousTagSize0
		if _, err := io.ReadFull(resp.Body, hdr[:]); err != nil {
			c.err = err
			return
		}
		for {
			var th [11]byte
			if _, err := io.ReadFull(resp.Body, th[:]); err != nil {
				return // the stream ended
			}
			size := int(binary.BigEndian.Uint32(th[0:4]) & 0xffffff)
			body := make([]byte, size+4) // and PreviousTagSize
			if _, err := io.ReadFull(resp.Body, body); err != nil {
				return
			}
			if th[0] != flvtag.TagVideo {
				continue
			}
			if v, err := flvtag.ParseVideoBody(body[:size]); err == nil && v.PacketType == 1 {
				c.mu.Lock()
				c.frames++
				c.mu.Unlock()
			}
		}
	}()
	return c
}

func (c *flvCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames
}

// wait returns the frame count once the stream has ended for the reader.
func (c *flvCounter) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the FLV reader did not end")
	}
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.count()
}

// takeoverEnv is a node where uid 123 joined and published, with a reader
// of its stream connected.
type takeoverEnv struct {
	*nodeEnv
	reader *flvCounter
}

const ownerUID = "123"

func newTakeoverEnv(ctx context.Context, t *testing.T) *takeoverEnv {
	t.Helper()
	e := newNodeEnv(t, func(c *config.Config) {
		c.Media.PublisherStall = time.Second
		c.Gateway.MediaStartTimeout = time.Hour
	})
	e.joinPublisher(123)
	te := &takeoverEnv{nodeEnv: e, reader: countFLV(ctx, t, e.playURL("flv", ownerUID))}
	waitReaders(t, e.n.Media(), 1)
	return te
}

// tokenPushURL is an RTMP ?token= push URL for uid's stream.
func (e *nodeEnv) tokenPushURL(uid, tok string) string {
	s := token.StreamName(e.app.ID, "room", uid)
	return fmt.Sprintf("rtmp://%s/live/%s?token=%s", e.n.RTMPAddr(), s, url.QueryEscape(tok))
}

// startPush runs ffmpeg pushing src to url in real time; the returned
// channel gets its result.
func startPush(ctx context.Context, t *testing.T, src, url string) chan error {
	done := make(chan error, 1)
	cmd := pushFile(ctx, t, src, url)
	go func() { done <- runWait(cmd) }()
	return done
}

// refusedWith checks that a push ended in failure with want in its error.
func refusedWith(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted, want refused with %q", what, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: refused without the reason %q: %v", what, want, err)
	}
}

// neverConnectingOffer is a WHIP offer (H.264 + Opus, like a browser's)
// from a peer that will never set the answer: its ICE never connects.
func neverConnectingOffer(t *testing.T) string {
	t.Helper()
	pc, err := pionAPI(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	return completeOffer(t, pc)
}

// TestTakeoverWildcardToken (a): a uid-0 token cannot take over uid 123's
// live stream, over RTMP (?token=) or WHIP, nor publish over WHIP as a uid
// that never joined; the owner's push and its reader are not disturbed.
func TestTakeoverWildcardToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	e := newTakeoverEnv(ctx, t)
	src, want := makeSource(t, 6, true, true)
	short, _ := makeSource(t, 2, true, true)
	owner := startPush(ctx, t, src, e.pushURL(ownerUID))
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, ownerUID))
	wild := e.token("room", "0", token.RolePublisher)

	t.Run("rtmp", func(t *testing.T) {
		err := runWait(pushFile(ctx, t, short, e.tokenPushURL(ownerUID, wild)))
		refusedWith(t, "RTMP push with a uid-0 token", err, "token without a uid (uid 0) cannot publish over RTMP")
	})
	t.Run("whip-live-member", func(t *testing.T) {
		st, body, _ := e.post("whip", ownerUID, wild, neverConnectingOffer(t))
		if st != http.StatusConflict || !strings.Contains(body, "stream already published") || !strings.Contains(body, "names no uid") {
			t.Fatalf("WHIP as uid 123 with a uid-0 token: %d %s, want 409 stream already published", st, body)
		}
	})
	t.Run("whip-not-a-member", func(t *testing.T) {
		st, body, _ := e.post("whip", "124", wild, neverConnectingOffer(t))
		if st != http.StatusForbidden || !strings.Contains(body, "only as a uid that joined the channel") {
			t.Fatalf("WHIP as uid 124 (not a member) with a uid-0 token: %d %s, want 403", st, body)
		}
		if _, ok := e.n.Channels().Member(e.app.ID, "room", 124); ok {
			t.Fatal("uid 124 joined the channel")
		}
	})

	if err := <-owner; err != nil {
		t.Fatalf("the owner's push was cut: %v", err)
	}
	if got := e.reader.wait(t); got != want.video {
		t.Fatalf("the reader got %d video frames, want all %d of the owner's", got, want.video)
	}
}

// TestTakeoverSecondRTMPPublisherRefused (b): a second RTMP publisher of a
// live stream, even with the stream's own signed URL, is refused with the
// reason while the first keeps publishing; the reader receives every frame
// of the first.
func TestTakeoverSecondRTMPPublisherRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	e := newTakeoverEnv(ctx, t)
	src, want := makeSource(t, 8, true, true)
	short, _ := makeSource(t, 2, true, true)
	start := time.Now()
	owner := startPush(ctx, t, src, e.pushURL(ownerUID))
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, ownerUID))
	time.Sleep(time.Second)
	before, t0 := e.reader.count(), time.Now()
	for i := range 3 {
		err := runWait(pushFile(ctx, t, short, e.pushURL(ownerUID)))
		refusedWith(t, fmt.Sprintf("second push %d", i), err, "433 stream already published: uid 123 is publishing from another connection")
	}
	during, window := e.reader.count()-before, time.Since(t0)
	if err := <-owner; err != nil {
		t.Fatalf("the first publisher was cut: %v", err)
	}
	got := e.reader.wait(t)
	t.Logf("reader: %d video frames in the %s of refused pushes (%.1f fps); %d of %d in all (push took %s)",
		during, window.Round(time.Millisecond), float64(during)/window.Seconds(), got, want.video, time.Since(start).Round(time.Millisecond))
	if got != want.video {
		t.Fatalf("the reader got %d video frames, want all %d of the first publisher", got, want.video)
	}
}

// TestTakeoverWHIPWithoutICE (c): a WHIP POST whose ICE never connects does
// not disturb the RTMP publisher. While the publisher is live the POST is
// refused at once (409, the reason); while it is stalled the POST of the
// same uid is answered, but the session would take the stream only with its
// first media, which never comes: the publisher resumes and the reader gets
// every frame it sent.
func TestTakeoverWHIPWithoutICE(t *testing.T) {
	t.Run("live", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		e := newTakeoverEnv(ctx, t)
		src, want := makeSource(t, 6, true, true)
		owner := startPush(ctx, t, src, e.pushURL(ownerUID))
		waitLive(t, e.n.Media(), mediaKey(e.app.ID, ownerUID))
		time.Sleep(time.Second)
		before, t0 := e.reader.count(), time.Now()
		st, body, _ := e.post("whip", ownerUID, e.token("room", ownerUID, token.RolePublisher), neverConnectingOffer(t))
		if st != http.StatusConflict || !strings.Contains(body, "stream already published") {
			t.Fatalf("WHIP while RTMP is live: %d %s, want 409 stream already published", st, body)
		}
		time.Sleep(3 * time.Second)
		during, window := e.reader.count()-before, time.Since(t0)
		if err := <-owner; err != nil {
			t.Fatalf("the RTMP publisher was cut: %v", err)
		}
		got := e.reader.wait(t)
		t.Logf("reader: %d video frames in the %s after the WHIP POST (%.1f fps); %d of %d in all",
			during, window.Round(time.Millisecond), float64(during)/window.Seconds(), got, want.video)
		if got != want.video {
			t.Fatalf("the reader got %d video frames, want all %d", got, want.video)
		}
	})
	t.Run("stalled", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		e := newTakeoverEnv(ctx, t)
		p := newRTMPPusher(ctx, t, e.pushURL(ownerUID), h264File(t, 4))
		defer p.close()
		p.send(t, 50)
		time.Sleep(1500 * time.Millisecond) // > media.publisherStall (1 s): stalled
		st, body, _ := e.post("whip", ownerUID, e.token("room", ownerUID, token.RolePublisher), neverConnectingOffer(t))
		if st != http.StatusCreated {
			t.Fatalf("WHIP of the same uid while its RTMP publisher stalls: %d %s, want 201", st, body)
		}
		time.Sleep(time.Second) // the session gets nothing: no ICE
		p.send(t, 50)           // the RTMP publisher comes back on its connection
		p.close()
		if got := e.reader.wait(t); got < p.sent-1 {
			t.Fatalf("the reader got %d video frames, want the %d the RTMP publisher sent", got, p.sent)
		}
	})
}

// TestTakeoverSameMemberRejoin (d): the same member reconnecting replaces
// its old publisher once that one has stalled (a live-pusher back from the
// background on a new connection while the old TCP connection still looks
// open), though not while the old one is live. The old connection is closed
// and the reader gets the frames of both.
func TestTakeoverSameMemberRejoin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	e := newTakeoverEnv(ctx, t)
	src, want := makeSource(t, 3, true, true)
	old := newRTMPPusher(ctx, t, e.pushURL(ownerUID), h264File(t, 4))
	defer old.close()
	old.send(t, 25)
	go old.sendRealtime(75) // live for three more seconds
	time.Sleep(500 * time.Millisecond)
	err := runWait(pushFile(ctx, t, src, e.pushURL(ownerUID)))
	refusedWith(t, "reconnect while the old connection is live", err, "stream already published")
	old.wait()
	time.Sleep(1500 * time.Millisecond) // > media.publisherStall (1 s)
	if err := runWait(pushFile(ctx, t, src, e.pushURL(ownerUID))); err != nil {
		t.Fatalf("reconnect of the same member after its old connection stalled: %v", err)
	}
	if !old.closedByServer(5 * time.Second) {
		t.Fatal("the replaced connection is still open")
	}
	got := e.reader.wait(t)
	if got < old.sent-1+want.video || got > old.sent+want.video {
		t.Fatalf("the reader got %d video frames, want the old connection's %d and the new one's %d", got, old.sent, want.video)
	}
}

// rtmpPusher is a gortmplib publisher whose frames the test sends by hand,
// so that it can stall with its connection open.
type rtmpPusher struct {
	c     *gortmplib.Client
	w     *gortmplib.Writer
	aus   [][][]byte // access units as NAL units
	sent  int
	mu    sync.Mutex
	done  chan struct{}
	close func()
}

func newRTMPPusher(ctx context.Context, t *testing.T, raw string, annexB [][]byte) *rtmpPusher {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	// gortmplib takes the stream name (and its query) from the fragment.
	u = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/live", Fragment: strings.TrimPrefix(u.Path, "/live/") + "?" + u.RawQuery}
	p := &rtmpPusher{c: &gortmplib.Client{URL: u, Publish: true}}
	var sps, pps []byte
	for _, au := range annexB {
		var nalus [][]byte
		for _, n := range splitAnnexB(au) {
			switch n[0] & 0x1f {
			case 7:
				sps = n
			case 8:
				pps = n
			}
			nalus = append(nalus, n)
		}
		p.aus = append(p.aus, nalus)
	}
	if sps == nil || pps == nil {
		t.Fatal("no SPS/PPS in the clip")
	}
	if err := p.c.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	p.close = func() { once.Do(p.c.Close) }
	p.w = &gortmplib.Writer{Conn: p.c, Tracks: []*gortmplib.Track{{Codec: &codecs.H264{SPS: sps, PPS: pps}}}}
	if err := p.w.Initialize(); err != nil {
		t.Fatal(err)
	}
	return p
}

// send writes n frames at once (timestamps at 25 fps).
func (p *rtmpPusher) send(t *testing.T, n int) {
	t.Helper()
	for range n {
		if err := p.next(); err != nil {
			t.Fatalf("RTMP publisher after %d frames: %v", p.sent, err)
		}
	}
}

func (p *rtmpPusher) next() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := time.Duration(p.sent) * 40 * time.Millisecond
	if err := p.w.WriteH264(p.w.Tracks[0], d, d, p.aus[p.sent%len(p.aus)]); err != nil {
		return err
	}
	p.sent++
	return nil
}

// sendRealtime writes n frames at 25 fps in the background; wait waits for it.
func (p *rtmpPusher) sendRealtime(n int) {
	p.mu.Lock()
	p.done = make(chan struct{})
	p.mu.Unlock()
	defer close(p.done)
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for range n {
		<-tick.C
		if p.next() != nil {
			return
		}
	}
}

func (p *rtmpPusher) wait() {
	for {
		p.mu.Lock()
		d := p.done
		p.mu.Unlock()
		if d != nil {
			<-d
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closedByServer reports whether the server closed the connection within
// timeout (a read ends in EOF or a reset).
func (p *rtmpPusher) closedByServer(timeout time.Duration) bool {
	_ = p.c.NetConn().SetReadDeadline(time.Now().Add(timeout))
	for {
		if _, err := p.c.Read(); err != nil {
			return !isTimeout(err)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
