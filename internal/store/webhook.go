package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// WebhookEndpoint is one URL an app's channel events are delivered to,
// signed with Secret (docs/webhooks.md).
type WebhookEndpoint struct {
	ID        string    `json:"id"`
	App       string    `json:"appId"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"createdAt"`
}

// Delivery states of an OutboxEntry.
const (
	DeliveryPending   = "pending"   // not delivered yet; retried until it is or its retry period ends
	DeliveryDelivered = "delivered" // the endpoint answered 2xx
	DeliveryFailed    = "failed"    // given up: the retry period ended or the endpoint was removed
)

// ErrNotOwner is returned by UpdateOutbox when the stored entry belongs to
// another node than the update's: another node adopted it (see AdoptOutbox)
// and delivers it now.
var ErrNotOwner = errors.New("store: outbox entry owned by another node")

// OutboxEntry is one notice for one endpoint. It is written before the
// first attempt and updated after each.
type OutboxEntry struct {
	// Seq orders the outbox; Append assigns it, increasing.
	Seq uint64 `json:"seq"`
	// Node is the cluster node that delivers the entry: the one that wrote
	// it, or the one that adopted it when that node died. "" on a single
	// node.
	Node      string `json:"node,omitempty"`
	NoticeID  string `json:"noticeId"`
	App       string `json:"appId"`
	Endpoint  string `json:"endpointId"`
	Channel   string `json:"channelName"`
	EventType int    `json:"eventType"`
	// Payload is the notice's payload object (JSON).
	Payload   []byte    `json:"payload"`
	CreatedAt time.Time `json:"createdAt"`
	// RetryUntil ends the retries: a failed attempt after it gives up.
	RetryUntil  time.Time `json:"retryUntil"`
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"nextAttempt"`
	LastAttempt time.Time `json:"lastAttempt,omitempty"`
	LastStatus  int       `json:"lastStatus,omitempty"` // HTTP status of the last attempt, 0 without an answer
	LastError   string    `json:"lastError,omitempty"`
}

// WebhookStore holds the webhook endpoints and the delivery outbox.
type WebhookStore interface {
	// WebhookEndpoints lists app's endpoints ordered by creation; app ""
	// lists every app's.
	WebhookEndpoints(ctx context.Context, app string) ([]WebhookEndpoint, error)
	// PutWebhookEndpoint creates or replaces an endpoint.
	PutWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error
	// DeleteWebhookEndpoint removes app's endpoint id, or returns ErrNotFound.
	DeleteWebhookEndpoint(ctx context.Context, app, id string) error
	// AppendOutbox stores entries in one write, assigning their Seq, and
	// returns them.
	AppendOutbox(ctx context.Context, entries []OutboxEntry) ([]OutboxEntry, error)
	// UpdateOutbox replaces the entry with e.Seq when the stored entry's
	// Node is e.Node. It returns ErrNotFound when there is no such entry and
	// ErrNotOwner when another node owns it (it adopted the entry), changing
	// nothing.
	UpdateOutbox(ctx context.Context, e OutboxEntry) error
	// AdoptOutbox makes node to the owner of the entry with seq if, at once,
	// it is pending and owned by node from, and returns the entry as stored
	// then and true. Of several nodes adopting the same entry from the same
	// owner, exactly one gets true; the others (and any call on an entry
	// that is finished or owned by another node) get false and change
	// nothing. A missing entry is ErrNotFound.
	AdoptOutbox(ctx context.Context, seq uint64, from, to string) (OutboxEntry, bool, error)
	// PendingOutbox lists the pending entries in Seq order.
	PendingOutbox(ctx context.Context) ([]OutboxEntry, error)
	// RecentOutbox lists app's entries, newest first, at most limit.
	RecentOutbox(ctx context.Context, app string, limit int) ([]OutboxEntry, error)
	// OutboxByNotice lists app's entries of one notice (one per endpoint).
	OutboxByNotice(ctx context.Context, app, noticeID string) ([]OutboxEntry, error)
	// PruneOutbox deletes the finished entries created before before and
	// returns how many.
	PruneOutbox(ctx context.Context, before time.Time) (int, error)
}

// maxWebhookSecret and maxWebhookURL cap what an endpoint holds.
const (
	minWebhookSecret = 16
	maxWebhookSecret = 256
	maxWebhookURL    = 2048
)

// ValidateWebhookEndpoint checks an endpoint before it is stored.
func ValidateWebhookEndpoint(e WebhookEndpoint) error {
	if !hex32.MatchString(e.App) {
		return fmt.Errorf("store: webhook: app id %q must be 32 hex characters", e.App)
	}
	if !hex32.MatchString(e.ID) {
		return fmt.Errorf("store: webhook id %q must be 32 hex characters", e.ID)
	}
	if len(e.URL) > maxWebhookURL {
		return fmt.Errorf("store: webhook url must be at most %d bytes", maxWebhookURL)
	}
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("store: webhook url %q must be an absolute http:// or https:// URL", e.URL)
	}
	if u.User != nil {
		return fmt.Errorf("store: webhook url must not carry credentials (the secret signs each request)")
	}
	if len(e.Secret) < minWebhookSecret || len(e.Secret) > maxWebhookSecret || strings.ContainsAny(e.Secret, "\r\n") {
		return fmt.Errorf("store: webhook secret must be %d..%d characters on one line", minWebhookSecret, maxWebhookSecret)
	}
	return nil
}

// NewWebhookEndpoint makes an endpoint of app with a random id; an empty
// secret gets a random one (64 hex characters).
func NewWebhookEndpoint(app, rawURL, secret string, now time.Time) (WebhookEndpoint, error) {
	id, err := randomHex(16)
	if err != nil {
		return WebhookEndpoint{}, err
	}
	if secret == "" {
		if secret, err = randomHex(32); err != nil {
			return WebhookEndpoint{}, err
		}
	}
	e := WebhookEndpoint{ID: id, App: app, URL: rawURL, Secret: secret, CreatedAt: now.UTC()}
	return e, ValidateWebhookEndpoint(e)
}
