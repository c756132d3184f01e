package relay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/media/mediatest"
)

var key = media.Key{AppID: "app", Channel: "room", UID: "7"}

// packetAt makes packet i of a test stream: a keyframe every 10 video
// packets, audio in between; the payload names i so order can be checked.
func packetAt(i int) *media.Packet {
	ts := time.Duration(i) * 20 * time.Millisecond
	payload := binary.BigEndian.AppendUint32(make([]byte, 0, 64), uint32(i))
	payload = append(payload, bytes.Repeat([]byte{byte(i)}, 60)...)
	if i%2 == 1 {
		return &media.Packet{Track: mediatest.Audio, DTS: ts, PTS: ts, Keyframe: true, Payload: payload}
	}
	return &media.Packet{Track: mediatest.Video, DTS: ts, PTS: ts + 40*time.Millisecond, Keyframe: i%20 == 0, Payload: payload}
}

func seqOf(p *media.Packet) int { return int(binary.BigEndian.Uint32(p.Payload)) }

func newHub(t *testing.T) *media.Hub {
	t.Helper()
	h, err := media.NewHub(media.Config{Grace: -1}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func TestRelayCarriesTheStreamOncePerNode(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	originHub, edgeHub := newHub(t), newHub(t)
	origin := NewOrigin(originHub, log)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin.ServeStream(w, r, key)
	}))
	t.Cleanup(srv.Close)

	pub, err := originHub.Publish(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.SetTracks(mediatest.Video, mediatest.Audio)
	// Packets 20..49 already published (keyframes at 20 and 40): the edge
	// must start with the origin's GOP cache, i.e. at keyframe 40.
	const before, after, firstKey = 30, 400, 40
	for i := 20; i < 20+before; i++ {
		if err := pub.Write(packetAt(i)); err != nil {
			t.Fatal(err)
		}
	}

	const readers = 50
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rds := make([]*media.Reader, readers)
	for i := range rds {
		rd, err := edgeHub.Subscribe(key, media.SubscribeOptions{Protocol: "test"})
		if err != nil {
			t.Fatal(err)
		}
		rds[i] = rd
	}
	pullDone := make(chan error, 1)
	go func() { pullDone <- Pull{URL: srv.URL, Hub: edgeHub, Key: key, Log: log}.Run(ctx) }()

	var wg sync.WaitGroup
	got := make([][]int, readers)
	for i, rd := range rds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer rd.Close()
			var pkts []*media.Packet
			for {
				var err error
				pkts, err = rd.Next(ctx, pkts[:0])
				for _, p := range pkts {
					if p.Kind() == media.KindVideo && (len(p.Track.SPS) == 0 || !bytes.Equal(p.Track.SPS[0], mediatest.Video.SPS[0])) {
						t.Errorf("reader %d: video track lost its SPS", i)
					}
					got[i] = append(got[i], seqOf(p))
				}
				if err != nil {
					return
				}
			}
		}()
	}
	// Wait for the edge to be live before publishing the rest.
	deadline := time.Now().Add(5 * time.Second)
	for !edgeHub.Live(key) {
		if time.Now().After(deadline) {
			t.Fatal("edge stream never went live")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 20 + before; i < 20+before+after; i++ {
		if err := pub.Write(packetAt(i)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // let the relay keep up, as a real-time source would
		}
	}
	// The origin's stream ends: the pull ends cleanly and so do the edge's readers.
	originHub.EndStream(key, nil)
	if err := <-pullDone; err != nil {
		t.Fatalf("pull: %v", err)
	}
	wg.Wait()

	for i, seqs := range got {
		if want := 20 + before + after - firstKey; len(seqs) != want {
			t.Fatalf("reader %d got %d packets, want %d (first %v)", i, len(seqs), want, seqs[:min(5, len(seqs))])
		}
		if seqs[0] != firstKey {
			t.Fatalf("reader %d started at packet %d, want the cached keyframe %d", i, seqs[0], firstKey)
		}
		for j := 1; j < len(seqs); j++ {
			if seqs[j] != seqs[j-1]+1 {
				t.Fatalf("reader %d: packet %d follows %d", i, seqs[j], seqs[j-1])
			}
		}
	}
	// One copy for the node, not one per reader: 64-byte payloads plus a
	// 23-byte frame header and the two track frames.
	one := uint64((20 + before + after - firstKey) * (64 + 5 + packetHeader))
	if out := origin.BytesOut(); out < one || out > one+2048 {
		t.Fatalf("origin sent %d bytes for %d edge readers; one copy is about %d", out, readers, one)
	}
}

func TestPullRefusedOrMalformed(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	cases := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"refused", http.StatusForbidden, "no", ErrOriginRefused},
		{"not relay", http.StatusOK, "<html>", ErrBadMagic},
		{"unknown frame", http.StatusOK, Magic + "\x09\x00\x00\x00\x00", ErrMalformed},
		{"huge packet", http.StatusOK, Magic + "\x02\xff\xff\xff\xff", ErrMalformed},
		{"packet before track", http.StatusOK, Magic + "\x02\x00\x00\x00\x13" + string(make([]byte, 19)), ErrMalformed},
		{"truncated", http.StatusOK, Magic + "\x01\x00\x00\x01\x00{", ErrMalformed},
		{"huge end frame", http.StatusOK, Magic + "\x03\x00\x00\x10\x00", ErrMalformed},
		{"truncated end frame", http.StatusOK, Magic + "\x03\x00\x00\x00\x10ab", ErrMalformed},
		{"bad codec", http.StatusOK, Magic + "\x01\x00\x00\x00\x18" + `{"kind":1,"codec":99}   `, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			hub := newHub(t)
			err := Pull{URL: srv.URL, Hub: hub, Key: key, Log: log}.Run(context.Background())
			if !errors.Is(err, tc.want) {
				t.Fatalf("pull: %v, want %v", err, tc.want)
			}
			if hub.Live(key) {
				t.Fatal("a failed pull left a live stream")
			}
		})
	}
}

// TestEncoderRefusesOversizedTrack: a track whose description is over the
// decoder's limit is an error at the sender, not a frame every puller rejects.
func TestEncoderRefusesOversizedTrack(t *testing.T) {
	var buf bytes.Buffer
	enc, err := NewEncoder(&buf)
	if err != nil {
		t.Fatal(err)
	}
	p := packetAt(0)
	p.Track = &media.Track{Codec: mediatest.Video.Codec, PPS: mediatest.Video.PPS,
		SPS: [][]byte{bytes.Repeat([]byte{0x67}, maxTrackJSON)}}
	if err := enc.Encode(p); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("Encode: %v, want an error naming the limit", err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	if buf.String() != Magic {
		t.Fatalf("%d bytes written after the magic, want none", buf.Len()-len(Magic))
	}
	// A normal track still goes through, and decodes.
	if err := enc.Encode(packetAt(0)); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDecoder(bytes.NewReader(buf.Bytes())).Next(); err != nil {
		t.Fatalf("decode after the refusal: %v", err)
	}
}

func FuzzDecoder(f *testing.F) {
	var buf bytes.Buffer
	enc, _ := NewEncoder(&buf)
	for i := 0; i < 6; i++ {
		_ = enc.Encode(packetAt(i))
	}
	_ = enc.Flush()
	f.Add(buf.Bytes())
	f.Add([]byte(Magic))
	f.Add([]byte(Magic + "\x02\x00\x00\x00\x13"))
	f.Add([]byte(Magic + "\x03\x00\x00\x00\x04gone"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(bytes.NewReader(data))
		for i := 0; i < 1000; i++ {
			p, err := d.Next()
			if err != nil {
				return
			}
			if p.Track == nil || p.PTS < p.DTS || len(p.Payload) > MaxPacket {
				t.Fatalf("decoder returned an invalid packet: %+v", p)
			}
		}
	})
}

// TestPullPublishesWithTheFirstPacket: a pull whose origin has nothing to
// send yet (its stream is not live) does not publish locally, so the local
// stream's readers are not resumed by an empty relay; with the first packet
// it publishes, as a relay.
func TestPullPublishesWithTheFirstPacket(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	send := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enc, _ := NewEncoder(w)
		_ = enc.Flush()
		w.(http.Flusher).Flush()
		select {
		case <-send:
		case <-r.Context().Done():
			return
		}
		_ = enc.Encode(packetAt(0))
		_ = enc.Flush()
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	hub := newHub(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Pull{URL: srv.URL, Hub: hub, Key: key, Log: log}.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	if hub.Live(key) {
		t.Fatal("the pull published before the origin sent any media")
	}
	close(send)
	deadline := time.Now().Add(5 * time.Second)
	for !hub.Live(key) {
		if time.Now().After(deadline) {
			t.Fatal("the pull never published the relayed stream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Published as a relay: the stream's own publisher takes over at once.
	if _, err := hub.Publish(key, nil); err != nil {
		t.Fatalf("a local publisher was refused over a relay: %v", err)
	}
	cancel()
	<-done
}

// TestOriginAnswersBeforeTheStreamIsLive: the origin sends its response
// header and the magic at once, so that a pulling node knows its pull was
// taken (and its header timeout does not cut a pull waiting for the stream).
func TestOriginAnswersBeforeTheStreamIsLive(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	hub := newHub(t)
	origin := NewOrigin(hub, log)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin.ServeStream(w, r, key)
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 2 * time.Second}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("no response header while the stream is not live: %v", err)
	}
	defer resp.Body.Close()
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(resp.Body, magic); err != nil || string(magic) != Magic {
		t.Fatalf("body starts %q, %v", magic, err)
	}
}

// TestEndFrame: an end frame carries the origin's reason; the decoder
// returns it as ErrStreamEnded, not as the body's end.
func TestEndFrame(t *testing.T) {
	var buf bytes.Buffer
	enc, _ := NewEncoder(&buf)
	_ = enc.Encode(packetAt(0))
	_ = enc.End("not publishing: the publisher stopped")
	_ = enc.Flush()
	d := NewDecoder(&buf)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := d.Next()
	if !errors.Is(err, ErrStreamEnded) || !strings.Contains(err.Error(), "the publisher stopped") {
		t.Fatalf("after the end frame: %v", err)
	}
}
