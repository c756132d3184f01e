package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// AppCount is one app's channels and members (channel.Manager).
type AppCount struct {
	App      string
	Channels int
	Members  int
}

// MediaStats are the media hub's figures (media.Hub).
type MediaStats struct {
	Streams  int    // streams with a publisher or waiting readers
	Drops    uint64 // packets readers skipped because they fell behind, ever
	GOPBytes int    // payload bytes held by the streams' GOP caches
}

// ListenerStat is one listener's state and failed accepts (internal/listen).
type ListenerStat struct {
	Name         string // "http", "rtmp", "webrtcUDP", "control", "api"
	State        string // one of ListenerStates
	AcceptErrors uint64 // failed accepts (reads, for UDP) since start
}

// ListenerStates are the states minirtc_listener_state reports, one series
// each (internal/listen.State).
var ListenerStates = []string{"serving", "retrying", "stopped", "closed"}

// Sources are the functions the scrape-time collector calls. Nil ones are
// left out of the output.
type Sources struct {
	Apps            func() []AppCount
	Media           func() MediaStats
	GatewaySessions func() int
	// TCPConnections is the number of open connections of the node's
	// listeners (RTMP and HTTP), as the connection limiter counts them.
	TCPConnections func() int
	// Listeners are the node's listeners (as /healthz reports them).
	Listeners func() []ListenerStat
}

// SetSources sets the functions read at scrape time; the node calls it once
// its components exist.
func (m *Metrics) SetSources(s Sources) { m.scrape.set(s) }

// scrapeCollector turns figures the components keep anyway into metrics
// when /metrics is scraped: nothing is updated on the hot paths.
type scrapeCollector struct {
	perApp bool

	channels, members, streams, drops, gop, sessions, tcp *prometheus.Desc
	lnState, lnErrors                                     *prometheus.Desc

	mu  sync.Mutex
	src Sources
}

func newScrapeCollector(perApp bool) *scrapeCollector {
	var appLabel []string
	if perApp {
		appLabel = []string{"app"}
	}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &scrapeCollector{
		perApp:   perApp,
		channels: d("channels", "Channels that exist now (with at least one member).", appLabel),
		members:  d("channel_members", "Members in channels now (joined, including those in their reconnect grace period).", appLabel),
		streams:  d("media_streams", "Streams in the media hub: live, paused within their grace period, or with readers waiting for a publisher.", nil),
		drops:    d("media_reader_drops_total", "Packets readers skipped because they fell behind (their queue was full), all protocols.", nil),
		gop:      d("media_gop_cache_bytes", "Payload bytes held by the GOP caches of all streams.", nil),
		sessions: d("gateway_sessions", "Open gateway WebSocket sessions.", nil),
		tcp:      d("tcp_connections", "Open TCP connections of the RTMP and HTTP listeners (as the connection limits count them).", nil),
		lnState:  d("listener_state", "1 for each listener's current state (serving, retrying: accepts fail and are retried, stopped: restart the node, closed), 0 for the others.", []string{"listener", "state"}),
		lnErrors: d("listener_accept_errors_total", "Failed accepts of each listener (failed reads for the WebRTC UDP socket), retried or not.", []string{"listener"}),
	}
}

func (c *scrapeCollector) set(s Sources) {
	c.mu.Lock()
	c.src = s
	c.mu.Unlock()
}

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.channels, c.members, c.streams, c.drops, c.gop, c.sessions, c.tcp, c.lnState, c.lnErrors} {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	if src.Apps != nil {
		apps := src.Apps()
		if c.perApp {
			for _, a := range apps {
				ch <- prometheus.MustNewConstMetric(c.channels, prometheus.GaugeValue, float64(a.Channels), a.App)
				ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(a.Members), a.App)
			}
		} else {
			var chans, members int
			for _, a := range apps {
				chans += a.Channels
				members += a.Members
			}
			ch <- prometheus.MustNewConstMetric(c.channels, prometheus.GaugeValue, float64(chans))
			ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(members))
		}
	}
	if src.Media != nil {
		ms := src.Media()
		ch <- prometheus.MustNewConstMetric(c.streams, prometheus.GaugeValue, float64(ms.Streams))
		ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(ms.Drops))
		ch <- prometheus.MustNewConstMetric(c.gop, prometheus.GaugeValue, float64(ms.GOPBytes))
	}
	if src.GatewaySessions != nil {
		ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(src.GatewaySessions()))
	}
	if src.TCPConnections != nil {
		ch <- prometheus.MustNewConstMetric(c.tcp, prometheus.GaugeValue, float64(src.TCPConnections()))
	}
	if src.Listeners != nil {
		for _, l := range src.Listeners() {
			for _, st := range ListenerStates {
				v := 0.0
				if st == l.State {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(c.lnState, prometheus.GaugeValue, v, l.Name, st)
			}
			ch <- prometheus.MustNewConstMetric(c.lnErrors, prometheus.CounterValue, float64(l.AcceptErrors), l.Name)
		}
	}
}
