package egress

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair is a connected loopback TCP pair; both ends close with the test.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
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

// TestConnWriteBlocking: a Conn writes every buffer, through writev on a
// TCP socket and through the net.Conn otherwise, and a peer that stops
// reading makes the write fail at its deadline instead of blocking forever.
func TestConnWriteBlocking(t *testing.T) {
	c, peer := tcpPair(t)
	p1, p2 := net.Pipe()
	t.Cleanup(func() { p1.Close(); p2.Close() })
	for _, tc := range []struct {
		name    string
		nc, rd  net.Conn
		wantRaw bool
	}{
		{"tcp", c, peer, Supported},
		{"pipe", p1, p2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := NewConn(tc.nc, 5*time.Second)
			if (conn.Raw != nil) != tc.wantRaw {
				t.Fatalf("Raw set: %v, want %v", conn.Raw != nil, tc.wantRaw)
			}
			want := []byte("header|payload|trailer")
			got := make(chan []byte, 1)
			go func() {
				b := make([]byte, len(want))
				_, _ = io.ReadFull(tc.rd, b)
				got <- b
			}()
			if err := conn.WriteBlocking([][]byte{want[:7], want[7:15], want[15:]}); err != nil {
				t.Fatal(err)
			}
			if b := <-got; !bytes.Equal(b, want) {
				t.Fatalf("peer read %q, want %q", b, want)
			}
		})
	}
	t.Run("deadline", func(t *testing.T) {
		c, _ := tcpPair(t) // the peer never reads
		conn := NewConn(c, 200*time.Millisecond)
		big := make([]byte, 1<<20)
		var err error
		for i := 0; i < 256 && err == nil; i++ { // until the socket buffers are full
			err = conn.WriteBlocking([][]byte{big})
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write to a peer that does not read: %v, want a deadline error", err)
		}
		conn.ClearDeadline()
	})
}
