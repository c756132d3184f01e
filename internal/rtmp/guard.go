package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// Incoming-size limits (RTMP specification 1.0, sections 5.3 and 5.4).
//
// gortmplib allocates a chunk's body as soon as it has read the chunk's
// header: min(announced message length, chunk size) bytes, up to 10 MiB,
// whatever arrives afterwards; a message's chunks are then kept and joined
// into a second buffer of the whole length. A client that has proven
// nothing could make the server hold 20 MiB per connection by setting a
// large chunk size and announcing a large message. guardConn reads the
// incoming bytes before gortmplib does, follows the handshake and the chunk
// headers, and fails the read (the connection then closes) when an
// announced message length is over the current limit (the
// pre-authorization limit until publish or play is authorized, then the
// limit for media), when the messages in progress on all chunk streams add
// up to more than twice that, or when a Set Chunk Size is over the limit
// for media. What gortmplib allocates for a chunk is at most the length of
// its message, so the chunk size needs no tighter cap before
// authorization, and encoders that announce a large one early still work.
// The limits are Config's (config rtmp.preAuthMaxMessageSize and
// rtmp.maxMessageSize).
const (
	// maxMessageSize is the largest length a message header can carry.
	maxMessageSize = 1<<24 - 1

	handshakeSize = 1 + 1536 + 1536 // C0, C1 and C2
	versionRTMPE  = 6               // encrypted handshake: the chunks that follow cannot be read
	msgSetChunk   = 1
	msgAbort      = 2
	chunkSizeInit = 128
)

// limitError is the error a guardConn read returns when the client went over
// a limit; its text is the logged reason.
type limitError struct{ reason string }

func (e *limitError) Error() string { return "rtmp: " + e.reason }

// violation returns the limit a failed connection went over, if that is
// why it failed.
func violation(err error) (string, bool) {
	var le *limitError
	if errors.As(err, &le) {
		return le.reason, true
	}
	return "", false
}

// chunkStream is what guardConn remembers of one chunk stream, as gortmplib
// does: the header fields later chunks inherit and the progress of the
// message being received.
type chunkStream struct {
	length  uint32 // of the current (or last) message
	typ     uint8
	recv    uint32  // bytes of the current message received so far
	ext     bool    // its chunks carry an extended timestamp
	started bool    // a type 0 or 1 chunk was seen
	ctrl    [4]byte // body of a Set Chunk Size or Abort message
}

// guardConn is a net.Conn whose reads are checked against the limits. It
// is read by one goroutine at a time (the connection's), and SetLimit is
// called from that same goroutine.
type guardConn struct {
	net.Conn
	limit      uint32 // current cap of a message length
	chunkLimit uint32 // cap of the chunk size

	hs        int // handshake bytes still to pass
	chunkSize uint32
	streams   [64]chunkStream
	err       error // sticky: once over a limit, every read fails
	// pending is the length of the messages begun and not complete, over
	// all chunk streams: gortmplib keeps their chunks until the end.
	pending uint64

	// header being read: hdr[:hdrN] of hdrNeed bytes.
	hdr     [16]byte
	hdrN    int
	hdrNeed int
	cur     *chunkStream
	body    uint32 // body bytes of the current chunk still to pass
}

func newGuardConn(nc net.Conn, limit, chunkLimit uint32) *guardConn {
	return &guardConn{Conn: nc, limit: limit, chunkLimit: chunkLimit, hs: handshakeSize, chunkSize: chunkSizeInit}
}

// SetLimit changes the cap of a message length; it applies to the chunk
// headers read from now on.
func (g *guardConn) SetLimit(limit uint32) { g.limit = limit }

func (g *guardConn) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.Conn.Read(p)
	if n > 0 {
		if perr := g.scan(p[:n]); perr != nil {
			g.err = perr
			return 0, perr
		}
	}
	return n, err
}

func (g *guardConn) fail(format string, args ...any) error {
	return &limitError{fmt.Sprintf(format, args...)}
}

// scan follows b through the handshake and the chunk stream.
func (g *guardConn) scan(b []byte) error {
	if g.hs > 0 {
		if g.hs == handshakeSize && b[0] == versionRTMPE {
			return g.fail("encrypted RTMP (RTMPE) is not supported; use rtmp://")
		}
		n := min(g.hs, len(b))
		g.hs -= n
		b = b[n:]
	}
	for len(b) > 0 {
		switch {
		case g.body > 0:
			n := min(int(g.body), len(b))
			g.keepCtrl(b[:n])
			g.body -= uint32(n)     //nolint:gosec // G115: n <= g.body, a uint32
			g.cur.recv += uint32(n) //nolint:gosec // G115: as above
			b = b[n:]
			if g.body == 0 {
				if err := g.chunkDone(); err != nil {
					return err
				}
			}
		case g.hdrNeed == 0:
			// Basic header.
			g.hdr[0] = b[0]
			g.hdrN, g.hdrNeed = 1, 1+[]int{11, 7, 3, 0}[b[0]>>6]
			b = b[1:]
			if g.hdr[0]&0x3F < 2 {
				return g.fail("chunk stream ids above 63 are not supported")
			}
			if err := g.headerRead(); err != nil {
				return err
			}
		default:
			n := copy(g.hdr[g.hdrN:g.hdrNeed], b)
			g.hdrN += n
			b = b[n:]
			if err := g.headerRead(); err != nil {
				return err
			}
		}
	}
	return nil
}

// headerRead handles the chunk header once hdr holds hdrNeed bytes: it
// checks the header, extends hdrNeed for an extended timestamp, and then
// starts the chunk's body.
func (g *guardConn) headerRead() error {
	if g.hdrN < g.hdrNeed {
		return nil
	}
	fmtType := g.hdr[0] >> 6
	cs := &g.streams[g.hdr[0]&0x3F]
	base := 1 + []int{11, 7, 3, 0}[fmtType]
	if g.hdrNeed == base {
		// The message header is complete.
		switch fmtType {
		case 0, 1:
			if cs.recv != 0 {
				return g.fail("type %d chunk in the middle of a message", fmtType)
			}
			ts := uint32(g.hdr[1])<<16 | uint32(g.hdr[2])<<8 | uint32(g.hdr[3])
			length := uint32(g.hdr[4])<<16 | uint32(g.hdr[5])<<8 | uint32(g.hdr[6])
			if length > g.limit {
				return g.fail("message of %d bytes announced, over the limit of %d bytes", length, g.limit)
			}
			cs.length, cs.typ, cs.ext, cs.started = length, g.hdr[7], ts >= extendedTimestamp, true
		case 2:
			if !cs.started || cs.recv != 0 {
				return g.fail("type 2 chunk without a previous message header")
			}
			ts := uint32(g.hdr[1])<<16 | uint32(g.hdr[2])<<8 | uint32(g.hdr[3])
			cs.ext = ts >= extendedTimestamp
		case 3:
			if !cs.started {
				return g.fail("type 3 chunk without a previous message header")
			}
		}
		if cs.ext {
			g.hdrNeed += 4
			return nil
		}
	}
	g.hdrN, g.hdrNeed = 0, 0
	g.cur = cs
	if cs.recv == 0 {
		// A message begins. Messages interleave on several chunk streams
		// (audio between the chunks of a keyframe), but their sum is capped
		// too, or each of 62 chunk streams could hold a message's worth.
		if g.pending+uint64(cs.length) > 2*uint64(g.limit) {
			return g.fail("%d bytes of messages in progress at once, over twice the limit of %d bytes", g.pending+uint64(cs.length), g.limit)
		}
		g.pending += uint64(cs.length)
	}
	g.body = min(cs.length-cs.recv, g.chunkSize)
	if g.body == 0 {
		return g.chunkDone()
	}
	return nil
}

// keepCtrl keeps the first body bytes of the control messages that change
// how the stream is read.
func (g *guardConn) keepCtrl(b []byte) {
	if t := g.cur.typ; t != msgSetChunk && t != msgAbort {
		return
	}
	if off := int(g.cur.recv); off < len(g.cur.ctrl) {
		copy(g.cur.ctrl[off:], b)
	}
}

// chunkDone ends a chunk; when it ends a message, Set Chunk Size and Abort
// take effect as they do in gortmplib.
func (g *guardConn) chunkDone() error {
	cs := g.cur
	if cs.recv < cs.length {
		return nil
	}
	cs.recv = 0
	g.pending -= uint64(cs.length)
	if cs.length != 4 {
		return nil // gortmplib refuses such a control message itself
	}
	v := binary.BigEndian.Uint32(cs.ctrl[:])
	switch cs.typ {
	case msgSetChunk:
		if v == 0 || v > g.chunkLimit {
			return g.fail("chunk size %d is outside 1..%d bytes", v, g.chunkLimit)
		}
		g.chunkSize = v
	case msgAbort:
		if v >= 2 && v <= 63 && g.streams[v].recv > 0 {
			g.pending -= uint64(g.streams[v].length)
			g.streams[v].recv = 0
		}
	}
	return nil
}
