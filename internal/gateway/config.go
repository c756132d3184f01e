package gateway

import (
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/config/defaults"
	"github.com/minirtc/minirtc/internal/token"
)

// Defaults of the knobs that are no settings (docs/protocol.md); each states
// its reason. The settings' defaults (config gateway.*) are in
// internal/config/defaults.
const (
	// DefaultExpiredCloseDelay lets key-expired reach the app before the
	// terminal close (5).
	DefaultExpiredCloseDelay = time.Second
	// DefaultLeaveCloseDelay: after leave the client closes at once; close it
	// ourselves only if it is still open this much later (3.6).
	DefaultLeaveCloseDelay = 10 * time.Second
	// DefaultRTMPPort is the standard RTMP port; it is left out of URLs.
	DefaultRTMPPort = 1935
	// DefaultURLRefreshLead: update-url with fresh URLs goes out this long
	// before the URLs a session holds expire.
	DefaultURLRefreshLead = time.Hour
	// DefaultWriteTimeout bounds one frame write to a slow client.
	DefaultWriteTimeout = 5 * time.Second
	// DefaultMaxQueue bounds a session's unsent frames; a client that falls
	// this far behind is disconnected (and may rejoin).
	DefaultMaxQueue = 512
	// DefaultLogUploadRatePerIP and DefaultLogUploadBurstPerIP bound log
	// uploads from one address (checked before the ticket or token): an app
	// uploads after a problem, by user action; carrier NAT puts many users
	// behind one IP.
	DefaultLogUploadRatePerIP  = 0.2 // one every 5 s on average
	DefaultLogUploadBurstPerIP = 10
	// DefaultLogUploadRatePerApp and DefaultLogUploadBurstPerApp bound the
	// authenticated uploads of one app from everywhere (disk writes; the
	// per-day byte budget in internal/diag bounds the space). Uploads without
	// a valid ticket or token are refused before they take from it.
	DefaultLogUploadRatePerApp  = 5.0
	DefaultLogUploadBurstPerApp = 50
	// DefaultDrainTimeout bounds how long Run waits for sessions at shutdown.
	DefaultDrainTimeout = 5 * time.Second
)

// Config holds the gateway's knobs; zero values mean the defaults (those of
// internal/config/defaults for the settings; RateBurst: twice RateLimit).
type Config struct {
	// Grace keeps the member of a lost socket (no leave) this long so that a
	// rejoin with the same uid resumes it. Negative: no grace period.
	Grace time.Duration
	// IdleTimeout closes a connection that sent nothing (not even a ping)
	// for this long; its member then gets the grace period and, if nobody
	// rejoins, leaves with reason 2 (timeout). So a silent client is gone
	// after IdleTimeout + Grace.
	IdleTimeout time.Duration
	// KeyWillExpireLead is how long before the join privilege ends
	// key-will-expire is pushed.
	KeyWillExpireLead time.Duration
	// ExpiredCloseDelay separates the key-expired push from the close.
	ExpiredCloseDelay time.Duration
	// LeaveCloseDelay closes a connection still open this long after leave.
	LeaveCloseDelay time.Duration
	// MaxMessageBytes is the largest accepted frame; a larger one closes the
	// connection (the SDK never sends one).
	MaxMessageBytes int64
	// PreJoinMaxBytes is the largest accepted frame until the socket has
	// joined with a valid key (at most MaxMessageBytes); a larger one closes
	// the connection.
	PreJoinMaxBytes int64
	// JoinTimeout closes a socket that has not joined this long after it
	// opened.
	JoinTimeout time.Duration
	// RateLimit (requests/s) and RateBurst limit requests per connection;
	// excess requests get 429.
	RateLimit float64
	RateBurst int
	// MaxUsersPerChannel is the node's channel capacity when the app sets none.
	MaxUsersPerChannel int
	// RTMPHost is the public host name of the RTMP service in push/play URLs;
	// empty: the host the client used for the WebSocket.
	RTMPHost string
	// RTMPPort is the public RTMP port (omitted from URLs when 1935).
	RTMPPort int
	// HTTPBase is the public base URL for HTTP-FLV play URLs, e.g.
	// "https://rtc.example.com"; empty: derived from the WebSocket request.
	HTTPBase string
	// FLV makes subscribe return HTTP-FLV URLs by default (a request may
	// still choose with options.flv).
	FLV bool
	// URLTTL is the validity of signed media URLs (at least 24 h).
	URLTTL time.Duration
	// URLRefreshLead: fresh URLs are pushed (update-url) this long before
	// the ones a session holds expire.
	URLRefreshLead time.Duration
	// PublicAddress is the dotted quad the allocation endpoint reports
	// (servers[0].address); empty: derived from the request or 127.0.0.1.
	PublicAddress string
	// WriteTimeout bounds each frame write.
	WriteTimeout time.Duration
	// MaxQueue bounds a session's unsent frames.
	MaxQueue int
	// DrainTimeout bounds the wait for sessions when Run ends.
	DrainTimeout time.Duration
	// LogUploadRatePerIP (uploads/s) and LogUploadBurstPerIP limit
	// POST /api/v1/logs per client IP; excess uploads get 429.
	LogUploadRatePerIP  float64
	LogUploadBurstPerIP int
	// LogUploadRatePerApp and LogUploadBurstPerApp limit uploads per app.
	LogUploadRatePerApp  float64
	LogUploadBurstPerApp int
	// LogTicketTTL is the validity of the log upload ticket handed out at
	// join (joinReply.logTicket).
	LogTicketTTL time.Duration
	// Clock drives token expiry and URL refresh timers (SystemClock when nil).
	// Idle detection always uses real time.
	Clock channel.Clock
	// Access, when set, extends a member's media sessions when its access
	// is renewed (internal/admission.Gate): update_key extends those its
	// token let in, a URL refresh those its signed URLs let in.
	Access MediaAccess
	// Router, in a cluster, says which node serves a channel: allocation
	// answers name the owner, and a join for a channel owned elsewhere is
	// forwarded to it. Nil: a single node serving every channel itself.
	Router Router
}

// MediaAccess extends the deadline of the media sessions of uid (a decimal
// uid or a string account) in a channel that do action to until.
type MediaAccess interface {
	Renew(app, channel, uid string, action token.Action, until time.Time)
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Grace, defaults.GatewayGraceTimeout)
	def(&c.IdleTimeout, defaults.GatewayIdleTimeout)
	def(&c.KeyWillExpireLead, defaults.GatewayKeyWillExpireLead)
	def(&c.ExpiredCloseDelay, DefaultExpiredCloseDelay)
	def(&c.LeaveCloseDelay, DefaultLeaveCloseDelay)
	def(&c.URLTTL, defaults.GatewayURLLifetime)
	def(&c.URLRefreshLead, DefaultURLRefreshLead)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.DrainTimeout, DefaultDrainTimeout)
	def(&c.LogTicketTTL, defaults.DiagnosticsLogTicketTTL)
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = defaults.GatewayMaxMessageBytes
	}
	if c.PreJoinMaxBytes == 0 {
		c.PreJoinMaxBytes = defaults.GatewayPreJoinMaxBytes
	}
	c.PreJoinMaxBytes = min(c.PreJoinMaxBytes, c.MaxMessageBytes)
	def(&c.JoinTimeout, defaults.GatewayJoinTimeout)
	if c.RateLimit == 0 {
		c.RateLimit = defaults.GatewayRequestsPerSecond
	}
	if c.RateBurst == 0 {
		c.RateBurst = max(1, int(2*c.RateLimit))
	}
	if c.MaxUsersPerChannel == 0 {
		c.MaxUsersPerChannel = defaults.GatewayMaxUsersPerChannel
	}
	if c.RTMPPort == 0 {
		c.RTMPPort = DefaultRTMPPort
	}
	if c.LogUploadRatePerIP == 0 {
		c.LogUploadRatePerIP = DefaultLogUploadRatePerIP
	}
	if c.LogUploadBurstPerIP == 0 {
		c.LogUploadBurstPerIP = DefaultLogUploadBurstPerIP
	}
	if c.LogUploadRatePerApp == 0 {
		c.LogUploadRatePerApp = DefaultLogUploadRatePerApp
	}
	if c.LogUploadBurstPerApp == 0 {
		c.LogUploadBurstPerApp = DefaultLogUploadBurstPerApp
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = DefaultMaxQueue
	}
	if c.Clock == nil {
		c.Clock = channel.SystemClock()
	}
	return c
}
