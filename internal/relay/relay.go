package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/minirtc/minirtc/internal/media"
)

// Origin serves relay bodies out of a hub: one hub reader per pulling node.
type Origin struct {
	hub *media.Hub
	log *slog.Logger

	bytesOut atomic.Uint64
	active   atomic.Int64
}

// NewOrigin returns an origin over hub.
func NewOrigin(hub *media.Hub, log *slog.Logger) *Origin {
	return &Origin{hub: hub, log: log}
}

// BytesOut is the number of body bytes sent to pulling nodes so far.
func (o *Origin) BytesOut() uint64 { return o.bytesOut.Load() }

// Active is the number of relay bodies being sent.
func (o *Origin) Active() int { return int(o.active.Load()) }

// countingWriter counts what reaches the response.
type countingWriter struct {
	w io.Writer
	n *atomic.Uint64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	return n, err
}

// ServeStream sends key's stream to the node that asked (the caller has
// authenticated it) until the stream ends or the request's context does.
// The body starts with the stream's GOP cache. A stream that is not live
// yet is waited for, as any hub reader waits (the hub's hold timeout).
func (o *Origin) ServeStream(w http.ResponseWriter, r *http.Request, key media.Key) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rd, err := o.hub.Subscribe(key, media.SubscribeOptions{
		Protocol: "relay",
		Remote:   r.RemoteAddr,
		OnClose:  func(error) { cancel() },
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer rd.Close()
	o.active.Add(1)
	defer o.active.Add(-1)

	w.Header().Set("Content-Type", "application/x-minirtc-relay")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc, err := NewEncoder(countingWriter{w: w, n: &o.bytesOut})
	if err != nil {
		return
	}
	var batch []*media.Packet
	for {
		batch, err = rd.Next(ctx, batch[:0])
		for i, p := range batch {
			if werr := enc.Encode(p); werr != nil {
				o.log.Debug("relay: write to pulling node failed", "stream", key, "err", werr)
				return
			}
			batch[i] = nil
		}
		if ferr := enc.Flush(); ferr != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		if err != nil {
			o.log.Debug("relay: stream ended for pulling node", "stream", key, "reason", err)
			return
		}
	}
}

// Pull is one node's pull of a stream from its origin into its own hub.
type Pull struct {
	// URL is the origin's relay endpoint for the stream.
	URL string
	// Header is added to the request (the cluster's credential).
	Header http.Header
	// Client makes the request (nil: http.DefaultClient).
	Client *http.Client
	// Hub is the local hub the stream is published into, under Key.
	Hub *media.Hub
	Key media.Key
	Log *slog.Logger
}

// ErrOriginRefused: the origin answered the pull with an error status.
var ErrOriginRefused = errors.New("relay: origin refused the pull")

// Run pulls until the origin's body ends (the stream ended there: it
// returns nil), ctx ends, the local hub ends the relayed publisher (its
// reason), or an error. The local stream's readers see an ordinary publisher
// that goes away when Run returns (the hub's grace period applies), so a
// caller that pulls again soon keeps them.
func (p Pull) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	for k, vs := range p.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("relay: pull %s: %w", p.Key, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%w: %s: %s", ErrOriginRefused, resp.Status, msg)
	}
	pub, err := p.Hub.PublishWith(p.Key, media.PublishOptions{OnClose: func(reason error) { cancel(reason) }})
	if err != nil {
		return fmt.Errorf("relay: publish %s locally: %w", p.Key, err)
	}
	dec := NewDecoder(resp.Body)
	for {
		pkt, err := dec.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				pub.Close(nil)
				return nil
			}
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				err = cause // the local hub ended the relayed publisher
			}
			pub.Close(err)
			return fmt.Errorf("relay: pull %s: %w", p.Key, err)
		}
		if werr := pub.Write(pkt); werr != nil {
			pub.Close(werr)
			return fmt.Errorf("relay: pull %s: %w", p.Key, werr)
		}
	}
}
