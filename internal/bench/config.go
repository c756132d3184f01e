package bench

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/bench/synth"
)

// Protocols a reader can play.
const (
	ProtoRTMP = "rtmp"
	ProtoFLV  = "flv"
	ProtoWHEP = "whep"
)

// Config describes one bench run. Zero fields take the defaults noted on
// each (see withDefaults).
type Config struct {
	// Signalling mode: the server's HTTP base URL (http://host:port), where
	// the allocation endpoint (/api/v1) and gateway WebSocket (/api) live.
	Server string
	// AppID and AppCert: with a certificate, every user joins with a 007
	// token built for its uid; without one, with the app id as key (apps
	// without a certificate).
	AppID, AppCert string
	// Channel is the channel every user joins (default "bench").
	Channel string
	// Publishers in signalling mode (default 1); readers are spread over
	// them round-robin and join their publisher's channel.
	Publishers int
	// Channels spreads the publishers over this many channels named
	// Channel-0, Channel-1, ... (default 1: everyone in Channel).
	Channels int
	// UIDBase: publishers get uids UIDBase+1.., readers UIDBase+100001..
	// (default 10000000).
	UIDBase uint32

	// Media-only mode: one publisher pushes to RTMPURL; readers play
	// PlayURL (default RTMPURL) over RTMP, or FLVURL over HTTP-FLV, or
	// WHEPURL over WebRTC (with WHEPToken as bearer token) when set.
	RTMPURL, PlayURL, FLVURL string
	WHEPURL, WHEPToken       string

	// Readers to start (default 10).
	Readers int
	// WHEPReaders are WHEP readers started in addition to Readers, spread
	// over the ramp (signalling mode: straight to /whep/... with a token;
	// media-only mode: WHEPURL), so one run measures both kinds side by
	// side. The summary then breaks the figures down by protocol.
	WHEPReaders int
	// Proto of the readers in signalling mode: "rtmp" (default), "flv", or
	// "whep" (browser-like readers: no gateway session, WHEP straight to
	// /whep/{app}/{channel}/{publisher} with a token).
	Proto string
	// Rate is how many readers start per second (default 20).
	Rate float64
	// Hold is how long to keep everyone running after the last reader
	// started (default 30 s).
	Hold time.Duration

	// Video is the synthetic stream (defaults: 320x240, 30 fps, GOP 60,
	// 500 kbit/s). Audio adds the 64 kbit/s AAC tone.
	Video   synth.VideoConfig
	NoAudio bool

	// ServerPID, when set, is sampled from /proc every Interval.
	ServerPID int
	// Timeout bounds each connection step and any silence of a reader
	// (default 10 s).
	Timeout time.Duration
	// Interval is the sampling and progress period (default 1 s).
	Interval time.Duration
	// TokenTTL is the lifetime of built tokens (default 24 h).
	TokenTTL time.Duration

	// Join-rate mode (signalling only; no media): JoinRates lists join
	// rates (users started per second) to try in turn. Each step starts
	// users at its rate for JoinStep (default 5 s); every user asks the
	// allocation endpoint, opens the gateway WebSocket and joins as
	// audience (in Channel, or spread over Channels), and stays until the
	// step ends. The run stops after the first step whose join p99 exceeds
	// JoinP99Limit (default 100 ms), where more than 1 % of the joins
	// failed, or that reached less than 90 % of its rate.
	JoinRates    []float64
	JoinStep     time.Duration
	JoinP99Limit time.Duration

	// ackWindow (tests): ask the server to acknowledge every ackWindow
	// bytes the publishers send.
	ackWindow uint32
}

// Mode names.
const (
	ModeSignalling = "signalling"
	ModeMediaOnly  = "media-only"
)

// ModeJoins is the join-rate mode (Config.JoinRates).
const ModeJoins = "joins"

// Mode reports which mode the configuration selects.
func (c Config) Mode() string {
	switch {
	case c.RTMPURL != "":
		return ModeMediaOnly
	case len(c.JoinRates) > 0:
		return ModeJoins
	}
	return ModeSignalling
}

func (c Config) withDefaults() Config {
	if c.Channel == "" {
		c.Channel = "bench"
	}
	if c.Publishers == 0 {
		c.Publishers = 1
	}
	if c.Channels == 0 {
		c.Channels = 1
	}
	if c.UIDBase == 0 {
		c.UIDBase = 10_000_000
	}
	if c.Readers == 0 {
		c.Readers = 10
	}
	if c.Proto == "" {
		c.Proto = ProtoRTMP
	}
	if c.Mode() == ModeMediaOnly {
		c.Publishers = 1
		c.Proto = ProtoRTMP
		if c.FLVURL != "" {
			c.Proto = ProtoFLV
		}
		if c.WHEPURL != "" && c.WHEPReaders == 0 {
			c.Proto = ProtoWHEP
		}
		if c.PlayURL == "" {
			c.PlayURL = c.RTMPURL
		}
	}
	if c.Rate == 0 {
		c.Rate = 20
	}
	if c.Hold == 0 {
		c.Hold = 30 * time.Second
	}
	if c.Video.Bitrate == 0 {
		c.Video.Bitrate = 500_000
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = 24 * time.Hour
	}
	if c.JoinStep == 0 {
		c.JoinStep = 5 * time.Second
	}
	if c.JoinP99Limit == 0 {
		c.JoinP99Limit = 100 * time.Millisecond
	}
	return c
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch {
	case c.Server != "" && c.RTMPURL != "":
		bad("give either a server URL (signalling mode) or an RTMP URL (media-only mode), not both")
	case c.Server == "" && c.RTMPURL == "":
		bad("give a server URL (signalling mode) or an RTMP URL to publish to (media-only mode)")
	case c.Server != "":
		if !strings.HasPrefix(c.Server, "http://") && !strings.HasPrefix(c.Server, "https://") {
			bad("server %q: want http://host:port or https://host", c.Server)
		}
		if len(c.AppID) != 32 {
			bad("app id %q: want the 32-character app id", c.AppID)
		}
		if c.AppCert != "" && len(c.AppCert) != 32 {
			bad("app certificate: want 32 characters (or none for an app without certificate)")
		}
		if c.PlayURL != "" || c.FLVURL != "" || c.WHEPURL != "" {
			bad("play and FLV URLs are for media-only mode; in signalling mode the gateway hands them out")
		}
	}
	if c.Mode() == ModeMediaOnly {
		if _, err := rtmpClientURL(c.RTMPURL); err != nil {
			bad("%v", err)
		}
		if _, err := rtmpClientURL(c.PlayURL); err != nil {
			bad("%v", err)
		}
		if c.FLVURL != "" && !strings.HasPrefix(c.FLVURL, "http://") && !strings.HasPrefix(c.FLVURL, "https://") {
			bad("FLV URL %q: want http(s)://", c.FLVURL)
		}
		if c.WHEPURL != "" && !strings.HasPrefix(c.WHEPURL, "http://") && !strings.HasPrefix(c.WHEPURL, "https://") {
			bad("WHEP URL %q: want http(s)://", c.WHEPURL)
		}
		if c.WHEPURL != "" && c.FLVURL != "" && c.WHEPReaders == 0 {
			bad("give either an FLV URL or a WHEP URL for the readers, not both (or WHEP readers in addition)")
		}
		if c.WHEPReaders > 0 && c.WHEPURL == "" {
			bad("WHEP readers in media-only mode need a WHEP URL")
		}
	}
	if len(c.JoinRates) > 0 {
		if c.RTMPURL != "" {
			bad("join rates need a minirtc server (signalling mode), not an RTMP URL")
		}
		for _, r := range c.JoinRates {
			if r <= 0 || r > 100_000 {
				bad("join rate %v: want 0 < rate <= 100000 per second", r)
			}
		}
		if c.JoinStep < time.Second {
			bad("join step %v: want at least 1s", c.JoinStep)
		}
		if c.JoinP99Limit <= 0 {
			bad("join p99 limit %v: must be positive", c.JoinP99Limit)
		}
	}
	if c.Proto != ProtoRTMP && c.Proto != ProtoFLV && c.Proto != ProtoWHEP {
		bad("proto %q: want rtmp, flv or whep", c.Proto)
	}
	if c.Publishers < 1 || c.Publishers > 1000 {
		bad("publishers %d: want 1..1000", c.Publishers)
	}
	if c.Channels < 1 || (c.Channels > c.Publishers && c.Mode() != ModeJoins) {
		bad("channels %d: want 1..publishers (%d): every channel needs a publisher", c.Channels, c.Publishers)
	}
	if c.Readers < 0 || c.Readers > 100_000 {
		bad("readers %d: want 0..100000", c.Readers)
	}
	if c.WHEPReaders < 0 || c.WHEPReaders > 100_000 {
		bad("WHEP readers %d: want 0..100000", c.WHEPReaders)
	}
	if c.Rate <= 0 {
		bad("rate %v: want > 0 readers per second", c.Rate)
	}
	if c.Hold < 0 {
		bad("hold %v: must not be negative", c.Hold)
	}
	if c.Timeout < 100*time.Millisecond {
		bad("timeout %v: want at least 100ms", c.Timeout)
	}
	if c.Interval < 100*time.Millisecond {
		bad("interval %v: want at least 100ms", c.Interval)
	}
	if c.TokenTTL < time.Second || c.TokenTTL > math.MaxUint32*time.Second {
		bad("token TTL %v: want 1s..%v (a token lifetime is 32-bit seconds)", c.TokenTTL, math.MaxUint32*time.Second)
	}
	if err := c.Video.Validate(); err != nil {
		bad("%v", err)
	}
	return errors.Join(errs...)
}

// synthVideoConfig returns the effective video settings (defaults applied).
func synthVideoConfig(c synth.VideoConfig) (synth.VideoConfig, error) {
	v, err := synth.NewVideo(c)
	if err != nil {
		return c, err
	}
	return v.Config(), nil
}
