package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every minirtc metric.
const namespace = "minirtc"

// Protocol names, the values of the protocol label.
const (
	RTMP   = "rtmp"
	FLV    = "flv"
	WebRTC = "webrtc"
)

// Transcode directions, the values of the direction label.
const (
	AACToOpus = "aac_to_opus"
	OpusToAAC = "opus_to_aac"
)

// WebRTC failure stages, the values of the stage label.
const (
	StageICE  = "ice"
	StageDTLS = "dtls"
)

// Config chooses what the metrics carry.
type Config struct {
	// Version is reported by minirtc_build_info.
	Version string
	// PerAppLabels adds an app label (the app id) to the per-app metrics;
	// false sums them over the apps.
	PerAppLabels bool
	// Node, when set (cluster mode: the node's id), is added as a node label
	// to every series the registry serves, so the scrapes of several nodes
	// can be told apart and summed. Empty: no node label.
	Node string
}

// Metrics is one node's registry and instruments. Build it with New.
type Metrics struct {
	reg    *prometheus.Registry
	perApp bool

	connsTotal            *prometheus.CounterVec
	connsOpen             *prometheus.GaugeVec
	pubsTotal, readsTotal *prometheus.CounterVec
	pubs, readers         *prometheus.GaugeVec
	bytesIn, bytesOut     *prometheus.CounterVec
	errors                *prometheus.CounterVec
	joins, leaves         *prometheus.CounterVec
	webrtcFailures        *prometheus.CounterVec
	transcoders           *prometheus.GaugeVec
	transcodeTime         *prometheus.CounterVec
	webhooks              *prometheus.CounterVec
	webhooksPending       prometheus.Gauge

	protoMu sync.Mutex
	protos  map[string]*Protocol

	scrape *scrapeCollector
}

// New builds a registry with the Go runtime and process collectors, build
// information and minirtc's instruments.
func New(cfg Config) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), perApp: cfg.PerAppLabels, protos: make(map[string]*Protocol)}
	// Everything is registered through reg: with a node id it adds the node
	// label to every series of every collector registered (our instruments,
	// the scrape-time collector, build info, Go and process collectors).
	var reg prometheus.Registerer = m.reg
	if cfg.Node != "" {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"node": cfg.Node}, m.reg)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	m.connsTotal = counter("connections_total", "Media connections accepted, by protocol (RTMP TCP connections, HTTP/WS-FLV viewers, WebRTC peer connections).", "protocol")
	m.connsOpen = gauge("connections", "Media connections open now, by protocol.", "protocol")
	m.pubsTotal = counter("publishes_total", "Publishers that started publishing, by protocol.", "protocol")
	m.pubs = gauge("publishers", "Publishers publishing now, by protocol.", "protocol")
	m.readsTotal = counter("reads_total", "Readers (players) that started reading, by protocol.", "protocol")
	m.readers = gauge("readers", "Readers (players) reading now, by protocol.", "protocol")
	m.bytesIn = counter("received_bytes_total", "Bytes received from media clients, by protocol.", "protocol")
	m.bytesOut = counter("sent_bytes_total", "Bytes sent to media clients, by protocol (counted per write batch).", "protocol")
	m.errors = counter("errors_total", "Requests refused or failed with a catalogue error, by component and catalogue code.", "component", "code")
	m.joins = counter("joins_total", "Members that joined a channel.", m.appLabels()...)
	m.leaves = counter("leaves_total", "Members that left a channel, by leave reason (code and name).", m.appLabels("code", "reason")...)
	m.webrtcFailures = counter("webrtc_failures_total", "WebRTC connections that failed, by stage (ice: no candidate pair worked; dtls: ICE connected but the DTLS handshake failed).", "stage")
	m.transcoders = gauge("transcoder_streams", "Audio bridges running now, by direction.", "direction")
	m.transcodeTime = counter("transcoder_seconds_total", "Time spent transcoding audio, by direction (wall time in the codec calls, about their CPU time).", "direction")
	m.webhooks = counter("webhook_deliveries_total", "Webhook delivery attempts, by result (sent: answered 2xx; retried: failed, will be retried; failed: given up).", "result")
	m.webhooksPending = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "webhook_pending",
		Help: "Webhook deliveries waiting in the outbox (not delivered, not given up)."})
	reg.MustRegister(m.webhooksPending)

	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help: "Always 1; its labels name the minirtc version and the Go version that built it."}, []string{"version", "goversion"})
	build.WithLabelValues(cfg.Version, runtime.Version()).Set(1)
	reg.MustRegister(build)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.scrape = newScrapeCollector(m.perApp)
	reg.MustRegister(m.scrape)
	return m
}

// appLabels returns labels, led by "app" when per-app labels are on.
func (m *Metrics) appLabels(labels ...string) []string {
	if m.perApp {
		return append([]string{"app"}, labels...)
	}
	return labels
}

func (m *Metrics) appValues(app string, values ...string) []string {
	if m.perApp {
		return append([]string{app}, values...)
	}
	return values
}

// Registry is the node's registry (tests; further collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics/protobuf when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Protocol returns the instruments of one media protocol (RTMP, FLV,
// WebRTC), which the adapter of that protocol updates.
func (m *Metrics) Protocol(name string) *Protocol {
	m.protoMu.Lock()
	defer m.protoMu.Unlock()
	if p := m.protos[name]; p != nil {
		return p
	}
	p := &Protocol{
		m:          m,
		name:       name,
		connsTotal: m.connsTotal.WithLabelValues(name),
		conns:      m.connsOpen.WithLabelValues(name),
		pubsTotal:  m.pubsTotal.WithLabelValues(name),
		pubs:       m.pubs.WithLabelValues(name),
		readsTotal: m.readsTotal.WithLabelValues(name),
		readers:    m.readers.WithLabelValues(name),
		in:         m.bytesIn.WithLabelValues(name),
		out:        m.bytesOut.WithLabelValues(name),
	}
	m.protos[name] = p
	return p
}

// Errors returns the error counter of a component ("gateway", "rtmp", ...).
func (m *Metrics) Errors(component string) *ErrorCounter {
	return &ErrorCounter{v: m.errors.MustCurryWith(prometheus.Labels{"component": component})}
}

// MemberJoined counts a member joining a channel of app.
func (m *Metrics) MemberJoined(app string) { m.joins.WithLabelValues(m.appValues(app)...).Inc() }

// MemberLeft counts a member leaving a channel of app with a leave reason
// (its catalogue code and name, errcode.LeaveReason).
func (m *Metrics) MemberLeft(app string, code int, reason string) {
	m.leaves.WithLabelValues(m.appValues(app, strconv.Itoa(code), reason)...).Inc()
}

// WebhookDelivered counts a webhook delivery attempt by result: "sent",
// "retried" (failed, will be retried) or "failed" (given up).
func (m *Metrics) WebhookDelivered(result string) { m.webhooks.WithLabelValues(result).Inc() }

// SetWebhooksPending reports the webhook deliveries waiting in the outbox.
func (m *Metrics) SetWebhooksPending(n int) { m.webhooksPending.Set(float64(n)) }

// Protocol is the instruments of one media protocol. Its methods are safe
// for concurrent use and cost an atomic add each.
type Protocol struct {
	m                     *Metrics
	name                  string
	connsTotal            prometheus.Counter
	pubsTotal, readsTotal prometheus.Counter
	in, out               prometheus.Counter
	conns, pubs, readers  prometheus.Gauge
}

// ConnOpened counts an accepted connection.
func (p *Protocol) ConnOpened() { p.connsTotal.Inc(); p.conns.Inc() }

// ConnClosed counts the end of a connection ConnOpened counted.
func (p *Protocol) ConnClosed() { p.conns.Dec() }

// PublishStarted counts a publisher that started publishing.
func (p *Protocol) PublishStarted() { p.pubsTotal.Inc(); p.pubs.Inc() }

// PublishEnded counts the end of a publisher PublishStarted counted.
func (p *Protocol) PublishEnded() { p.pubs.Dec() }

// ReadStarted counts a reader that started reading.
func (p *Protocol) ReadStarted() { p.readsTotal.Inc(); p.readers.Inc() }

// ReadEnded counts the end of a reader ReadStarted counted.
func (p *Protocol) ReadEnded() { p.readers.Dec() }

// BytesIn counts n bytes received.
func (p *Protocol) BytesIn(n int) { p.in.Add(float64(n)) }

// BytesOut counts n bytes sent.
func (p *Protocol) BytesOut(n int) { p.out.Add(float64(n)) }

// Refused counts a request of this protocol refused with catalogue code.
func (p *Protocol) Refused(code int) { p.m.errors.WithLabelValues(p.name, strconv.Itoa(code)).Inc() }

// Failed counts a WebRTC connection that failed at stage (StageICE, StageDTLS).
func (p *Protocol) Failed(stage string) { p.m.webrtcFailures.WithLabelValues(stage).Inc() }

// TranscodeStarted counts an audio bridge starting in direction
// (AACToOpus, OpusToAAC).
func (p *Protocol) TranscodeStarted(direction string) {
	p.m.transcoders.WithLabelValues(direction).Inc()
}

// TranscodeEnded counts the end of a bridge TranscodeStarted counted.
func (p *Protocol) TranscodeEnded(direction string) { p.m.transcoders.WithLabelValues(direction).Dec() }

// TranscodeTime counts time spent in a bridge's codec calls.
func (p *Protocol) TranscodeTime(direction string, d time.Duration) {
	p.m.transcodeTime.WithLabelValues(direction).Add(d.Seconds())
}

// ErrorCounter counts one component's catalogue errors.
type ErrorCounter struct{ v *prometheus.CounterVec }

// Error counts one error with catalogue code.
func (e *ErrorCounter) Error(code int) { e.v.WithLabelValues(strconv.Itoa(code)).Inc() }
