package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// ErrNotFound is returned when an app (or another record) does not exist.
var ErrNotFound = errors.New("store: not found")

// App is an application: the unit that owns channels and signs tokens.
type App struct {
	ID          string      `json:"appId"`
	Certificate string      `json:"appCertificate"`
	Name        string      `json:"name"`
	Enabled     bool        `json:"enabled"`
	CreatedAt   time.Time   `json:"createdAt"`
	Settings    AppSettings `json:"settings"`
}

// AppSettings are an app's policies.
type AppSettings struct {
	// AllowNoToken lets clients join with the appId (or nothing) as key instead
	// of a token. For development apps only.
	AllowNoToken bool `json:"allowNoToken"`
	// EnforcePublisherToken requires a token to publish: a development app
	// (AllowNoToken) then refuses publishing with the appId as key. A token
	// always needs its publish privileges to publish, on every door
	// (admission.Admit), whatever this setting.
	EnforcePublisherToken bool `json:"enforcePublisherToken"`
	// MaxUsersPerChannel caps a channel's members; 0 means the node default.
	MaxUsersPerChannel int `json:"maxUsersPerChannel"`
}

// Store is minirtc's persistent state.
type Store interface {
	// App returns the app with id, or ErrNotFound.
	App(ctx context.Context, id string) (App, error)
	// PutApp creates or replaces an app.
	PutApp(ctx context.Context, a App) error
	// Apps lists all apps ordered by creation time.
	Apps(ctx context.Context) ([]App, error)
	// APIKey returns the REST API key with id, or ErrNotFound.
	APIKey(ctx context.Context, id string) (APIKey, error)
	// PutAPIKey creates or replaces an API key.
	PutAPIKey(ctx context.Context, k APIKey) error
	// APIKeys lists all API keys ordered by creation time.
	APIKeys(ctx context.Context) ([]APIKey, error)
	// DeleteAPIKey removes the API key with id, or returns ErrNotFound.
	DeleteAPIKey(ctx context.Context, id string) error
	// KickingRule returns the kicking rule with id, or ErrNotFound.
	KickingRule(ctx context.Context, id uint64) (KickingRule, error)
	// PutKickingRule creates a kicking rule (r.ID 0: it gets the next id,
	// returned) or replaces the one with r.ID.
	PutKickingRule(ctx context.Context, r KickingRule) (uint64, error)
	// KickingRules lists all kicking rules ordered by id.
	KickingRules(ctx context.Context) ([]KickingRule, error)
	// DeleteKickingRule removes the kicking rule with id, or returns ErrNotFound.
	DeleteKickingRule(ctx context.Context, id uint64) error
	// WebhookStore: webhook endpoints and the delivery outbox (webhook.go).
	WebhookStore
	// Secret returns the named 32-byte secret, creating a random one on first use.
	Secret(ctx context.Context, name string) ([]byte, error)
	// Close releases the store.
	Close() error
}

var hex32 = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// ValidateApp checks an app record before it is stored.
func ValidateApp(a App) error {
	if !hex32.MatchString(a.ID) {
		return fmt.Errorf("store: app id %q must be 32 hex characters", a.ID)
	}
	if !hex32.MatchString(a.Certificate) {
		return fmt.Errorf("store: app %s: certificate must be 32 hex characters", a.ID)
	}
	if a.Settings.MaxUsersPerChannel < 0 {
		return fmt.Errorf("store: app %s: maxUsersPerChannel must not be negative", a.ID)
	}
	return nil
}

// NewApp makes an enabled app with a random id and certificate.
func NewApp(name string, now time.Time) (App, error) {
	id, err := randomHex(16)
	if err != nil {
		return App{}, err
	}
	cert, err := randomHex(16)
	if err != nil {
		return App{}, err
	}
	return App{ID: id, Certificate: cert, Name: name, Enabled: true, CreatedAt: now.UTC()}, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("store: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func newSecret() ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("store: random: %w", err)
	}
	return b, nil
}
