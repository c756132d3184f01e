package rtmp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"github.com/minirtc/minirtc/internal/logtest"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/minirtc/minirtc/internal/media"
)

// TestGuardFollowsGortmplibChunks: the chunk stream gortmplib's own writer
// makes (header types 0 to 3, extended timestamps, chunk size changes,
// interleaved chunk streams) passes the guard in pieces of
// any size, and the guard ends on a message boundary.
func TestGuardFollowsGortmplibChunks(t *testing.T) {
	var buf bytes.Buffer
	w := message.NewWriter(&buf, bytecounter.NewWriter(io.Discard), false)
	msgs := []message.Message{
		&message.SetChunkSize{Value: 300},
		&message.DataAMF0{ChunkStreamID: 4, MessageStreamID: 1, Payload: []any{"@setDataFrame", "onMetaData"}},
	}
	base := time.Duration(0xFFFFFF-500) * time.Millisecond
	for i := range 40 {
		d := base + time.Duration(i)*40*time.Millisecond // crosses the extended timestamp boundary
		msgs = append(msgs,
			&message.Video{ChunkStreamID: 6, MessageStreamID: 1, Codec: message.CodecH264, DTS: d, Type: message.VideoTypeAU,
				AU: bytes.Repeat([]byte{byte(i)}, 1+i*97)},
			&message.Audio{ChunkStreamID: 5, MessageStreamID: 1, Codec: message.CodecMPEG4Audio, DTS: d, AACType: message.AudioAACTypeAU,
				AU: make([]byte, 1+i%3*200)})
		if i == 20 {
			msgs = append(msgs, &message.SetChunkSize{Value: 4096})
		}
	}
	for _, m := range msgs {
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	stream := append(make([]byte, handshakeSize), buf.Bytes()...)
	stream[0] = 3

	// gortmplib reads it back: the stream is valid RTMP.
	r := message.NewReader(bytes.NewReader(buf.Bytes()), bytecounter.NewReader(bytes.NewReader(nil)), nil)
	for range msgs {
		if _, err := r.Read(); err != nil {
			t.Fatalf("gortmplib cannot read its own stream: %v", err)
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	for _, piece := range []int{1, 2, 7, 128, 4096, len(stream)} {
		g := newGuardConn(nil, 64<<10, 4<<20)
		for b := stream; len(b) > 0; {
			n := min(len(b), 1+rng.IntN(piece))
			if err := g.scan(b[:n]); err != nil {
				t.Fatalf("pieces of up to %d bytes: %v", piece, err)
			}
			b = b[n:]
		}
		if g.hdrNeed != 0 || g.body != 0 || g.chunkSize != 4096 || g.pending != 0 {
			t.Fatalf("pieces of up to %d bytes: ended inside a chunk (header %d/%d, body %d, pending %d) or lost a chunk size (%d)",
				piece, g.hdrN, g.hdrNeed, g.body, g.pending, g.chunkSize)
		}
	}
}

// rawClient does the plain RTMP handshake with the server and returns the
// connection, ready for chunks.
func rawClient(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c0c1 := make([]byte, 1+1536)
	c0c1[0] = 3
	if _, err := c.Write(c0c1); err != nil {
		t.Fatal(err)
	}
	s := make([]byte, 1+1536+1536)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, s); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if _, err := c.Write(s[1 : 1+1536]); err != nil { // C2 echoes S1
		t.Fatal(err)
	}
	return c
}

// chunk0 is a type 0 chunk header on csid for a message of length bytes.
func chunk0(csid byte, length int, typ byte) []byte {
	return appendType0(nil, csid, 0, length, typ)
}

// setChunkSize is a complete Set Chunk Size message.
func setChunkSize(v uint32) []byte {
	return binary.BigEndian.AppendUint32(appendType0(nil, 2, 0, 4, msgSetChunk), v)
}

// manyInProgress sets a 4 KiB chunk size and begins a 60 KiB message on
// each of 20 chunk streams (one chunk each): each is within the limit, the
// sum is not.
func manyInProgress() []byte {
	b := setChunkSize(4096)
	for csid := byte(3); csid < 23; csid++ {
		b = append(b, chunk0(csid, 60<<10, 20)...)
		b = append(b, make([]byte, 4096)...)
	}
	return b
}

// closedWithin reports whether the server closed c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b [4096]byte
	for {
		_, err := c.Read(b[:])
		if err == nil {
			continue // replies to what was sent
		}
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
}

type logBuffer = logtest.Buffer

func startLoggedServer(t *testing.T, cfg Config) (*media.Hub, string, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	hub, err := media.NewHub(media.Config{}, nil, log)
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
	return hub, ln.Addr().String(), logs
}

// TestPreAuthSizeLimits: before publish or play is authorized, a client
// that announces a message over the pre-authorization limit (64 KiB), or
// messages in progress adding up to more than twice that, or sets a chunk
// size over the limit for media (4 MiB), is closed at once, with the reason
// logged; one within the limits is kept, whatever its chunk size. (gortmplib
// alone accepts up to 10 MiB, allocated as soon as the header is read.)
func TestPreAuthSizeLimits(t *testing.T) {
	_, addr, logs := startLoggedServer(t, Config{HandshakeTimeout: time.Minute})
	for _, tc := range []struct {
		name   string
		send   []byte
		closed bool
		reason string
	}{
		{"chunk size 10 MiB", setChunkSize(10 << 20), true, "chunk size 10485760 is outside 1..4194304 bytes"},
		{"4 MiB message announced", append(chunk0(3, 4<<20, 20), make([]byte, 128)...), true, "message of 4194304 bytes announced"},
		{"chunk size 1 MiB, then a 4 MiB message", append(setChunkSize(1<<20), chunk0(3, 4<<20, 20)...), true, "message of 4194304 bytes announced"},
		{"chunk size 0", setChunkSize(0), true, "chunk size 0 is outside"},
		{"messages in progress on many chunk streams", manyInProgress(), true, "bytes of messages in progress at once"},
		{"chunk size 64 KiB and a 64 KiB message started", append(setChunkSize(65536), append(chunk0(3, 65536, 20), make([]byte, 1000)...)...), false, ""},
		{"chunk size 4 MiB and a 64 KiB message started", append(setChunkSize(4<<20), append(chunk0(3, 65536, 20), make([]byte, 1000)...)...), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawClient(t, addr)
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if got := closedWithin(c, time.Second); got != tc.closed {
				t.Fatalf("closed by the server = %v, want %v", got, tc.closed)
			}
			if tc.reason != "" {
				for deadline := time.Now().Add(2 * time.Second); !strings.Contains(logs.String(), tc.reason); {
					if time.Now().After(deadline) {
						t.Fatalf("no log with the reason %q:\n%s", tc.reason, logs.String())
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

// TestRTMPEncryptedHandshakeRefused: an RTMPE handshake (version 6) is
// closed: its chunks are encrypted, so their sizes could not be checked.
func TestRTMPEncryptedHandshakeRefused(t *testing.T) {
	_, addr, logs := startLoggedServer(t, Config{HandshakeTimeout: time.Minute})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c0c1 := make([]byte, 1+1536)
	c0c1[0] = versionRTMPE
	if _, err := c.Write(c0c1); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(c, 2*time.Second) {
		t.Fatal("RTMPE handshake not closed")
	}
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(logs.String(), "RTMPE"); {
		if time.Now().After(deadline) {
			t.Fatalf("no log of the reason:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPostAuthSizeLimits: once publish is authorized, a 2 MiB keyframe (over
// the pre-authorization limit) reaches a viewer whole; a message announced
// over MaxMessageSize closes the publisher with the reason logged.
func TestPostAuthSizeLimits(t *testing.T) {
	hub, addr, logs := startLoggedServer(t, Config{HandshakeTimeout: time.Minute, BatchInterval: -1, MaxMessageSize: 3 << 20})
	u, _ := url.Parse("rtmp://" + addr + "/live/big")
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
	key := make([]byte, 2<<20)
	key[0] = 0x65
	if err := w.WriteH264(w.Tracks[0], 0, 0, [][]byte{key}); err != nil {
		t.Fatal(err)
	}
	_ = viewer.NetConn().SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		msg, err := viewer.Read()
		if err != nil {
			t.Fatalf("viewer: %v", err)
		}
		if v, ok := msg.(*message.Video); ok && v.Type == message.VideoTypeAU {
			if len(v.AU) < len(key) {
				t.Fatalf("keyframe of %d bytes received, sent %d", len(v.AU), len(key))
			}
			break
		}
	}
	// A raw chunk on a fresh chunk stream announcing 4 MiB.
	if _, err := pubc.NetConn().Write(chunk0(40, 4<<20, msgTypeVideo)); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(pubc.NetConn(), 5*time.Second) {
		t.Fatal("publisher announcing 4 MiB over a 3 MiB limit was not closed")
	}
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(logs.String(), "message of 4194304 bytes announced, over the limit of 3145728 bytes"); {
		if time.Now().After(deadline) {
			t.Fatalf("no log of the reason:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHandshakeDeadline: the handshake and command phase share one
// deadline (HandshakeTimeout) from accept: a client that sends nothing,
// stops in the middle of the handshake, trickles the handshake a byte at a
// time or never sends connect after it is closed once the deadline has
// passed, not before.
func TestHandshakeDeadline(t *testing.T) {
	const timeout = 400 * time.Millisecond
	_, addr, _ := startLoggedServer(t, Config{HandshakeTimeout: timeout})
	for _, tc := range []struct {
		name string
		run  func(c net.Conn)
	}{
		{"silent", func(net.Conn) {}},
		{"half a handshake", func(c net.Conn) {
			b := make([]byte, 1+700)
			b[0] = 3
			_, _ = c.Write(b)
		}},
		{"trickled handshake", func(c net.Conn) {
			go func() {
				b := []byte{3}
				for range 40 {
					if _, err := c.Write(b); err != nil {
						return
					}
					b[0] = 0
					time.Sleep(50 * time.Millisecond)
				}
			}()
		}},
		{"no connect after the handshake", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			var c net.Conn
			if tc.run == nil {
				c = rawClient(t, addr)
			} else {
				var err error
				if c, err = net.Dial("tcp", addr); err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				tc.run(c)
			}
			if !closedWithin(c, timeout+3*time.Second) {
				t.Fatalf("not closed within %v of the deadline", 3*time.Second)
			}
			if d := time.Since(start); d < timeout-50*time.Millisecond {
				t.Fatalf("closed after %v, before the %v deadline", d, timeout)
			}
		})
	}
}

// FuzzGuardScan: any byte stream, in any pieces, ends in an error or not,
// never in a panic, and never lets a message over the limit through.
func FuzzGuardScan(f *testing.F) {
	hs := make([]byte, handshakeSize)
	hs[0] = 3
	f.Add(append(hs, setChunkSize(10<<20)...), uint8(7))
	f.Add(append(hs, manyInProgress()...), uint8(100))
	f.Add(append(hs, append(chunk0(3, 100, 20), make([]byte, 100)...)...), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, piece uint8) {
		g := newGuardConn(nil, 64<<10, 4<<20)
		step := int(piece) + 1
		for len(b) > 0 {
			n := min(step, len(b))
			if err := g.scan(b[:n]); err != nil {
				return
			}
			b = b[n:]
		}
		for _, cs := range g.streams {
			if cs.length > g.limit {
				t.Fatalf("message of %d bytes let through", cs.length)
			}
		}
		if g.chunkSize > g.chunkLimit || g.pending > 2*uint64(g.limit) {
			t.Fatalf("chunk size %d, pending %d let through", g.chunkSize, g.pending)
		}
	})
}
