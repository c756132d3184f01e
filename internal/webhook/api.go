package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/minirtc/minirtc/internal/api"
	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/store"
)

// The REST API's webhook endpoints (docs/rest-api.md, "Webhooks"):
//
//	GET    /v1/apps/{appId}/webhooks                                  the app's endpoints (no secrets)
//	POST   /v1/apps/{appId}/webhooks                                  add one {url, secret?}: 201 with its secret
//	DELETE /v1/apps/{appId}/webhooks/{id}                             remove one: 204
//	POST   /v1/apps/{appId}/webhooks/{id}/test                        queue a test notice: 202 {noticeId}
//	GET    /v1/apps/{appId}/webhooks/deliveries?limit=N               recent deliveries, newest first
//	POST   /v1/apps/{appId}/webhooks/deliveries/{noticeId}/redeliver  deliver a notice again

// Endpoint is a webhook endpoint as the API and the CLI show it. Secret is
// only in the answer that created it.
type Endpoint struct {
	ID        string    `json:"id"`
	AppID     string    `json:"appId"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"createdAt"`
	Secret    string    `json:"secret,omitempty"`
}

// EndpointInfo describes e without its secret.
func EndpointInfo(e store.WebhookEndpoint) Endpoint {
	return Endpoint{ID: e.ID, AppID: e.App, URL: e.URL, CreatedAt: e.CreatedAt}
}

// Delivery is one outbox entry as the API shows it.
type Delivery struct {
	NoticeID    string     `json:"noticeId"`
	EndpointID  string     `json:"endpointId"`
	EventType   int        `json:"eventType"`
	ChannelName string     `json:"channelName"`
	Status      string     `json:"status"` // pending, delivered, failed
	Attempts    int        `json:"attempts"`
	CreatedAt   time.Time  `json:"createdAt"`
	NextAttempt *time.Time `json:"nextAttempt,omitempty"` // pending only
	LastAttempt *time.Time `json:"lastAttempt,omitempty"`
	LastStatus  int        `json:"lastStatus,omitempty"`
	LastError   string     `json:"lastError,omitempty"`
	Payload     any        `json:"payload"`
}

func toDelivery(e store.OutboxEntry) Delivery {
	d := Delivery{NoticeID: e.NoticeID, EndpointID: e.Endpoint, EventType: e.EventType, ChannelName: e.Channel,
		Status: e.Status, Attempts: e.Attempts, CreatedAt: e.CreatedAt, LastStatus: e.LastStatus, LastError: e.LastError,
		Payload: rawJSON(e.Payload)}
	if e.Status == store.DeliveryPending {
		d.NextAttempt = &e.NextAttempt
	}
	if !e.LastAttempt.IsZero() {
		d.LastAttempt = &e.LastAttempt
	}
	return d
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("{}"), nil
	}
	return r, nil
}

// AddEndpoint creates an endpoint of app in st (the app must exist) and
// returns it with its secret (a random one when secret is empty).
func AddEndpoint(ctx context.Context, st Store, app, url, secret string) (Endpoint, error) {
	if _, err := st.App(ctx, app); err != nil {
		return Endpoint{}, err
	}
	e, err := store.NewWebhookEndpoint(app, url, secret, time.Now())
	if err != nil {
		return Endpoint{}, errcode.BadRequest(err.Error())
	}
	if err := st.PutWebhookEndpoint(ctx, e); err != nil {
		return Endpoint{}, err
	}
	info := EndpointInfo(e)
	info.Secret = e.Secret
	return info, nil
}

// maxDeliveries caps the deliveries listing.
const maxDeliveries = 500

// Register adds the webhook endpoints to the REST API.
func (s *Service) Register(srv *api.Server) {
	srv.Handle("GET /v1/apps/{appId}/webhooks", http.HandlerFunc(s.apiList))
	srv.Handle("POST /v1/apps/{appId}/webhooks", http.HandlerFunc(s.apiAdd))
	srv.Handle("DELETE /v1/apps/{appId}/webhooks/{id}", http.HandlerFunc(s.apiRemove))
	srv.Handle("POST /v1/apps/{appId}/webhooks/{id}/test", http.HandlerFunc(s.apiTest))
	srv.Handle("GET /v1/apps/{appId}/webhooks/deliveries", http.HandlerFunc(s.apiDeliveries))
	srv.Handle("POST /v1/apps/{appId}/webhooks/deliveries/{noticeId}/redeliver", http.HandlerFunc(s.apiRedeliver))
}

// apiErr turns store errors into catalogue errors.
func apiErr(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return errcode.NotFound(what + " not found")
	}
	return err
}

// withApp runs f with a store deadline once the app exists.
func (s *Service) withApp(w http.ResponseWriter, r *http.Request, f func(ctx context.Context, app string) error) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	app := r.PathValue("appId")
	if _, err := s.st.App(ctx, app); err != nil {
		api.WriteError(w, r, apiErr(err, fmt.Sprintf("app %q", app)))
		return
	}
	if err := f(ctx, app); err != nil {
		api.WriteError(w, r, err)
	}
}

func (s *Service) apiList(w http.ResponseWriter, r *http.Request) {
	s.withApp(w, r, func(ctx context.Context, app string) error {
		eps, err := s.st.WebhookEndpoints(ctx, app)
		if err != nil {
			return err
		}
		out := make([]Endpoint, 0, len(eps))
		for _, e := range eps {
			out = append(out, EndpointInfo(e))
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"items": out})
		return nil
	})
}

// addRequest is the body of POST /v1/apps/{appId}/webhooks.
type addRequest struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

func (s *Service) apiAdd(w http.ResponseWriter, r *http.Request) {
	var req addRequest
	if err := decodeStrict(r, &req); err != nil {
		api.WriteError(w, r, err)
		return
	}
	s.withApp(w, r, func(ctx context.Context, app string) error {
		e, err := AddEndpoint(ctx, s.st, app, req.URL, req.Secret)
		if err != nil {
			return err
		}
		s.log.Info("webhook endpoint added", "app", app, "endpoint", e.ID, "url", e.URL)
		api.WriteJSON(w, http.StatusCreated, e)
		return nil
	})
}

func (s *Service) apiRemove(w http.ResponseWriter, r *http.Request) {
	s.withApp(w, r, func(ctx context.Context, app string) error {
		id := r.PathValue("id")
		if err := s.st.DeleteWebhookEndpoint(ctx, app, id); err != nil {
			return apiErr(err, fmt.Sprintf("webhook %q", id))
		}
		s.log.Info("webhook endpoint removed", "app", app, "endpoint", id)
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Service) apiTest(w http.ResponseWriter, r *http.Request) {
	s.withApp(w, r, func(ctx context.Context, app string) error {
		id, err := s.SendTest(ctx, app, r.PathValue("id"))
		if err != nil {
			return apiErr(err, fmt.Sprintf("webhook %q", r.PathValue("id")))
		}
		api.WriteJSON(w, http.StatusAccepted, map[string]any{"noticeId": id, "eventType": EventTest})
		return nil
	})
}

func (s *Service) apiDeliveries(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDeliveries {
			api.WriteError(w, r, errcode.BadRequest(fmt.Sprintf("limit must be 1..%d (got %q)", maxDeliveries, v)))
			return
		}
		limit = n
	}
	s.withApp(w, r, func(ctx context.Context, app string) error {
		entries, err := s.st.RecentOutbox(ctx, app, limit)
		if err != nil {
			return err
		}
		out := make([]Delivery, 0, len(entries))
		for _, e := range entries {
			out = append(out, toDelivery(e))
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"items": out})
		return nil
	})
}

func (s *Service) apiRedeliver(w http.ResponseWriter, r *http.Request) {
	s.withApp(w, r, func(ctx context.Context, app string) error {
		n := r.PathValue("noticeId")
		entries, err := s.Redeliver(ctx, app, n)
		if err != nil {
			return apiErr(err, fmt.Sprintf("notice %q", n))
		}
		out := make([]Delivery, 0, len(entries))
		for _, e := range entries {
			out = append(out, toDelivery(e))
		}
		s.log.Info("webhook notice redelivery requested", "app", app, "notice", n)
		api.WriteJSON(w, http.StatusOK, map[string]any{"items": out})
		return nil
	})
}

func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errcode.BadRequest("body: " + err.Error())
	}
	return nil
}
