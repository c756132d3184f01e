package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/minirtc/minirtc/internal/errcode"
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
	c.n.Add(uint64(n)) //nolint:gosec // G115: Write returns 0 <= n <= len(p)
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
	// The header and magic go out at once, before the stream is live: the
	// pulling node learns that the origin took the pull, and its response
	// header timeout does not run while the stream is awaited.
	if enc.Flush() != nil {
		return
	}
	if flusher != nil {
		flusher.Flush()
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
			if ended(ctx, err) {
				// Its readers end too, rather than wait for a publisher that
				// will not come back here.
				if enc.End(message(err)) == nil && enc.Flush() == nil && flusher != nil {
					flusher.Flush()
				}
			}
			return
		}
	}
}

// ended reports whether a relay reader's end (err, from Reader.Next) is the
// end of its stream, to be passed on to the pulling node, rather than the
// pulling node going away (ctx) or this node shutting down (whose streams
// move to another node, where the pulling node finds them again).
func ended(ctx context.Context, err error) bool {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return false
	}
	var ce *errcode.Error
	return !errors.As(err, &ce) || ce.Code != errcode.CodeServiceExited
}

// message is the reason of an end as a client would read it.
func message(err error) string {
	var ce *errcode.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return err.Error()
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

// ErrOriginRefused is returned when the origin answered the pull with an error status.
var ErrOriginRefused = errors.New("relay: origin refused the pull")

// Run pulls until the origin's body ends (it returns nil; after an end frame
// the local stream ends at once with the origin's reason, see
// Publisher.Finish), ctx ends, the local hub ends the relayed publisher (its
// reason), or an error. The stream is published locally as a relay
// (media.PublishOptions.Relay) from its first packet on. The local stream's
// readers see an ordinary publisher that goes away when Run returns (the
// hub's grace period applies), so a caller that pulls again soon keeps them.
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
	defer func() { _ = resp.Body.Close() }() // read side: nothing to report
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%w: %s: %s", ErrOriginRefused, resp.Status, msg)
	}
	// The relayed publisher attaches with the first packet, not with the
	// response: a pull waiting for a stream that is not live at the origin
	// (or no longer) must not resume the local stream's readers, whose
	// grace period then runs as for any publisher that went away.
	dec := NewDecoder(resp.Body)
	first, err := dec.Next()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, ErrStreamEnded) {
			return nil
		}
		return fmt.Errorf("relay: pull %s: %w", p.Key, err)
	}
	pub, err := p.Hub.PublishWith(p.Key, media.PublishOptions{Relay: true, OnClose: func(reason error) { cancel(reason) }})
	if err != nil {
		return fmt.Errorf("relay: publish %s locally: %w", p.Key, err)
	}
	if werr := pub.Write(first); werr != nil {
		pub.Close(werr)
		return fmt.Errorf("relay: pull %s: %w", p.Key, werr)
	}
	for {
		pkt, err := dec.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				pub.Close(nil)
				return nil
			}
			if errors.Is(err, ErrStreamEnded) {
				pub.Finish(errcode.NotPublishing(strings.TrimPrefix(err.Error(), ErrStreamEnded.Error()+": ") + " (on the origin node)"))
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
