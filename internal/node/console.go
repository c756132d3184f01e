package node

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minirtc/minirtc/internal/api"
	"github.com/minirtc/minirtc/internal/console"
)

// wireConsole adds the web console (docs/console.md) to the REST API: its
// endpoints (member timelines, logs, kick, node figures, the live event
// stream) on srv, and the embedded pages at /console/ on the API's address
// (the HTTP port when api.addr is empty, next to /rest/). It returns the
// handler for the API's own listener (srv, with /console/ in front). It
// runs inside wireAPI, once the channel model, the media plane and the
// diagnostics exist.
func (n *Node) wireConsole(srv *api.Server, onHTTPPort bool) (http.Handler, error) {
	events := api.NewEventLog(0, 0)
	stop := n.channels.Observe(events.Record)
	n.services = append(n.services, service{name: "console", run: func(ctx context.Context) error {
		<-ctx.Done()
		stop()
		events.Close() // ends the live streams, so the HTTP servers can shut down
		return nil
	}})
	if err := srv.EnableConsole(api.ConsoleDeps{Events: events, Kicker: n.channels,
		Diagnostics: n.gateway.Diagnostics(), Node: n.overview, TokenExpiry: n.gateway.TokenExpiry}); err != nil {
		return nil, err
	}
	if onHTTPPort {
		n.mux.Handle("/console/", console.Handler(APIPrefix))
		return srv, nil
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", console.Handler(""))
	mux.Handle("/", srv)
	return mux, nil
}

// overview gathers the node's figures for the console's node page.
func (n *Node) overview() api.NodeOverview {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	o := api.NodeOverview{Version: Version, StartedAt: n.started.UTC(), CPUs: runtime.NumCPU(),
		HeapInUse: int64(ms.HeapInuse), Goroutines: runtime.NumGoroutine(), MemoryRSS: rss(), //nolint:gosec // G115: HeapInuse is bytes in use, far below 2^63
		TCPConnections: n.connLimit.Open(), GatewaySessions: n.gateway.Sessions(), Transcoders: -1}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		o.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	for _, c := range n.channels.AppCounts() {
		o.Apps++
		o.Channels += c.Channels
		o.Members += c.Members
	}
	st := n.media.hub.Stats()
	o.Streams, o.Publishers, o.Readers = st.Streams, st.Publishers, st.Readers
	if m := n.metrics; m != nil {
		if fams, err := m.Registry().Gather(); err == nil {
			o.Transcoders = 0
			for _, f := range fams {
				if f.GetName() == "minirtc_transcoder_streams" {
					for _, mt := range f.GetMetric() {
						o.Transcoders += int(mt.GetGauge().GetValue())
					}
				}
			}
		}
	}
	return o
}

// rss is the process's resident set in bytes (Linux /proc), 0 elsewhere.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
