package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/minirtc/minirtc/internal/bench/synth"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestDrainConn(t *testing.T) {
	t.Run("order, pending, EOF", func(t *testing.T) {
		c, s := tcpPair(t)
		d := newDrainConn(c, 5*time.Second)
		defer func() { d.Close(); <-d.done }()
		want := bytes.Repeat([]byte("0123456789"), 1000)
		if _, err := s.Write(want); err != nil {
			t.Fatal(err)
		}
		s.Close()
		<-d.done // the drainer saw EOF: everything is queued
		if d.pending() != len(want) || d.received() != int64(len(want)) || !errors.Is(d.readErr(), io.EOF) {
			t.Fatalf("pending %d received %d err %v", d.pending(), d.received(), d.readErr())
		}
		buf := make([]byte, 64)
		var got []byte
		for {
			n, err := d.Read(buf)
			if n > 1 {
				t.Fatalf("Read returned %d bytes: one per call keeps the RTMP reader from buffering ahead", n)
			}
			got = append(got, buf[:n]...)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				break
			}
		}
		if !bytes.Equal(got, want) || d.pending() != 0 {
			t.Fatalf("got %d bytes (pending %d), want %d in order", len(got), d.pending(), len(want))
		}
	})
	t.Run("timeout", func(t *testing.T) {
		c, _ := tcpPair(t)
		d := newDrainConn(c, 50*time.Millisecond)
		defer func() { d.Close(); <-d.done }()
		if _, err := d.Read(make([]byte, 1)); !errors.Is(err, errDrainTimeout) {
			t.Fatalf("err %v, want a timeout", err)
		}
	})
	t.Run("cap and close", func(t *testing.T) {
		c, s := tcpPair(t)
		d := newDrainConn(c, 5*time.Second)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // a server that floods the publisher
			defer wg.Done()
			chunk := make([]byte, 64<<10)
			_ = s.SetWriteDeadline(time.Now().Add(10 * time.Second))
			for {
				if _, err := s.Write(chunk); err != nil {
					return
				}
			}
		}()
		for d.pending() < drainCap {
			time.Sleep(time.Millisecond)
		}
		// The drainer stopped at the cap (plus at most one read), and
		// Close ends it while it waits for room.
		if p := d.pending(); p >= drainCap+4096 {
			t.Fatalf("pending %d: the cap %d does not hold", p, drainCap)
		}
		d.Close()
		<-d.done
		s.Close()
		wg.Wait()
	})
}

// fakePublishServer accepts one RTMP publish and runs fn with it.
func fakePublishServer(t *testing.T, fn func(nc net.Conn, sc *gortmplib.ServerConn) error) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		ln.Close()
		if err != nil {
			done <- err
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
		sc := &gortmplib.ServerConn{RW: nc}
		if err := sc.Initialize(); err != nil {
			done <- err
			return
		}
		if err := sc.AcceptConn(); err != nil {
			done <- err
			return
		}
		if err := sc.AcceptAction(); err != nil {
			done <- err
			return
		}
		done <- fn(nc, sc)
	}()
	t.Cleanup(func() { ln.Close() })
	return "rtmp://" + ln.Addr().String() + "/live/s", done
}

// readMedia reads from the publisher until n media messages arrived,
// returning the first other message kinds it saw.
func readMedia(sc *gortmplib.ServerConn, n int, other func(message.Message) bool) error {
	for got := 0; got < n; {
		msg, err := sc.Read()
		if err != nil {
			return err
		}
		switch msg.(type) {
		case *message.Video, *message.Audio:
			got++
		default:
			if other != nil && other(msg) {
				return nil
			}
		}
	}
	return nil
}

// TestPublisherServerMessages: the publisher answers a server's pings
// while it pushes, and ends with the server's reason when the server
// reports an error status.
func TestPublisherServerMessages(t *testing.T) {
	vcfg := synth.VideoConfig{Width: 64, Height: 64, FPS: 30, GOP: 30, Bitrate: 100_000}
	t.Run("ping", func(t *testing.T) {
		url, done := fakePublishServer(t, func(nc net.Conn, sc *gortmplib.ServerConn) error {
			if err := readMedia(sc, 5, nil); err != nil {
				return err
			}
			if err := sc.Write(&message.UserControlPingRequest{ServerTime: 4242}); err != nil {
				return err
			}
			var pong *message.UserControlPingResponse
			err := readMedia(sc, 300, func(m message.Message) bool {
				pong, _ = m.(*message.UserControlPingResponse)
				return pong != nil
			})
			if err != nil {
				return err
			}
			if pong == nil || pong.ServerTime != 4242 {
				return errors.New("no ping response within 300 media messages")
			}
			return nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var ps pubStats
		pubDone := make(chan error, 1)
		go func() {
			pubDone <- publishRTMP(ctx, url, pubOptions{video: vcfg, audio: true, timeout: 5 * time.Second}, &ps, make(chan struct{}))
		}()
		if err := <-done; err != nil {
			t.Fatalf("server: %v", err)
		}
		cancel()
		<-pubDone // the server closed: either nil (cancelled) or a closed-connection error
		if ps.pings.Load() != 1 {
			t.Fatalf("pings %d, want 1", ps.pings.Load())
		}
	})
	t.Run("error status", func(t *testing.T) {
		url, done := fakePublishServer(t, func(nc net.Conn, sc *gortmplib.ServerConn) error {
			if err := readMedia(sc, 5, nil); err != nil {
				return err
			}
			if err := sc.Write(&message.CommandAMF0{ChunkStreamID: 5, MessageStreamID: 0x1000000, Name: "onStatus",
				Arguments: []any{nil, amf0.Object{
					{Key: "level", Value: "error"},
					{Key: "code", Value: "NetStream.Publish.BadName"},
					{Key: "description", Value: "kicked by the test"},
				}}}); err != nil {
				return err
			}
			// Keep reading until the publisher hangs up.
			for {
				if _, err := sc.Read(); err != nil {
					return nil
				}
			}
		})
		var ps pubStats
		err := publishRTMP(context.Background(), url, pubOptions{video: vcfg, timeout: 5 * time.Second}, &ps, make(chan struct{}))
		if err == nil || !strings.Contains(err.Error(), "NetStream.Publish.BadName: kicked by the test") {
			t.Fatalf("err %v, want the server's status", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("server: %v", err)
		}
	})
}

// TestRTMPNotAccepted: a server that accepts the TCP connection but never
// answers is reported as such, for readers and publishers alike.
func TestRTMPNotAccepted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // accept and stay silent until the listener closes
		defer wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer wg.Wait()
	defer ln.Close()
	url := "rtmp://" + ln.Addr().String() + "/live/s"
	_, err = readRTMP(context.Background(), url, 200*time.Millisecond, newSink(time.Now()))
	if err == nil || !strings.Contains(err.Error(), "rtmp play: not accepted within 200ms") {
		t.Fatalf("reader: %v", err)
	}
	var ps pubStats
	err = publishRTMP(context.Background(), url, pubOptions{video: synth.VideoConfig{Width: 64, Height: 64}, timeout: 200 * time.Millisecond}, &ps, make(chan struct{}))
	if err == nil || !strings.Contains(err.Error(), "rtmp publish: not accepted within 200ms") {
		t.Fatalf("publisher: %v", err)
	}
}
