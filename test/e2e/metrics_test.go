package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/node"
	"github.com/minirtc/minirtc/internal/token"
)

// scrape is one parsed GET /metrics.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics fetches /metrics and parses it with the Prometheus text
// format parser (the test fails if it does not parse).
func scrapeMetrics(t *testing.T, addr string) scrape {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/metrics Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mf
}

// value is the value of the series of name whose labels include want
// ("k=v" pairs); several matching series are summed; none is 0.
func (s scrape) value(name string, want ...string) float64 {
	mf := s[name]
	if mf == nil {
		return 0
	}
	sum := 0.0
next:
	for _, m := range mf.GetMetric() {
		for _, w := range want {
			k, v, _ := strings.Cut(w, "=")
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

// waitMetric polls /metrics until name{want} equals v.
func waitMetric(t *testing.T, addr string, v float64, name string, want ...string) scrape {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := scrapeMetrics(t, addr)
		got := s.value(name, want...)
		if got == v {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, want, got, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rawRequest sends one gateway action and returns the reply's code.
func (m *miniProgram) rawRequest(action string) float64 {
	m.t.Helper()
	code, _ := m.reply(action, nil)["code"].(float64)
	return code
}

// TestMetricsScriptedSession: /metrics parses with the Prometheus text
// parser, and its counters and gauges move by the expected amounts while a
// scripted session runs on a real node: a gateway WebSocket member joins, a
// bad request is refused, ffmpeg pushes RTMP with a token (its member
// joins), an RTMP reader (ffmpeg) and an HTTP-FLV reader play it to the
// end, an unauthorized RTMP play is refused, and the members leave.
func TestMetricsScriptedSession(t *testing.T) {
	needTool(t, "ffmpeg")
	e := newNodeEnv(t)
	addr := e.n.HTTPAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	app := "app=" + e.app.ID
	const pubUID, viewUID = 42, 43

	s0 := scrapeMetrics(t, addr)
	for _, name := range []string{"minirtc_build_info", "go_goroutines", "process_cpu_seconds_total", "minirtc_tcp_connections",
		"minirtc_connections_total", "minirtc_sent_bytes_total", "minirtc_media_streams", "minirtc_gateway_sessions"} {
		if s0[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if s0.value("minirtc_build_info", "version="+node.Version) != 1 {
		t.Errorf("build_info: %v", s0["minirtc_build_info"])
	}
	for _, l := range []string{"http", "rtmp", "webrtcUDP"} {
		if v := s0.value("minirtc_listener_state", "listener="+l, "state=serving"); v != 1 {
			t.Errorf("listener_state{%s,serving} = %v", l, v)
		}
		if v := s0.value("minirtc_listener_state", "listener="+l); v != 1 {
			t.Errorf("listener %s is in %v states at once", l, v)
		}
		if mf := s0["minirtc_listener_accept_errors_total"]; mf == nil || s0.value("minirtc_listener_accept_errors_total", "listener="+l) != 0 {
			t.Errorf("listener_accept_errors_total{%s}: %v", l, mf)
		}
	}

	// A mini program member joins over the gateway WebSocket.
	viewer := dialMiniProgram(ctx, t, "ws://"+addr+"/api")
	defer viewer.close()
	viewer.join(e.app.ID, "room", viewUID, e.token("room", fmt.Sprint(viewUID), token.RolePublisher))
	s1 := scrapeMetrics(t, addr)
	if d := s1.value("minirtc_joins_total", app) - s0.value("minirtc_joins_total", app); d != 1 {
		t.Errorf("joins_total moved by %v after one join", d)
	}
	for _, c := range []struct {
		name   string
		labels []string
	}{{"minirtc_channel_members", []string{app}}, {"minirtc_channels", []string{app}}, {"minirtc_gateway_sessions", nil}} {
		if got := s1.value(c.name, c.labels...); got != 1 {
			t.Errorf("%s%v = %v, want 1", c.name, c.labels, got)
		}
	}

	// A request the gateway refuses (unknown action: 430).
	if code := viewer.rawRequest("no-such-action"); code != 430 {
		t.Fatalf("unknown action answered %v", code)
	}
	s2 := scrapeMetrics(t, addr)
	if d := s2.value("minirtc_errors_total", "component=gateway", "code=430") - s1.value("minirtc_errors_total", "component=gateway", "code=430"); d != 1 {
		t.Errorf("gateway errors_total{code=430} moved by %v after one refused request", d)
	}

	// ffmpeg pushes with a token: the node makes uid 42 a member while it pushes.
	src, _ := makeSource(t, 6, true, true)
	srcInfo, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	stream := token.StreamName(e.app.ID, "room", fmt.Sprint(pubUID))
	pushURL := fmt.Sprintf("rtmp://%s/live/%s?token=%s", e.n.RTMPAddr(), stream, url.QueryEscape(e.token("room", fmt.Sprint(pubUID), token.RolePublisher)))
	pushDone := make(chan error, 1)
	go func() { pushDone <- runWait(pushFile(ctx, t, src, pushURL)) }()
	viewer.waitPush(t, "stream-added", pubUID, nil)

	// An RTMP reader (ffmpeg) and an HTTP-FLV reader play it to its end.
	out := filepath.Join(t.TempDir(), "play.flv")
	rtmpDone := make(chan error, 1)
	go func() { rtmpDone <- runWait(recordCmd(ctx, t, e.playURL("rtmp", fmt.Sprint(pubUID)), out)) }()
	resp, err := http.Get(e.playURL("flv", fmt.Sprint(pubUID)))
	if err != nil {
		t.Fatal(err)
	}
	flvDone := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		flvDone <- n
	}()
	waitReaders(t, e.n.Media(), 2)
	live := scrapeMetrics(t, addr)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"minirtc_publishers", []string{"protocol=rtmp"}, 1},
		{"minirtc_readers", []string{"protocol=rtmp"}, 1},
		{"minirtc_readers", []string{"protocol=flv"}, 1},
		{"minirtc_connections", []string{"protocol=rtmp"}, 2},
		{"minirtc_connections", []string{"protocol=flv"}, 1},
		{"minirtc_channel_members", []string{app}, 2},
		{"minirtc_media_streams", nil, 1},
	} {
		if got := live.value(c.name, c.labels...); got != c.want {
			t.Errorf("while live: %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"minirtc_publishes_total", []string{"protocol=rtmp"}, 1},
		{"minirtc_reads_total", []string{"protocol=rtmp"}, 1},
		{"minirtc_reads_total", []string{"protocol=flv"}, 1},
		{"minirtc_connections_total", []string{"protocol=rtmp"}, 2},
		{"minirtc_connections_total", []string{"protocol=flv"}, 1},
		{"minirtc_joins_total", []string{app}, 1},
	} {
		if d := live.value(c.name, c.labels...) - s2.value(c.name, c.labels...); d != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, d, c.want)
		}
	}
	// Bounded cardinality: no series names a channel, a uid, a stream or an address.
	for name, mf := range live {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				v := l.GetValue()
				if v == "room" || v == "42" || v == "43" || strings.Contains(v, stream) || strings.Contains(v, "127.0.0.1") {
					t.Errorf("%s has label %s=%q", name, l.GetName(), v)
				}
			}
		}
	}
	if gop := live.value("minirtc_media_gop_cache_bytes"); gop <= 0 {
		t.Errorf("media_gop_cache_bytes = %v while a video stream is live", gop)
	}

	if err := <-pushDone; err != nil {
		t.Fatalf("push: %v", err)
	}
	if err := <-rtmpDone; err != nil {
		t.Fatalf("rtmp play: %v", err)
	}
	flvBytes := <-flvDone
	viewer.waitPush(t, "stream-removed", pubUID, nil)

	// The push's member left; every connection and gauge is back.
	waitMetric(t, addr, 1, "minirtc_channel_members", app)
	end := waitMetric(t, addr, 0, "minirtc_connections", "protocol=rtmp")
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"minirtc_publishers", []string{"protocol=rtmp"}},
		{"minirtc_readers", []string{"protocol=rtmp"}},
		{"minirtc_readers", []string{"protocol=flv"}},
		{"minirtc_connections", []string{"protocol=flv"}},
	} {
		if got := end.value(c.name, c.labels...); got != 0 {
			t.Errorf("after the stream: %s%v = %v, want 0", c.name, c.labels, got)
		}
	}
	if d := end.value("minirtc_leaves_total", app) - s0.value("minirtc_leaves_total", app); d != 1 {
		t.Errorf("leaves_total moved by %v after the pusher's member left", d)
	}
	// Bytes: the FLV viewer read to the end, so the server counted exactly
	// what it received (the chunked framing aside); the pusher sent at least
	// the clip's tags; the RTMP viewer got most of them.
	if d := end.value("minirtc_sent_bytes_total", "protocol=flv") - s0.value("minirtc_sent_bytes_total", "protocol=flv"); d != float64(flvBytes) || d == 0 {
		t.Errorf("sent_bytes_total{flv} moved by %v; the FLV viewer read %d bytes", d, flvBytes)
	}
	in := end.value("minirtc_received_bytes_total", "protocol=rtmp") - s0.value("minirtc_received_bytes_total", "protocol=rtmp")
	if in < 0.9*float64(srcInfo.Size()) {
		t.Errorf("received_bytes_total{rtmp} moved by %v for a %d-byte clip", in, srcInfo.Size())
	}
	if sent := end.value("minirtc_sent_bytes_total", "protocol=rtmp") - s0.value("minirtc_sent_bytes_total", "protocol=rtmp"); sent < 0.5*float64(srcInfo.Size()) {
		t.Errorf("sent_bytes_total{rtmp} moved by %v for a %d-byte clip played from its start", sent, srcInfo.Size())
	}
	if d := end.value("minirtc_media_reader_drops_total") - s0.value("minirtc_media_reader_drops_total"); d != 0 {
		t.Errorf("media_reader_drops_total moved by %v with two fast readers", d)
	}

	// An RTMP play without a credential is refused: one error, one more connection.
	bad := fmt.Sprintf("rtmp://%s/live/%s", e.n.RTMPAddr(), stream)
	if err := runWait(recordCmd(ctx, t, bad, filepath.Join(t.TempDir(), "bad.flv"))); err == nil {
		t.Fatal("a play without credentials was accepted")
	}
	refused := waitMetric(t, addr, end.value("minirtc_errors_total", "component=rtmp")+1, "minirtc_errors_total", "component=rtmp")
	if d := refused.value("minirtc_connections_total", "protocol=rtmp") - end.value("minirtc_connections_total", "protocol=rtmp"); d != 1 {
		t.Errorf("connections_total{rtmp} moved by %v for one refused play", d)
	}
	if d := refused.value("minirtc_reads_total", "protocol=rtmp") - end.value("minirtc_reads_total", "protocol=rtmp"); d != 0 {
		t.Errorf("reads_total{rtmp} moved by %v for a refused play", d)
	}

	// The mini program member leaves (reason 1, normal).
	viewer.request("leave", nil)
	left := waitMetric(t, addr, 0, "minirtc_channel_members", app)
	if d := left.value("minirtc_leaves_total", app, "code=1", "reason=normal") - end.value("minirtc_leaves_total", app, "code=1", "reason=normal"); d != 1 {
		t.Errorf("leaves_total{code=1} moved by %v after one leave", d)
	}
	if got := left.value("minirtc_channels", app); got != 0 {
		t.Errorf("channels{%s} = %v after the last member left", app, got)
	}
}

// TestMetricsConfig: metrics.perAppLabels off drops the app label (sums
// over the apps); metrics.enabled off leaves /metrics unserved;
// metrics.onHTTPPort off leaves them behind the REST API's keys only, on
// the HTTP port under /rest and on api.addr.
func TestMetricsConfig(t *testing.T) {
	e := newNodeEnv(t, func(c *config.Config) { c.Metrics.PerAppLabels = false })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	viewer := dialMiniProgram(ctx, t, "ws://"+e.n.HTTPAddr()+"/api")
	defer viewer.close()
	viewer.join(e.app.ID, "room", 7, e.token("room", "7", token.RolePublisher))
	s := scrapeMetrics(t, e.n.HTTPAddr())
	for _, name := range []string{"minirtc_joins_total", "minirtc_channel_members", "minirtc_channels"} {
		mf := s[name]
		if mf == nil || len(mf.GetMetric()) != 1 {
			t.Fatalf("%s: %v", name, mf)
		}
		if l := mf.GetMetric()[0].GetLabel(); len(l) != 0 {
			t.Errorf("%s has labels %v with perAppLabels off", name, l)
		}
		if v := s.value(name); v != 1 {
			t.Errorf("%s = %v, want 1", name, v)
		}
	}

	off := newNodeEnv(t, func(c *config.Config) { c.Metrics.Enabled = false })
	resp, err := http.Get("http://" + off.n.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics with metrics.enabled off: %s", resp.Status)
	}

	const keyID, keySecret = "prom", "scrape-secret-0123456789"
	for _, apiAddr := range []string{"", "127.0.0.1:0"} {
		e := newNodeEnv(t, func(c *config.Config) {
			c.Metrics.OnHTTPPort = false
			c.API.Addr = apiAddr
			c.API.Key = keyID + ":" + keySecret
		})
		get := func(u string, auth bool) *http.Response {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			if auth {
				req.SetBasicAuth(keyID, keySecret)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		if resp := get("http://"+e.n.HTTPAddr()+"/metrics", false); resp.StatusCode != http.StatusNotFound {
			t.Errorf("api.addr %q: /metrics on the HTTP port with onHTTPPort off: %s", apiAddr, resp.Status)
		}
		u := "http://" + e.n.HTTPAddr() + node.APIPrefix + "/metrics"
		if apiAddr != "" {
			u = "http://" + e.n.APIAddr() + "/metrics"
		}
		if resp := get(u, false); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a key: %s", u, resp.Status)
		}
		resp := get(u, true)
		parser := expfmt.NewTextParser(model.LegacyValidation)
		mf, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || mf["minirtc_build_info"] == nil {
			t.Errorf("%s with a key: %s, parse error %v", u, resp.Status, err)
		}
	}
}

// TestMetricsWHEPReader: a WHEP viewer of an RTMP stream moves the WebRTC
// connection and reader gauges and counters, the bytes sent (at least the
// RTP payload the viewer got), and the AAC->Opus transcoder gauge and time;
// all gauges are back to 0 once the viewer hangs up.
func TestMetricsWHEPReader(t *testing.T) {
	e := newNodeEnv(t)
	addr := e.n.HTTPAddr()
	e.joinPublisher(6)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	push := pushCmd(ctx, t, e.pushURL("6"), 20)
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = push.Wait()
	}()
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, "6"))
	s0 := scrapeMetrics(t, addr)

	pc, err := pionAPI(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	var readers sync.WaitGroup
	defer readers.Wait()
	defer pc.Close()
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	var got atomic.Int64 // RTP payload bytes received
	var audio atomic.Int64
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		readers.Add(1)
		defer readers.Done()
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			got.Add(int64(len(p.Payload)))
			if tr.Kind() == pion.RTPCodecTypeAudio {
				audio.Add(1)
			}
		}
	})
	st, body, loc := e.post("whep", "6", e.token("room", "1001", token.RoleSubscriber), completeOffer(t, pc))
	if st != http.StatusCreated || loc == "" {
		t.Fatalf("WHEP: %d %s", st, body)
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); audio.Load() < 50 || got.Load() < 20000; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("WHEP viewer got %d bytes, %d audio packets", got.Load(), audio.Load())
		}
	}
	live := scrapeMetrics(t, addr)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"minirtc_connections", []string{"protocol=webrtc"}, 1},
		{"minirtc_readers", []string{"protocol=webrtc"}, 1},
		{"minirtc_transcoder_streams", []string{"direction=aac_to_opus"}, 1},
	} {
		if v := live.value(c.name, c.labels...); v != c.want {
			t.Errorf("while playing: %s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"minirtc_connections_total", []string{"protocol=webrtc"}},
		{"minirtc_reads_total", []string{"protocol=webrtc"}},
	} {
		if d := live.value(c.name, c.labels...) - s0.value(c.name, c.labels...); d != 1 {
			t.Errorf("%s%v moved by %v for one WHEP viewer", c.name, c.labels, d)
		}
	}
	received := got.Load() // read before the scrape below: the server sent at least this
	later := scrapeMetrics(t, addr)
	if d := later.value("minirtc_sent_bytes_total", "protocol=webrtc") - s0.value("minirtc_sent_bytes_total", "protocol=webrtc"); d < float64(received) {
		t.Errorf("sent_bytes_total{webrtc} moved by %v; the viewer got %d bytes of RTP payload", d, received)
	}
	if d := later.value("minirtc_received_bytes_total", "protocol=webrtc") - s0.value("minirtc_received_bytes_total", "protocol=webrtc"); d <= 0 {
		t.Errorf("received_bytes_total{webrtc} moved by %v (ICE, DTLS and RTCP from the viewer)", d)
	}
	if d := later.value("minirtc_transcoder_seconds_total", "direction=aac_to_opus") - s0.value("minirtc_transcoder_seconds_total", "direction=aac_to_opus"); d <= 0 {
		t.Errorf("transcoder_seconds_total{aac_to_opus} moved by %v while bridging", d)
	}

	pc.Close()
	waitMetric(t, addr, 0, "minirtc_connections", "protocol=webrtc")
	waitMetric(t, addr, 0, "minirtc_readers", "protocol=webrtc")
	waitMetric(t, addr, 0, "minirtc_transcoder_streams", "direction=aac_to_opus")
}

// TestMetricsICEFailure: a WHEP viewer that goes away right after its offer
// never answers the node's connectivity checks; when ICE gives up (the
// node's ICE timeouts, about 20 s) the failure is counted at stage "ice"
// and the session's connection gauge is back to 0.
func TestMetricsICEFailure(t *testing.T) {
	e := newNodeEnv(t)
	addr := e.n.HTTPAddr()
	e.joinPublisher(6)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	push := pushCmd(ctx, t, e.pushURL("6"), 50)
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = push.Wait()
	}()
	waitLive(t, e.n.Media(), mediaKey(e.app.ID, "6"))
	s0 := scrapeMetrics(t, addr)
	pc, err := pionAPI(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	st, body, _ := e.post("whep", "6", e.token("room", "1001", token.RoleSubscriber), completeOffer(t, pc))
	pc.Close() // its candidates now lead nowhere
	if st != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", st, body)
	}
	if v := scrapeMetrics(t, addr).value("minirtc_connections", "protocol=webrtc"); v != 1 {
		t.Errorf("connections{webrtc} = %v while the session waits for ICE", v)
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		s := scrapeMetrics(t, addr)
		if s.value("minirtc_webrtc_failures_total", "stage=ice") == s0.value("minirtc_webrtc_failures_total", "stage=ice")+1 {
			if d := s.value("minirtc_webrtc_failures_total", "stage=dtls") - s0.value("minirtc_webrtc_failures_total", "stage=dtls"); d != 0 {
				t.Errorf("an ICE failure counted %v DTLS failures", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ICE failure counted: %v", s["minirtc_webrtc_failures_total"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitMetric(t, addr, 0, "minirtc_connections", "protocol=webrtc")
	if v := scrapeMetrics(t, addr).value("minirtc_reads_total", "protocol=webrtc"); v != 0 {
		t.Errorf("reads_total{webrtc} = %v for a viewer that never connected", v)
	}
}
