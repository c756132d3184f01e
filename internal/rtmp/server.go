package rtmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"

	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/egress"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
)

// authorizer is the admission seam (internal/admission.Gate): it admits a
// publish or play, and a publish grant's EnterChannel applies the channel's
// publish rule for RTMP (who may push, and a tool pushing with a token
// joining its channel).
type authorizer interface {
	Authorize(ctx context.Context, action token.Action, stream string, q url.Values) (token.MediaGrant, error)
}

// Config holds the RTMP server's knobs (config rtmp.*, media.writeTimeout and
// media.batchInterval); zero values mean the defaults of
// internal/config/defaults.
type Config struct {
	HandshakeTimeout time.Duration
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	// BatchInterval is the egress loop's least time between two passes
	// (0: none, the default); < 0: no loop, each viewer's goroutine writes
	// its batches.
	BatchInterval time.Duration
	// PreAuthMaxMessageSize caps the message length a client may announce
	// until its publish or play is authorized; MaxMessageSize caps it
	// afterwards, and the chunk size at any time. A client over a cap is
	// closed.
	PreAuthMaxMessageSize int
	MaxMessageSize        int
}

// Server accepts RTMP connections and connects them to the hub.
type Server struct {
	cfg  Config
	hub  *media.Hub
	auth authorizer
	log  *slog.Logger

	// firstWrite, when set (benchmarks), receives the times from accepting
	// a play connection and from its play command to the end of the
	// viewer's first write (its keyframe).
	firstWrite func(sinceAccept, sinceCommand time.Duration)
	// egress writes the viewers' batches (nil when BatchInterval < 0 or the
	// platform has no non-blocking writev); Serve runs it when ownEgress.
	egress    *egress.Loop
	ownEgress bool
	// altPlay, when set (benchmarks), replaces the shared-chunk play loop.
	altPlay func(ctx context.Context, sc *gortmplib.ServerConn, rd *media.Reader) error
	// meter receives the metrics (SetMeter); never nil.
	meter Meter
}

// NewServer builds a Server.
func NewServer(cfg Config, hub *media.Hub, auth authorizer, log *slog.Logger) (*Server, error) {
	if hub == nil || auth == nil || log == nil {
		return nil, errors.New("rtmp: NewServer needs a hub, an authorizer and a logger")
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = defaults.RTMPHandshakeTimeout
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = defaults.RTMPReadTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = defaults.MediaWriteTimeout
	}
	if cfg.BatchInterval == 0 {
		cfg.BatchInterval = defaults.MediaBatchInterval
	}
	if cfg.PreAuthMaxMessageSize <= 0 {
		cfg.PreAuthMaxMessageSize = defaults.RTMPPreAuthMaxMessageSize
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = defaults.RTMPMaxMessageSize
	}
	if cfg.PreAuthMaxMessageSize > maxMessageSize || cfg.MaxMessageSize > maxMessageSize {
		return nil, fmt.Errorf("rtmp: message size limits must be at most %d bytes (24-bit lengths)", maxMessageSize)
	}
	s := &Server{cfg: cfg, hub: hub, auth: auth, log: log.With("component", "rtmp"), meter: noMeter{}}
	if cfg.BatchInterval >= 0 && egress.Supported {
		s.egress, s.ownEgress = egress.New(egress.Options{MinPass: cfg.BatchInterval}), true
	}
	return s, nil
}

// SetEgress makes the server's viewers use l, a loop the caller runs and
// may share with other servers (one write loop per node), instead of the
// server's own. It does nothing when the server writes every viewer from
// its own goroutine (BatchInterval < 0, or no non-blocking writev). Call it
// before Serve.
func (s *Server) SetEgress(l *egress.Loop) {
	if s.egress != nil && l != nil {
		s.egress, s.ownEgress = l, false
	}
}

// Serve accepts connections on ln until ctx is cancelled, then closes ln and
// every connection and returns once all connection goroutines have exited.
// When Accept fails with anything but a timeout, Serve does the same and
// returns the error. Serve does not retry failed accepts: give it a
// listen.Listener to ride out temporary failures (EMFILE, ECONNABORTED).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() }) // ends Accept; nothing to report at shutdown
	defer stop()

	var wg sync.WaitGroup
	// Cancel before waiting: the connections and the egress loop end with ctx.
	defer func() {
		cancel()
		wg.Wait()
	}()
	if s.ownEgress {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.egress.Run(ctx)
		}()
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("rtmp: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(ctx, nc)
		}()
	}
}

// Config returns the effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }
