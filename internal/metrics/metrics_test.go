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

// TestNodeLabel: with Config.Node every series served (minirtc's
// instruments, the scrape-time collector, build info, Go and process
// collectors) carries node="<id>", the other labels unchanged; two nodes'
// registries in one process stay apart; without Node no series has a node
// label.
func TestNodeLabel(t *testing.T) {
	use := func(m *Metrics) {
		p := m.Protocol(RTMP)
		p.ConnOpened()
		p.BytesOut(100)
		p.Refused(401)
		m.Errors("gateway").Error(430)
		m.Protocol(WebRTC).Failed(StageICE)
		m.MemberJoined("a1")
		m.MemberLeft("a1", 1, "quit")
		m.WebhookDelivered("sent")
		m.SetWebhooksPending(2)
		m.SetSources(Sources{
			Apps:            func() []AppCount { return []AppCount{{"a1", 1, 2}} },
			Media:           func() MediaStats { return MediaStats{Streams: 1} },
			GatewaySessions: func() int { return 1 },
			TCPConnections:  func() int { return 4 },
			Listeners:       func() []ListenerStat { return []ListenerStat{{Name: "http", State: "serving"}} },
		})
	}
	nodeLabels := func(mf map[string]*dto.MetricFamily) (withNode map[string]int, without []string) {
		withNode = map[string]int{}
		for name, f := range mf {
			for _, s := range f.GetMetric() {
				found := false
				for _, l := range s.GetLabel() {
					if l.GetName() == "node" {
						withNode[l.GetValue()]++
						found = true
					}
				}
				if !found {
					without = append(without, name)
				}
			}
		}
		return withNode, without
	}
	gathered := func(m *Metrics) map[string]*dto.MetricFamily {
		t.Helper()
		fams, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*dto.MetricFamily{}
		for _, f := range fams {
			out[f.GetName()] = f
		}
		return out
	}
	n1, n2, plain := New(Config{Version: "1", PerAppLabels: true, Node: "n1"}), New(Config{Node: "n2"}), New(Config{PerAppLabels: true})
	for _, m := range []*Metrics{n1, n2, plain} {
		use(m)
	}
	n2.Protocol(FLV).BytesOut(7)

	mf := scrape(t, n1)
	with, without := nodeLabels(mf)
	if len(without) > 0 || len(with) != 1 || with["n1"] == 0 {
		t.Errorf("node n1: series with node labels %v, without %v", with, without)
	}
	for _, name := range []string{"minirtc_connections_total", "minirtc_errors_total", "minirtc_leaves_total",
		"minirtc_webhook_deliveries_total", "minirtc_webhook_pending", "minirtc_channel_members", "minirtc_media_streams",
		"minirtc_tcp_connections", "minirtc_listener_state", "minirtc_build_info", "go_goroutines", "process_cpu_seconds_total"} {
		if mf[name] == nil {
			t.Errorf("node n1: no %s", name)
		}
	}
	if v, l := series(t, mf, "minirtc_leaves_total"); v != 1 || l["node"] != "n1" || l["app"] != "a1" || l["reason"] != "quit" || len(l) != 4 {
		t.Errorf("n1 leaves %v %v", v, l)
	}
	if v, l := series(t, mf, "minirtc_tcp_connections"); v != 4 || l["node"] != "n1" || len(l) != 1 {
		t.Errorf("n1 tcp connections %v %v", v, l)
	}
	// n2 counted its own bytes only, under its own name.
	mf2 := scrape(t, n2)
	for _, s := range mf2["minirtc_sent_bytes_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		want := map[string]float64{"rtmp": 100, "flv": 7, "webrtc": 0}[labels["protocol"]]
		if labels["node"] != "n2" || s.GetCounter().GetValue() != want {
			t.Errorf("n2 sent bytes %v = %v, want %v", labels, s.GetCounter().GetValue(), want)
		}
	}
	// The console reads the registry directly: the label is there too.
	if with, without := nodeLabels(gathered(n1)); len(without) > 0 || len(with) != 1 || with["n1"] == 0 {
		t.Errorf("gathered n1: series with node labels %v, without %v", with, without)
	}

	if with, _ := nodeLabels(scrape(t, plain)); len(with) != 0 {
		t.Errorf("without Node: node labels %v", with)
	}
	if with, _ := nodeLabels(gathered(plain)); len(with) != 0 {
		t.Errorf("without Node, gathered: node labels %v", with)
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
