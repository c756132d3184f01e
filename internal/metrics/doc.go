// Package metrics owns minirtc's Prometheus metrics: one registry per node
// (never the process-wide default registry), the Go runtime and process
// collectors, build information, the counters the components update, and
// collectors that read figures the components already keep when /metrics
// is scraped (channels and members by app, media streams, reader drops, GOP
// cache bytes, gateway sessions). docs/metrics.md lists every metric.
//
// Components do not import this package: each declares the small interface
// it calls (rtmp.Meter, flv.Meter, webrtc.Meter, gateway.Meter) and takes a
// nil one as "no metrics". The node builds a *Metrics and hands each
// component its part (Protocol, ErrorCounter). Updates on the media path are
// atomic adds once per write batch of a viewer, never per packet.
//
// Label cardinality is bounded: labels are protocols, catalogue codes,
// leave reasons, failure stages and transcode directions, plus the app id
// when Config.PerAppLabels is set (apps are created by the operator). No
// channel name, uid or address is ever a label.
//
// Goroutine model: no goroutines. Every method is safe for concurrent use;
// scrape-time collectors call the functions given to Collect* on the
// scraping goroutine.
package metrics
