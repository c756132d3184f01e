package rtmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/minirtc/minirtc/internal/egress"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/logsafe"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/token"
)

// appName is the RTMP application of every minirtc URL (rtmp://host/live/{stream}).
const appName = "live"

// handle serves one connection until it ends or ctx is cancelled.
func (s *Server) handle(ctx context.Context, nc net.Conn) {
	acceptAt := time.Now()
	ctx, cancel := context.WithCancel(token.WithRemoteAddr(ctx, nc.RemoteAddr().String()))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() }) // interrupts blocked I/O
	defer stop()
	defer func() { _ = nc.Close() }()
	log := s.log.With("remote", nc.RemoteAddr().String())
	s.meter.ConnOpened()
	defer s.meter.ConnClosed()

	_ = nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	guard := newGuardConn(nc, uint32(s.cfg.PreAuthMaxMessageSize), uint32(s.cfg.MaxMessageSize)) //nolint:gosec // G115: NewServer keeps both in 1..maxMessageSize (24 bits)
	cork := &corkConn{Conn: guard, meter: s.meter}
	sc := &gortmplib.ServerConn{RW: cork}
	if err := sc.Initialize(); err != nil {
		logFailure(log, "rtmp handshake failed", err)
		return
	}
	if err := sc.AcceptConn(); err != nil {
		logFailure(log, "rtmp command phase failed", err)
		return
	}
	commandAt := time.Now()
	action := token.ActionPlay
	if sc.Publish {
		action = token.ActionPublish
	}
	stream, q, err := streamFromURL(sc.URL)
	log = log.With("action", string(action), "stream", logsafe.String(stream))
	if err != nil {
		refuse(sc, cork, log, errcode.NotFound(err.Error()))
		return
	}
	grant, err := s.auth.Authorize(ctx, action, stream, q)
	if err != nil {
		refuse(sc, cork, log, err)
		return
	}
	guard.SetLimit(uint32(s.cfg.MaxMessageSize)) //nolint:gosec // G115: NewServer keeps it in 1..maxMessageSize (24 bits)
	log = log.With("app", grant.AppID, "channel", grant.Channel, "uid", grant.UID)
	key := media.Key{AppID: grant.AppID, Channel: grant.Channel, UID: grant.UID}
	if sc.Publish {
		s.publish(ctx, nc, cork, sc, key, grant, log)
	} else {
		s.play(ctx, cancel, nc, cork, sc, key, grant.Viewer, grant.Register, acceptAt, commandAt, log)
	}
}

// logFailure logs why a connection failed before it was authorized: at
// Info with the reason when it went over a size limit, at Debug otherwise
// (a scanner or a client that went away).
func logFailure(log *slog.Logger, msg string, err error) {
	if reason, ok := violation(err); ok {
		log.Info("rtmp connection closed", "reason", reason)
		return
	}
	log.Debug(msg, "err", logsafe.Error(err))
}

// refuse logs a refusal with its catalogue reason and answers the action
// command with an error status that carries the code and reason as its
// description (ffmpeg prints it as "Server error: ..."); the caller then
// closes the connection.
func refuse(sc *gortmplib.ServerConn, cork *corkConn, log *slog.Logger, err error) {
	ec := errcode.From(err)
	if cork.meter != nil {
		cork.meter.Refused(ec.Code)
	}
	log.Info("rtmp connection refused", "code", ec.Code, "reason", logsafe.String(ec.Message()), "err", logsafe.Error(err))
	status := "NetStream.Play.Failed"
	if sc.Publish {
		status = "NetStream.Publish.Unauthorized"
		if ec.Reason == errcode.ReasonStreamBusy {
			status = "NetStream.Publish.BadName" // the usual answer for a stream already being published
		}
	}
	_ = sc.Write(&message.CommandAMF0{
		ChunkStreamID:   5,
		MessageStreamID: 0x1000000, // stream 1, as gortmplib writes it for its own action replies
		Name:            "onStatus",
		Arguments: []any{nil, amf0.Object{
			{Key: "level", Value: "error"},
			{Key: "code", Value: status},
			{Key: "description", Value: fmt.Sprintf("%d %s", ec.Code, ec.Message())},
		}},
	})
	_ = cork.release()
}

// streamFromURL extracts the stream name and the query from the URL that
// gortmplib joined from tcUrl and the stream key. The query may sit in the
// stream key (rtmp://h/live/{stream}?sign=..., the usual form) or in tcUrl
// (rtmp://h/live?sign=... then stream key {stream}).
func streamFromURL(u *url.URL) (string, url.Values, error) {
	if u == nil {
		return "", nil, errors.New("rtmp: no URL")
	}
	path := strings.TrimPrefix(u.Path, "/")
	rawQuery := u.RawQuery
	app, name, _ := strings.Cut(path, "/")
	if name == "" {
		if i := strings.LastIndexByte(rawQuery, '/'); i >= 0 {
			name, rawQuery = rawQuery[i+1:], rawQuery[:i]
		}
	}
	if app != appName {
		return "", nil, fmt.Errorf("RTMP URLs are rtmp://host/%s/{stream} (got app %q)", appName, app)
	}
	if name == "" || strings.Contains(name, "/") {
		return "", nil, fmt.Errorf("RTMP URL has no stream name")
	}
	q, err := token.ParseMediaQuery(rawQuery) // a raw '+' in ?token= stays '+'
	if err != nil {
		return "", nil, fmt.Errorf("RTMP URL query: %w", err)
	}
	return name, q, nil
}

// publish runs an authorized publish connection: the seam's channel rule
// first (grant.EnterChannel), then the hub's; grant.Register ties it to its
// principal's access.
func (s *Server) publish(ctx context.Context, nc net.Conn, cork *corkConn, sc *gortmplib.ServerConn, key media.Key,
	grant token.MediaGrant, log *slog.Logger) {
	leave, err := grant.EnterChannel(ctx, token.DoorRTMP, "", nil)
	if err != nil {
		refuse(sc, cork, log, err)
		return
	}
	defer leave(true)
	register := grant.Register
	var (
		killMu sync.Mutex
		killed error
	)
	// The credential names the uid (signed URL, or a token for it): a
	// reconnect of the same member, which may replace a stalled publisher.
	pub, err := s.hub.PublishWith(key, media.PublishOptions{OnClose: func(reason error) {
		killMu.Lock()
		killed = reason
		killMu.Unlock()
		_ = nc.Close() // ends the publish loop's read
	}})
	if err != nil {
		refuse(sc, cork, log, err)
		return
	}
	// The access ending (leave, kick, ban, expiry) ends the publisher as the
	// hub does: its onClose above closes the connection.
	defer register(pub.End)()
	if err := sc.AcceptAction(); err != nil {
		pub.Close(err)
		return
	}
	if err := cork.release(); err != nil {
		pub.Close(err)
		return
	}
	log.Info("rtmp publish opened")
	s.meter.PublishStarted()
	defer s.meter.PublishEnded()
	in := newIngest(pub)
	err = in.run(nc, sc, s.cfg.ReadTimeout)
	pub.Close(err)
	killMu.Lock()
	if killed != nil {
		err = killed
	}
	killMu.Unlock()
	log.Info("rtmp publish closed", "reason", closeReason(err), "packets", in.packets, "dropped", in.dropped)
}

func closeReason(err error) string {
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return "closed by peer"
	case errors.Is(err, media.ErrPublisherGone):
		return "ended by the hub"
	}
	if ec, ok := errcode.As(err); ok {
		return ec.Message()
	}
	return err.Error()
}

// play runs an authorized play connection. register ties it to its
// principal's access (token.MediaGrant.Register).
func (s *Server) play(ctx context.Context, cancel context.CancelFunc, nc net.Conn, cork *corkConn, sc *gortmplib.ServerConn, key media.Key, viewer string,
	register func(end func(error)) func(), acceptAt, commandAt time.Time, log *slog.Logger) {
	var (
		killMu sync.Mutex
		killed error
		cut    *time.Timer
	)
	// The player exists before its reader, so that the reader's hooks can
	// make it due in the egress loop: OnQueue when packets arrive, OnClose
	// when the hub ends the reader (Flush then returns the reason).
	pl := &player{out: egress.NewConn(nc, s.cfg.WriteTimeout), interval: s.cfg.BatchInterval, log: log, meter: s.meter}
	if pl.out.Raw != nil && s.egress != nil {
		pl.slot = s.egress.Slot(pl)
	}
	due := func() {
		if pl.slot != nil {
			pl.slot.Due()
		}
	}
	rd, err := s.hub.Subscribe(key, media.SubscribeOptions{Viewer: viewer, Protocol: "rtmp", Remote: nc.RemoteAddr().String(), Audio: playAudio(sc.FourCcList), WaitAudio: true, OnQueue: due, OnClose: func(reason error) {
		// What is queued still goes out (the reader returns it before the
		// reason); a viewer stuck on a full socket is cut after DrainTime.
		killMu.Lock()
		killed = reason
		cut = time.AfterFunc(egress.DrainTime(s.cfg.BatchInterval), cancel)
		killMu.Unlock()
		due()
	}})
	if err != nil {
		refuse(sc, cork, log, err)
		return
	}
	defer rd.Close()
	// The access ending (leave, kick, ban, expiry) ends the reader as a kick
	// does: its OnClose above cuts the connection.
	defer register(rd.End)()
	if err := sc.AcceptAction(); err != nil {
		return
	}
	// The play replies go out with the GOP cache in one write when the
	// stream is live; a held viewer gets them now.
	replies := cork.take()
	first, _ := rd.TryNext(nil)
	if len(first) == 0 || s.altPlay != nil {
		n, err := nc.Write(replies)
		s.meter.BytesOut(n)
		if err != nil {
			return
		}
		replies = nil
	}
	_ = nc.SetDeadline(time.Time{})
	log.Info("rtmp play opened", "viewer", logsafe.String(viewer))
	s.meter.ReadStarted()
	defer s.meter.ReadEnded()

	// The viewer sends little after play (acks, buffer length); read and
	// discard it, and notice when it leaves.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		var buf [512]byte
		for {
			n, err := nc.Read(buf[:])
			s.meter.BytesIn(n)
			if err != nil {
				return
			}
		}
	}()
	pl.rd, pl.prefix, pl.first = rd, replies, first
	if s.firstWrite != nil {
		pl.firstWrite = func() { s.firstWrite(time.Since(acceptAt), time.Since(commandAt)) }
	}
	if s.altPlay != nil {
		err = s.altPlay(ctx, sc, rd)
	} else {
		err = pl.run(ctx)
	}
	cancel()
	_ = nc.Close() // ends the control reader
	wg.Wait()
	killMu.Lock()
	if killed != nil {
		err = killed
	}
	if cut != nil {
		cut.Stop()
	}
	killMu.Unlock()
	log.Info("rtmp play closed", "reason", closeReason(err), "drops", rd.Drops())
}

// parseURL parses an RTMP URL as gortmplib does when it joins tcUrl and the
// stream key (tests and fuzzing).
func parseURL(s string) (*url.URL, error) { return url.Parse(s) }
