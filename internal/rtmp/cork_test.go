package rtmp

import (
	"bytes"
	"net"
	"testing"
)

// countConn records the writes that reach the socket.
type countConn struct {
	net.Conn
	writes [][]byte
	in     *bytes.Reader
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *countConn) Read(p []byte) (int, error) { return c.in.Read(p) }

func TestCorkConn(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(k *corkConn) []byte // returns what the caller sent itself
		want []string
	}{
		{"held until the next read", func(k *corkConn) []byte {
			k.Write([]byte("a"))
			k.Write([]byte("b"))
			k.Read(make([]byte, 1))
			k.Write([]byte("c"))
			k.Read(make([]byte, 1))
			return nil
		}, []string{"ab", "c"}},
		{"take hands the replies over, then writes pass", func(k *corkConn) []byte {
			k.Write([]byte("x"))
			got := k.take()
			k.Write([]byte("y"))
			return got
		}, []string{"y"}},
		{"release sends them", func(k *corkConn) []byte {
			k.Write([]byte("r"))
			k.Write([]byte("s"))
			k.release()
			k.Write([]byte("t"))
			return nil
		}, []string{"rs", "t"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cc := &countConn{in: bytes.NewReader([]byte("123"))}
			k := &corkConn{Conn: cc}
			taken := c.run(k)
			var got []string
			for _, w := range cc.writes {
				got = append(got, string(w))
			}
			if len(got) != len(c.want) {
				t.Fatalf("writes %q, want %q", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("writes %q, want %q", got, c.want)
				}
			}
			if c.name == "take hands the replies over, then writes pass" && string(taken) != "x" {
				t.Fatalf("take returned %q", taken)
			}
		})
	}
}
