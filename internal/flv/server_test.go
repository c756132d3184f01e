package flv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/minirtc/minirtc/internal/admission"
	"github.com/minirtc/minirtc/internal/flvtag"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

type flvEnv struct {
	hub    *media.Hub
	srv    *httptest.Server
	signer *token.URLSigner
	app    store.App
}

func newFLVEnv(t *testing.T, cfg media.Config) *flvEnv {
	t.Helper()
	return newFLVEnvWith(t, cfg, Config{})
}

func newFLVEnvWith(t *testing.T, cfg media.Config, fcfg Config) *flvEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := store.NewMemory()
	app, _ := store.NewApp("flv", time.Now())
	_ = st.PutApp(context.Background(), app)
	hub, err := media.NewHub(cfg, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	signer := token.NewURLSigner([]byte("secret"))
	s, err := NewServer(fcfg, hub, &admission.MediaAuthorizer{Signer: signer, Apps: st}, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() { hub.Close(); s.Close(); hs.Close() })
	return &flvEnv{hub: hub, srv: hs, signer: signer, app: app}
}

func (e *flvEnv) url(scheme string) string {
	stream := token.StreamName(e.app.ID, "room", "5")
	u, _ := url.Parse(e.srv.URL)
	u.Scheme = scheme
	return u.String() + "/live/" + stream + ".flv?" + e.signer.Query(token.ActionPlay, stream, time.Now().Add(time.Hour))
}

func (e *flvEnv) key() media.Key { return media.Key{AppID: e.app.ID, Channel: "room", UID: "5"} }

// publish writes one GOP of synthetic H.264 + AAC.
func publishGOP(t *testing.T, pub *media.Publisher) {
	t.Helper()
	pub.SetTracks(h264Track, aacTrack)
	for i := range 10 {
		d := time.Duration(i) * 40 * time.Millisecond
		if err := pub.Write(&media.Packet{Track: aacTrack, DTS: d, PTS: d, Payload: []byte{0x21, byte(i)}}); err != nil {
			t.Fatal(err)
		}
		if err := pub.Write(&media.Packet{Track: h264Track, DTS: d, PTS: d, Keyframe: i == 0, Payload: []byte{0, 0, 0, 2, 0x65, byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

// checkStart verifies the FLV start: header, onMetaData, AVC and AAC
// sequence headers, then the keyframe.
func checkStart(t *testing.T, b []byte) {
	t.Helper()
	hv, ha, rest, err := flvtag.ParseHeader(b)
	if err != nil || !hv || !ha {
		t.Fatalf("header: %v %v %v", hv, ha, err)
	}
	var tags []flvtag.Tag
	for len(rest) > 0 && len(tags) < 5 {
		tag, r, err := flvtag.ParseTag(rest)
		if err != nil {
			break
		}
		tags, rest = append(tags, tag), r
	}
	if len(tags) < 4 {
		t.Fatalf("only %d tags", len(tags))
	}
	if tags[0].Type != flvtag.TagScript {
		t.Fatalf("first tag type %d", tags[0].Type)
	}
	meta, err := flvtag.DecodeAMF0(tags[0].Body)
	if err != nil || meta[0] != "onMetaData" {
		t.Fatalf("metadata %v %v", meta, err)
	}
	for _, k := range []string{"width", "height", "framerate", "videocodecid", "audiocodecid"} {
		if _, ok := meta[1].(flvtag.Object).Get(k); !ok {
			t.Errorf("metadata lacks %s", k)
		}
	}
	v, _ := flvtag.ParseVideoBody(tags[1].Body)
	a, _ := flvtag.ParseAudioBody(tags[2].Body)
	if tags[1].Type != flvtag.TagVideo || v.PacketType != 0 || tags[2].Type != flvtag.TagAudio || a.PacketType != 0 {
		t.Fatalf("sequence headers: %d %+v %d %+v", tags[1].Type, v, tags[2].Type, a)
	}
	k, _ := flvtag.ParseVideoBody(tags[3].Body)
	if tags[3].Type != flvtag.TagVideo || !k.Keyframe || k.PacketType != 1 {
		t.Fatalf("fourth tag is not the keyframe: %d %+v", tags[3].Type, k)
	}
}

func TestViewers(t *testing.T) {
	for _, c := range []struct {
		name   string
		ws     bool
		before bool // the viewer connects before the publisher
	}{
		{"http-live", false, false},
		{"http-held", false, true},
		{"ws-live", true, false},
		{"ws-held", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newFLVEnv(t, media.Config{})
			pub, err := e.hub.Publish(e.key(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !c.before {
				publishGOP(t, pub)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var next func() []byte
			if c.ws {
				conn, _, err := websocket.Dial(ctx, e.url("ws"), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.CloseNow()
				next = func() []byte {
					_, b, err := conn.Read(ctx)
					if err != nil {
						t.Fatal(err)
					}
					return b
				}
			} else {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url("http"), nil)
				type result struct {
					resp *http.Response
					err  error
				}
				rc := make(chan result, 1)
				go func() {
					resp, err := http.DefaultClient.Do(req)
					rc <- result{resp, err}
				}()
				if c.before {
					// a held viewer gets its response once the stream is live
					for e.hub.Stats().Readers == 0 {
						time.Sleep(5 * time.Millisecond)
					}
					publishGOP(t, pub)
				}
				res := <-rc
				if res.err != nil {
					t.Fatal(res.err)
				}
				resp := res.resp
				defer resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/x-flv" {
					t.Fatalf("status %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				next = func() []byte {
					buf := make([]byte, 64<<10)
					n, err := resp.Body.Read(buf)
					if n == 0 && err != nil {
						t.Fatal(err)
					}
					return buf[:n]
				}
			}
			if c.ws && c.before {
				for e.hub.Stats().Readers == 0 {
					time.Sleep(5 * time.Millisecond)
				}
				publishGOP(t, pub)
			}
			var got []byte
			for {
				got = append(got, next()...)
				if _, _, rest, err := flvtag.ParseHeader(got); err == nil && bytes.Count(rest, []byte{flvtag.TagVideo}) > 0 && len(got) > 300 {
					break
				}
			}
			checkStart(t, got)
		})
	}
}

func TestHeldViewerGivesUp(t *testing.T) {
	e := newFLVEnv(t, media.Config{HoldTimeout: 30 * time.Millisecond})
	resp, err := http.Get(e.url("http"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Code   int
		Reason string
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusNotFound || body.Code != 432 || !strings.Contains(body.Reason, "did not start") {
		t.Fatalf("held viewer: %d %+v", resp.StatusCode, body)
	}
}

// Test tracks whose sequence headers real clients can parse.
var (
	h264Track = &media.Track{Codec: media.CodecH264,
		SPS: [][]byte{{0x67, 0x64, 0x00, 0x1f, 0xac}}, PPS: [][]byte{{0x68, 0xeb}},
		Width: 320, Height: 240, FrameRate: 25}
	aacTrack = &media.Track{Codec: media.CodecAAC, Config: []byte{0x12, 0x10}, SampleRate: 44100, Channels: 2}
)
