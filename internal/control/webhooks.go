package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/webhook"
)

// Webhook endpoints over the control socket (minirtc webhook ... while the
// server runs):
//
//	GET    /v1/apps/{id}/webhooks        the app's endpoints (no secrets)
//	POST   /v1/apps/{id}/webhooks        add one ({"url", "secret"}), 201 with its secret
//	DELETE /v1/apps/{id}/webhooks/{wid}  remove one, 204

func (h *handler) webhookRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/apps/{id}/webhooks", h.listWebhooks)
	mux.HandleFunc("POST /v1/apps/{id}/webhooks", h.addWebhook)
	mux.HandleFunc("DELETE /v1/apps/{id}/webhooks/{wid}", h.removeWebhook)
}

// WebhookAddRequest is the body of POST /v1/apps/{id}/webhooks.
type WebhookAddRequest struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

func (h *handler) appOr404(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	_, err := h.st.App(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no app with id %s (see minirtc app list)", id))
		return "", false
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return "", false
	}
	return id, true
}

func (h *handler) listWebhooks(w http.ResponseWriter, r *http.Request) {
	app, ok := h.appOr404(w, r)
	if !ok {
		return
	}
	list, err := ListWebhooks(r.Context(), h.st, app)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *handler) addWebhook(w http.ResponseWriter, r *http.Request) {
	var req WebhookAddRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return
	}
	app, ok := h.appOr404(w, r)
	if !ok {
		return
	}
	e, err := webhook.AddEndpoint(r.Context(), h.st, app, req.URL, req.Secret)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	h.log.Info("webhook endpoint added over the control socket", "app", app, "endpoint", e.ID, "url", e.URL)
	writeJSON(w, http.StatusCreated, e)
}

func (h *handler) removeWebhook(w http.ResponseWriter, r *http.Request) {
	app, ok := h.appOr404(w, r)
	if !ok {
		return
	}
	if err := RemoveWebhook(r.Context(), h.st, app, r.PathValue("wid")); err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	h.log.Info("webhook endpoint removed over the control socket", "app", app, "endpoint", r.PathValue("wid"))
	w.WriteHeader(http.StatusNoContent)
}

// ListWebhooks lists app's endpoints without their secrets.
func ListWebhooks(ctx context.Context, st store.Store, app string) ([]webhook.Endpoint, error) {
	eps, err := st.WebhookEndpoints(ctx, app)
	if err != nil {
		return nil, err
	}
	out := make([]webhook.Endpoint, 0, len(eps))
	for _, e := range eps {
		out = append(out, webhook.EndpointInfo(e))
	}
	return out, nil
}

// RemoveWebhook removes app's endpoint id, with a hint when there is none.
func RemoveWebhook(ctx context.Context, st store.Store, app, id string) error {
	err := st.DeleteWebhookEndpoint(ctx, app, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("app %s has no webhook with id %s (see minirtc webhook list --app-id %s)", app, id, app)
	}
	return err
}

// Webhooks lists app's webhook endpoints.
func (c *Client) Webhooks(ctx context.Context, app string) ([]webhook.Endpoint, error) {
	var out []webhook.Endpoint
	return out, c.do(ctx, http.MethodGet, "/v1/apps/"+app+"/webhooks", nil, &out)
}

// AddWebhook adds a webhook endpoint to app; the answer holds its secret.
func (c *Client) AddWebhook(ctx context.Context, app, url, secret string) (webhook.Endpoint, error) {
	var e webhook.Endpoint
	return e, c.do(ctx, http.MethodPost, "/v1/apps/"+app+"/webhooks", WebhookAddRequest{URL: url, Secret: secret}, &e)
}

// RemoveWebhook removes app's webhook endpoint id.
func (c *Client) RemoveWebhook(ctx context.Context, app, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/apps/"+app+"/webhooks/"+id, nil, nil)
}
