package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape serves m's handler and parses the answer with the text parser.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mf, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, rec.Body.String())
	}
	return mf
}

// series returns the value and labels of name's only series.
func series(t *testing.T, mf map[string]*dto.MetricFamily, name string) (float64, map[string]string) {
	t.Helper()
	f := mf[name]
	if f == nil || len(f.GetMetric()) != 1 {
		t.Fatalf("%s: want one series, got %v", name, f)
	}
	m := f.GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue(), labels
	case m.Gauge != nil:
		return m.GetGauge().GetValue(), labels
	}
	return m.GetUntyped().GetValue(), labels
}

func TestProtocolAndScrapeMetrics(t *testing.T) {
	for _, perApp := range []bool{true, false} {
		m := New(Config{Version: "9.9.9", PerAppLabels: perApp})
		p := m.Protocol(RTMP)
		if m.Protocol(RTMP) != p {
			t.Fatal("Protocol does not return the same instruments twice")
		}
		p.ConnOpened()
		p.ConnOpened()
		p.ConnClosed()
		p.ReadStarted()
		p.BytesOut(1000)
		p.BytesOut(24)
		p.BytesIn(7)
		p.Refused(401)
		m.Errors("gateway").Error(430)
		w := m.Protocol(WebRTC)
		w.Failed(StageDTLS)
		w.TranscodeStarted(AACToOpus)
		w.TranscodeTime(AACToOpus, 1500*time.Millisecond)
		m.MemberJoined("a1")
		m.MemberJoined("a2")
		m.MemberLeft("a1", 2, "timeout")
		m.SetSources(Sources{
			Apps:            func() []AppCount { return []AppCount{{"a1", 2, 5}, {"a2", 1, 1}} },
			Media:           func() MediaStats { return MediaStats{Streams: 3, Drops: 11, GOPBytes: 4096} },
			GatewaySessions: func() int { return 6 },
			Listeners: func() []ListenerStat {
				return []ListenerStat{{Name: "http", State: "serving"}, {Name: "rtmp", State: "retrying", AcceptErrors: 3}}
			},
		})
		mf := scrape(t, m)
		for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
			if mf[name] == nil {
				t.Errorf("no %s", name)
			}
		}
		if mf["minirtc_tcp_connections"] != nil {
			t.Error("a metric without a source is served")
		}
		if v, l := series(t, mf, "minirtc_build_info"); v != 1 || l["version"] != "9.9.9" || l["goversion"] == "" {
			t.Errorf("build_info %v %v", v, l)
		}
		check := func(name string, labels map[string]string, want float64) {
			t.Helper()
			for _, s := range mf[name].GetMetric() {
				match := true
				for _, l := range s.GetLabel() {
					if labels[l.GetName()] != l.GetValue() {
						match = false
					}
				}
				if !match || len(s.GetLabel()) != len(labels) {
					continue
				}
				v := s.GetCounter().GetValue() + s.GetGauge().GetValue()
				if v != want {
					t.Errorf("%s%v = %v, want %v", name, labels, v, want)
				}
				return
			}
			t.Errorf("%s%v missing (perApp %v)", name, labels, perApp)
		}
		rtmp := map[string]string{"protocol": "rtmp"}
		check("minirtc_connections_total", rtmp, 2)
		check("minirtc_connections", rtmp, 1)
		check("minirtc_reads_total", rtmp, 1)
		check("minirtc_readers", rtmp, 1)
		check("minirtc_sent_bytes_total", rtmp, 1024)
		check("minirtc_received_bytes_total", rtmp, 7)
		check("minirtc_errors_total", map[string]string{"component": "rtmp", "code": "401"}, 1)
		check("minirtc_errors_total", map[string]string{"component": "gateway", "code": "430"}, 1)
		check("minirtc_webrtc_failures_total", map[string]string{"stage": "dtls"}, 1)
		check("minirtc_transcoder_streams", map[string]string{"direction": "aac_to_opus"}, 1)
		check("minirtc_transcoder_seconds_total", map[string]string{"direction": "aac_to_opus"}, 1.5)
		check("minirtc_media_streams", nil, 3)
		check("minirtc_media_reader_drops_total", nil, 11)
		check("minirtc_media_gop_cache_bytes", nil, 4096)
		check("minirtc_gateway_sessions", nil, 6)
		check("minirtc_listener_state", map[string]string{"listener": "http", "state": "serving"}, 1)
		check("minirtc_listener_state", map[string]string{"listener": "http", "state": "stopped"}, 0)
		check("minirtc_listener_state", map[string]string{"listener": "rtmp", "state": "retrying"}, 1)
		check("minirtc_listener_state", map[string]string{"listener": "rtmp", "state": "serving"}, 0)
		check("minirtc_listener_accept_errors_total", map[string]string{"listener": "rtmp"}, 3)
		if perApp {
			check("minirtc_joins_total", map[string]string{"app": "a1"}, 1)
			check("minirtc_joins_total", map[string]string{"app": "a2"}, 1)
			check("minirtc_leaves_total", map[string]string{"app": "a1", "code": "2", "reason": "timeout"}, 1)
			check("minirtc_channels", map[string]string{"app": "a1"}, 2)
			check("minirtc_channel_members", map[string]string{"app": "a1"}, 5)
			check("minirtc_channel_members", map[string]string{"app": "a2"}, 1)
		} else {
			check("minirtc_joins_total", nil, 2)
			check("minirtc_leaves_total", map[string]string{"code": "2", "reason": "timeout"}, 1)
			check("minirtc_channels", nil, 3)
			check("minirtc_channel_members", nil, 6)
		}
	}
}

// TestNoGlobalRegistry: two Metrics (two nodes in one process) are
// independent, and nothing lands in the process-wide default registry.
func TestNoGlobalRegistry(t *testing.T) {
	a, b := New(Config{}), New(Config{})
	a.Protocol(FLV).BytesOut(5)
	b.Protocol(FLV)
	if v, _ := series(t, scrape(t, a), "minirtc_sent_bytes_total"); v != 5 {
		t.Errorf("a: %v", v)
	}
	if v, _ := series(t, scrape(t, b), "minirtc_sent_bytes_total"); v != 0 {
		t.Errorf("b counted a's bytes: %v", v)
	}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "minirtc_") {
			t.Errorf("%s in the default registry", mf.GetName())
		}
	}
}

// BenchmarkBytesOut is the cost a viewer's write batch pays for metrics.
func BenchmarkBytesOut(b *testing.B) {
	p := New(Config{}).Protocol(RTMP)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.BytesOut(1400)
		}
	})
}
