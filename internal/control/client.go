package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/minirtc/minirtc/internal/store"
)

// ErrNoServer means no server answers on the data directory's control socket
// (none runs there): the caller may open the store itself.
var ErrNoServer = errors.New("control: no running server")

// Client talks to a running node over its control socket.
type Client struct {
	http *http.Client
}

// Dial connects to the control socket of the server using dataDir. It
// returns ErrNoServer when there is no socket or nobody listens on it.
func Dial(ctx context.Context, dataDir string) (*Client, error) {
	path := SocketPath(dataDir)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, ErrNoServer
		}
		return nil, fmt.Errorf("control: %w", err)
	}
	_ = c.Close() // a probe: only whether someone listens mattered
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
}

// Close releases the client's idle connection to the socket.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Node describes the running node.
func (c *Client) Node(ctx context.Context) (Info, error) {
	var i Info
	return i, c.do(ctx, http.MethodGet, "/v1/node", nil, &i)
}

// Apps lists the apps.
func (c *Client) Apps(ctx context.Context) ([]store.App, error) {
	var apps []store.App
	return apps, c.do(ctx, http.MethodGet, "/v1/apps", nil, &apps)
}

// CreateApp creates an app.
func (c *Client) CreateApp(ctx context.Context, req CreateRequest) (store.App, error) {
	var a store.App
	return a, c.do(ctx, http.MethodPost, "/v1/apps", req, &a)
}

// SetEnabled enables or disables the app with id.
func (c *Client) SetEnabled(ctx context.Context, id string, enabled bool) (store.App, error) {
	verb := "disable"
	if enabled {
		verb = "enable"
	}
	var a store.App
	return a, c.do(ctx, http.MethodPost, "/v1/apps/"+id+"/"+verb, nil, &a)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://minirtc"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	defer func() { _ = resp.Body.Close() }() // read side: nothing to report
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e errorBody
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("control: %s %s: %s", method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}
