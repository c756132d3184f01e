package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/minirtc/minirtc/internal/cluster"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/relay"
)

// maxSegment bounds one path segment of a relay URL (app id, channel, uid
// after unescaping): an app id is 32 hex digits, an Agora channel name at
// most 64 bytes and a uid a decimal uint32 or a user account of up to 255.
const maxSegment = 255

// RelayURL is the URL of key's relay endpoint on the node whose base URL is
// base, under prefix (the path the Origin handler is mounted at).
func RelayURL(base, prefix string, key media.Key) string {
	return strings.TrimSuffix(base, "/") + prefix + "/relay/" + url.PathEscape(key.AppID) + "/" + url.PathEscape(key.Channel) + "/" + url.PathEscape(key.UID)
}

// Origin is the HTTP handler that serves this node's streams to the nodes
// that pull them: GET {prefix}/relay/{app}/{channel}/{uid}, each segment
// path-escaped (RelayURL). Only nodes of the cluster may pull: a request
// without a valid cluster.Auth credential gets 401 with the reason. Safe for
// concurrent use.
type Origin struct {
	relay  *relay.Origin
	auth   *cluster.Auth
	prefix string
	log    *slog.Logger

	mu     sync.Mutex
	byNode map[string]*atomic.Uint64 // body bytes sent per pulling node
}

// NewOrigin returns the relay handler of hub, mounted at prefix ("" or a
// path such as "/cluster", without a trailing slash). Register it for
// prefix + "/relay/".
func NewOrigin(hub *media.Hub, auth *cluster.Auth, prefix string, log *slog.Logger) (*Origin, error) {
	switch {
	case hub == nil || auth == nil || log == nil:
		return nil, errors.New("edge: NewOrigin needs a hub, a cluster.Auth and a logger")
	case prefix != "" && (!strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/")):
		return nil, fmt.Errorf("edge: relay prefix %q must start with / and not end with one", prefix)
	}
	log = log.With("component", "edge-origin")
	return &Origin{relay: relay.NewOrigin(hub, log), auth: auth, prefix: prefix, log: log, byNode: make(map[string]*atomic.Uint64)}, nil
}

// Pattern is the http.ServeMux pattern the handler serves.
func (o *Origin) Pattern() string { return "GET " + o.prefix + "/relay/" }

// BytesOut is the number of relay body bytes sent to each pulling node
// (by node id) since the node started.
func (o *Origin) BytesOut() map[string]uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]uint64, len(o.byNode))
	for id, n := range maps.All(o.byNode) {
		out[id] = n.Load()
	}
	return out
}

// TotalBytesOut is the number of relay body bytes sent to all nodes.
func (o *Origin) TotalBytesOut() uint64 { return o.relay.BytesOut() }

// Active is the number of streams being sent to pulling nodes now.
func (o *Origin) Active() int { return o.relay.Active() }

func (o *Origin) counter(node string) *atomic.Uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.byNode[node]
	if n == nil {
		n = new(atomic.Uint64)
		o.byNode[node] = n
	}
	return n
}

// ServeHTTP serves one pull.
func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "relay: only GET", http.StatusMethodNotAllowed)
		return
	}
	node, err := o.auth.Verify(r)
	if err != nil {
		o.log.Warn("relay pull refused: bad node credential", "remote", r.RemoteAddr, "err", err)
		http.Error(w, fmt.Sprintf("relay: %v: a pull between nodes needs the %s header signed with the cluster's shared secret, from a clock within a minute of this node's", err, cluster.AuthHeader), http.StatusUnauthorized)
		return
	}
	if node == o.auth.Node() {
		http.Error(w, "relay: a node never pulls a stream from itself (its locator named this node as the origin)", http.StatusConflict)
		return
	}
	key, err := o.parse(r.URL.EscapedPath())
	if err != nil {
		http.Error(w, "relay: "+err.Error(), http.StatusBadRequest)
		return
	}
	o.log.Debug("relay pull", "stream", key, "node", node, "remote", r.RemoteAddr)
	o.relay.ServeStream(countingResponse{ResponseWriter: w, n: o.counter(node)}, r, key)
}

// parse reads the stream key out of an escaped request path.
func (o *Origin) parse(path string) (media.Key, error) {
	const usage = "want %s/relay/{app}/{channel}/{uid}, each segment path-escaped"
	rest, ok := strings.CutPrefix(path, o.prefix+"/relay/")
	if !ok {
		return media.Key{}, fmt.Errorf(usage, o.prefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return media.Key{}, fmt.Errorf("%d path segments after /relay/: "+usage, len(parts), o.prefix)
	}
	names := [3]string{"app", "channel", "uid"}
	var seg [3]string
	for i, p := range parts {
		v, err := url.PathUnescape(p)
		if err != nil {
			return media.Key{}, fmt.Errorf("%s segment: bad escape", names[i])
		}
		if err := checkSegment(v); err != nil {
			return media.Key{}, fmt.Errorf("%s segment: %w", names[i], err)
		}
		seg[i] = v
	}
	return media.Key{AppID: seg[0], Channel: seg[1], UID: seg[2]}, nil
}

func checkSegment(v string) error {
	switch {
	case v == "":
		return errors.New("empty")
	case len(v) > maxSegment:
		return fmt.Errorf("%d bytes, more than %d", len(v), maxSegment)
	case !utf8.ValidString(v):
		return errors.New("not UTF-8")
	case strings.ContainsFunc(v, unicode.IsControl):
		return errors.New("control character")
	}
	return nil
}

// countingResponse counts the body bytes written to one pulling node.
type countingResponse struct {
	http.ResponseWriter
	n *atomic.Uint64
}

func (c countingResponse) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(uint64(n)) //nolint:gosec // G115: a Writer returns 0 <= n <= len(p)
	return n, err
}

// Flush sends what is buffered (relay bodies are flushed per batch).
func (c countingResponse) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
