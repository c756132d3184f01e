package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/minirtc/minirtc/internal/store"
)

// SocketName is the control socket's file name inside the data directory.
const SocketName = "minirtc.sock"

// SocketPath is the control socket of the node whose data directory is dataDir.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// CreateRequest is the body of POST /v1/apps.
type CreateRequest struct {
	Name     string            `json:"name"`
	Settings store.AppSettings `json:"settings"`
}

// errorBody is every error answer: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

// Info describes the running node to the CLI (minirtc url builds URLs from it).
type Info struct {
	Version    string `json:"version"`
	HTTPAddr   string `json:"httpAddr"`   // bound address, e.g. 127.0.0.1:8080 or [::]:8080
	RTMPAddr   string `json:"rtmpAddr"`   // bound address
	TLS        bool   `json:"tls"`        // the HTTP port speaks HTTPS
	PublicHost string `json:"publicHost"` // publicHost from the configuration, may be empty
}

// Handler serves the control API over st:
//
//	GET  /v1/node               the node's Info
//	GET  /v1/apps               every app
//	POST /v1/apps               create one (CreateRequest), 201 with the app
//	POST /v1/apps/{id}/enable   enable, 200 with the app
//	POST /v1/apps/{id}/disable  disable, 200 with the app
//	... and the API key routes of apikeys.go, the webhook routes of webhooks.go
//
// Changes go straight to the store, which every join and media connection
// reads, so they take effect for the next request.
func Handler(st store.Store, info func() Info, log *slog.Logger) http.Handler {
	h := &handler{st: st, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/node", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, info()) })
	mux.HandleFunc("GET /v1/apps", h.list)
	mux.HandleFunc("POST /v1/apps", h.create)
	mux.HandleFunc("POST /v1/apps/{id}/enable", h.setEnabled(true))
	mux.HandleFunc("POST /v1/apps/{id}/disable", h.setEnabled(false))
	mux.HandleFunc("GET /v1/apikeys", h.listKeys)
	mux.HandleFunc("POST /v1/apikeys", h.createKey)
	mux.HandleFunc("DELETE /v1/apikeys/{id}", h.deleteKey)
	h.webhookRoutes(mux)
	return mux
}

type handler struct {
	st  store.Store
	log *slog.Logger
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	apps, err := h.st.Apps(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if apps == nil {
		apps = []store.App{}
	}
	writeJSON(w, http.StatusOK, apps)
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return
	}
	a, err := store.NewApp(req.Name, time.Now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	a.Settings = req.Settings
	if err := store.ValidateApp(a); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := h.st.PutApp(r.Context(), a); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	h.log.Info("app created over the control socket", "app", a.ID, "name", a.Name)
	writeJSON(w, http.StatusCreated, a)
}

func (h *handler) setEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		a, err := h.st.App(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusNotFound, fmt.Errorf("no app with id %s (see minirtc app list)", id))
			return
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		a.Enabled = enabled
		if err := h.st.PutApp(r.Context(), a); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		h.log.Info("app changed over the control socket", "app", a.ID, "enabled", enabled)
		writeJSON(w, http.StatusOK, a)
	}
}

// writeJSON marshals v before writing the status, so a value that cannot be
// encoded is a 500, not a 200 with half a body. A failed write means the
// client went away: there is nobody left to tell.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "control: encode reply: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, errorBody{Error: err.Error()})
}

// Listen opens the control socket at path with mode 0600. A stale socket
// file left by a process that died is replaced; a live one (another server
// on the same data directory) is an error.
func Listen(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = c.Close() // a probe: only whether someone listens mattered
		return nil, fmt.Errorf("control: %s is served by another minirtc process", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control: remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close() // already failing with the chmod error
		return nil, fmt.Errorf("control: chmod %s: %w", path, err)
	}
	return ln, nil
}

// Serve serves h on ln until ctx is cancelled, then closes ln (which removes
// the socket file).
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close() // the grace period ran out: drop the connections left
		}
	})
	defer stop()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
