package store

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

// APIKey is an operator credential of the REST API (HTTP Basic auth: the
// customer ID and its secret, as Agora's RESTful API has them). Only a
// SHA-256 hash of the secret is stored: secrets are 32 random bytes, so a
// fast hash is enough to make a leaked store useless for logging in.
type APIKey struct {
	ID         string    `json:"id"`         // the customer ID (NewAPIKey makes 32 hex characters); never contains ":"
	SecretHash string    `json:"secretHash"` // hex SHA-256 of the secret
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"createdAt"`
}

var apiKeyID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidateAPIKey checks an API key record before it is stored.
func ValidateAPIKey(k APIKey) error {
	if !apiKeyID.MatchString(k.ID) {
		return fmt.Errorf("store: api key id %q must be 1..64 characters of A-Z a-z 0-9 _ -", k.ID)
	}
	if b, err := hex.DecodeString(k.SecretHash); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("store: api key %s: secretHash must be a hex SHA-256", k.ID)
	}
	return nil
}

// NewAPIKey makes a key with a random id and a random secret; the secret is
// returned once and only its hash is kept in the record.
func NewAPIKey(name string, now time.Time) (APIKey, string, error) {
	id, err := randomHex(16)
	if err != nil {
		return APIKey{}, "", err
	}
	secret, err := randomHex(32)
	if err != nil {
		return APIKey{}, "", err
	}
	return APIKey{ID: id, SecretHash: HashAPISecret(secret), Name: name, CreatedAt: now.UTC()}, secret, nil
}

// HashAPISecret is the stored form of an API secret.
func HashAPISecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Verify reports whether secret is the key's secret, in constant time.
func (k APIKey) Verify(secret string) bool {
	want, err := hex.DecodeString(k.SecretHash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}
