package bench

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"
)

// relay is a minimal third-party-style media server for the tests: it
// accepts one RTMP publisher (any app and stream name) and forwards its
// messages to any number of RTMP players and HTTP-FLV viewers, starting each
// with the latest codec configuration. It is written against gortmplib's
// server side only, so the bench is tested against something that is not
// minirtc.
type relay struct {
	t    *testing.T
	ln   net.Listener
	srv  *http.Server
	hln  net.Listener
	wg   sync.WaitGroup
	quit chan struct{}

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	streams map[string]*relayStream // by URL path, e.g. "/live/cam1"
}

// relayStream is one published path.
type relayStream struct {
	vconfig *message.Video
	aconfig *message.Audio
	subs    map[chan message.Message]struct{}
}

// stream returns the state of a path; r.mu must be held.
func (r *relay) stream(path string) *relayStream {
	st := r.streams[path]
	if st == nil {
		st = &relayStream{subs: map[chan message.Message]struct{}{}}
		r.streams[path] = st
	}
	return st
}

func newRelay(t *testing.T) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{t: t, ln: ln, hln: hln, quit: make(chan struct{}), conns: map[net.Conn]struct{}{}, streams: map[string]*relayStream{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serveFLV), ReadHeaderTimeout: 5 * time.Second}
	r.wg.Add(2)
	go func() { defer r.wg.Done(); r.accept() }()
	go func() { defer r.wg.Done(); _ = r.srv.Serve(hln) }()
	t.Cleanup(r.close)
	return r
}

func (r *relay) rtmpURL(path string) string { return "rtmp://" + r.ln.Addr().String() + path }
func (r *relay) flvURL(path string) string  { return "http://" + r.hln.Addr().String() + path }

func (r *relay) close() {
	close(r.quit)
	r.ln.Close()
	_ = r.srv.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *relay) accept() {
	for {
		nc, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.conns[nc] = struct{}{}
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() {
				nc.Close()
				r.mu.Lock()
				delete(r.conns, nc)
				r.mu.Unlock()
			}()
			_ = r.handle(nc)
		}()
	}
}

func (r *relay) subscribe(path string) chan message.Message {
	ch := make(chan message.Message, 1024)
	r.mu.Lock()
	st := r.stream(path)
	if st.vconfig != nil {
		ch <- st.vconfig
	}
	if st.aconfig != nil {
		ch <- st.aconfig
	}
	st.subs[ch] = struct{}{}
	r.mu.Unlock()
	return ch
}

func (r *relay) unsubscribe(path string, ch chan message.Message) {
	r.mu.Lock()
	delete(r.stream(path).subs, ch)
	r.mu.Unlock()
}

func (r *relay) handle(nc net.Conn) error {
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	sc := &gortmplib.ServerConn{RW: nc}
	if err := sc.Initialize(); err != nil {
		return err
	}
	if err := sc.AcceptConn(); err != nil {
		return err
	}
	if err := sc.AcceptAction(); err != nil {
		return err
	}
	path := sc.URL.Path
	if sc.Publish {
		for {
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			msg, err := sc.Read()
			if err != nil {
				return err
			}
			r.mu.Lock()
			st := r.stream(path)
			switch m := msg.(type) {
			case *message.Video:
				if m.Type == message.VideoTypeConfig {
					st.vconfig = m
				}
			case *message.Audio:
				if m.AACType == message.AudioAACTypeConfig {
					st.aconfig = m
				}
			default:
				r.mu.Unlock()
				continue
			}
			for ch := range st.subs {
				select {
				case ch <- msg:
				default: // a slow viewer loses the frame, like a real server
				}
			}
			r.mu.Unlock()
		}
	}
	ch := r.subscribe(path)
	defer r.unsubscribe(path, ch)
	_ = nc.SetDeadline(time.Time{})
	left := make(chan struct{})
	r.wg.Add(1)
	go func() { // notice the player leaving
		defer r.wg.Done()
		defer close(left)
		var b [512]byte
		for {
			if _, err := nc.Read(b[:]); err != nil {
				return
			}
		}
	}()
	defer nc.Close() // ends the goroutine above
	for {
		var msg message.Message
		select {
		case <-r.quit:
			return nil
		case <-left:
			return nil
		case msg = <-ch:
		}
		_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		switch m := msg.(type) {
		case *message.Video:
			c := *m
			c.MessageStreamID = 0x1000000
			msg = &c
		case *message.Audio:
			c := *m
			c.MessageStreamID = 0x1000000
			msg = &c
		}
		if err := sc.Write(msg); err != nil {
			return err
		}
	}
}

// serveFLV writes FLV 10.1 tags (header, then audio/video tags built from
// the relayed RTMP messages).
func (r *relay) serveFLV(w http.ResponseWriter, req *http.Request) {
	path := strings.TrimSuffix(req.URL.Path, ".flv")
	ch := r.subscribe(path)
	defer r.unsubscribe(path, ch)
	w.Header().Set("Content-Type", "video/x-flv")
	bw := bufio.NewWriter(w)
	bw.Write([]byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0})
	fl, _ := w.(http.Flusher)
	for {
		var msg message.Message
		select {
		case <-req.Context().Done():
			return
		case <-r.quit:
			return
		case msg = <-ch:
		}
		var typ byte
		var body []byte
		var ts time.Duration
		switch m := msg.(type) {
		case *message.Video:
			typ, ts = flvTagVideo, m.DTS
			key := byte(0x27)
			if m.IsKeyFrame || m.Type == message.VideoTypeConfig {
				key = 0x17
			}
			if m.Type == message.VideoTypeConfig {
				sps := m.AVCConfig.SequenceParameterSets[0].NALUnit
				pps := m.AVCConfig.PictureParameterSets[0].NALUnit
				body = []byte{key, 0, 0, 0, 0, 1, sps[1], sps[2], sps[3], 0xff, 0xe1}
				body = binary.BigEndian.AppendUint16(body, uint16(len(sps)))
				body = append(body, sps...)
				body = append(body, 1)
				body = binary.BigEndian.AppendUint16(body, uint16(len(pps)))
				body = append(body, pps...)
			} else {
				body = append([]byte{key, 1, 0, 0, 0}, m.AU...)
			}
		case *message.Audio:
			typ, ts = flvTagAudio, m.DTS
			if m.AACType == message.AudioAACTypeConfig {
				asc, err := m.AACConfig.Marshal()
				if err != nil {
					return
				}
				body = append([]byte{0xaf, 0}, asc...)
			} else {
				body = append([]byte{0xaf, 1}, m.AU...)
			}
		default:
			continue
		}
		ms := uint32(ts / time.Millisecond)
		h := []byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body)), byte(ms >> 16), byte(ms >> 8), byte(ms), byte(ms >> 24), 0, 0, 0}
		bw.Write(h)
		bw.Write(body)
		if _, err := bw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(body)+11))); err != nil {
			return
		}
		if len(ch) == 0 {
			if bw.Flush() != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
	}
}

// startHTTP serves srv on a loopback port until the test ends.
func startHTTP(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return "http://" + ln.Addr().String()
}
