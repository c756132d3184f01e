package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/minirtc/minirtc/internal/store"
)

// REST API keys over the control socket (minirtc apikey ... while the
// server runs):
//
//	GET    /v1/apikeys       every key (never a secret or its hash)
//	POST   /v1/apikeys       create one ({"name"}), 201 with its secret, shown once
//	DELETE /v1/apikeys/{id}  delete one, 204

// APIKeyInfo is an API key as the CLI shows it.
type APIKeyInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	// Secret is only set in the answer that created the key.
	Secret string `json:"secret,omitempty"`
}

// KeyInfo describes k without its secret.
func KeyInfo(k store.APIKey) APIKeyInfo {
	return APIKeyInfo{ID: k.ID, Name: k.Name, CreatedAt: k.CreatedAt}
}

// maxKeyName caps an API key's name (a label for operators).
const maxKeyName = 255

// CreateAPIKey makes a key named name in st and returns it with its secret.
func CreateAPIKey(ctx context.Context, st store.Store, name string) (APIKeyInfo, error) {
	if len(name) > maxKeyName {
		return APIKeyInfo{}, fmt.Errorf("the key name must be at most %d bytes", maxKeyName)
	}
	k, secret, err := store.NewAPIKey(name, time.Now())
	if err != nil {
		return APIKeyInfo{}, err
	}
	if err := st.PutAPIKey(ctx, k); err != nil {
		return APIKeyInfo{}, err
	}
	info := KeyInfo(k)
	info.Secret = secret
	return info, nil
}

func (h *handler) listKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := h.st.APIKeys(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]APIKeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, KeyInfo(k))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) createKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return
	}
	info, err := CreateAPIKey(r.Context(), h.st, req.Name)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	h.log.Info("api key created over the control socket", "key", info.ID, "name", info.Name)
	writeJSON(w, http.StatusCreated, info)
}

func (h *handler) deleteKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := h.st.DeleteAPIKey(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no API key with id %s (see minirtc apikey list)", id))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	h.log.Info("api key deleted over the control socket", "key", id)
	w.WriteHeader(http.StatusNoContent)
}

// APIKeys lists the API keys.
func (c *Client) APIKeys(ctx context.Context) ([]APIKeyInfo, error) {
	var keys []APIKeyInfo
	return keys, c.do(ctx, http.MethodGet, "/v1/apikeys", nil, &keys)
}

// CreateAPIKey creates an API key; the answer holds its secret.
func (c *Client) CreateAPIKey(ctx context.Context, name string) (APIKeyInfo, error) {
	var k APIKeyInfo
	return k, c.do(ctx, http.MethodPost, "/v1/apikeys", map[string]string{"name": name}, &k)
}

// DeleteAPIKey deletes the API key with id.
func (c *Client) DeleteAPIKey(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/apikeys/"+id, nil, nil)
}
