package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxAllocation bounds the allocation answer read; it is a few hundred bytes.
const maxAllocation = 64 << 10

// AllocateRequest is what the SDK sends to the allocation endpoint
// (protocol 2.1).
type AllocateRequest struct {
	AppID, Channel, UID string
	SID                 string // default: NewSID()
}

// Server is one entry of an allocation's server list.
type Server struct {
	Address string `json:"address"`
	WS      int    `json:"ws"`
}

// Allocation is the allocation endpoint's answer (protocol 2.3).
type Allocation struct {
	VID     string // the vid, as the SDK sends it back in join
	Servers []Server
}

// Allocate POSTs the SDK's allocation request to apURL (the server's
// /api/v1, see APURL) and checks the answer has what the SDK needs: a
// json_body string holding vid and a servers array. hc nil uses
// http.DefaultClient.
func Allocate(ctx context.Context, hc *http.Client, apURL string, r AllocateRequest) (Allocation, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	if r.SID == "" {
		r.SID = NewSID()
	}
	inner, _ := json.Marshal(map[string]any{
		"command": "convergeAllocateEdge", "sid": r.SID, "appId": r.AppID, "token": r.AppID,
		"uid": r.UID, "cname": r.Channel, "ts": time.Now().Unix(), "version": "1.1.0", "seq": 0, "requestId": 1,
	})
	body, _ := json.Marshal(map[string]any{"service_name": "miniapp", "json_body": string(inner)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apURL, bytes.NewReader(body))
	if err != nil {
		return Allocation{}, fmt.Errorf("allocate: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Packet-URI", "61")
	req.Header.Set("X-Packet-Service-Type", "0")
	resp, err := hc.Do(req)
	if err != nil {
		return Allocation{}, fmt.Errorf("allocate: %w", err)
	}
	defer func() { _ = resp.Body.Close() }() // read side: nothing to report
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAllocation))
	if err != nil {
		return Allocation{}, fmt.Errorf("allocate: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Allocation{}, fmt.Errorf("allocate: HTTP %s", resp.Status)
	}
	var outer struct {
		JSONBody string `json:"json_body"`
	}
	if err := json.Unmarshal(data, &outer); err != nil {
		return Allocation{}, fmt.Errorf("allocate: answer: %w", err)
	}
	var ans struct {
		VID     json.RawMessage `json:"vid"`
		Servers []Server        `json:"servers"`
	}
	if err := json.Unmarshal([]byte(outer.JSONBody), &ans); err != nil || len(ans.VID) == 0 || ans.Servers == nil {
		return Allocation{}, fmt.Errorf("allocate: answer lacks json_body.vid or servers: %.200s", data)
	}
	return Allocation{VID: strings.Trim(string(ans.VID), `"`), Servers: ans.Servers}, nil
}

// WSURL maps a server's http(s) base URL to its gateway WebSocket URL
// (ws(s)://host/api).
func WSURL(base string) (string, error) {
	return endpoint(base, "/api", map[string]string{"http": "ws", "https": "wss"})
}

// APURL maps a server's http(s) base URL to its allocation URL
// (http(s)://host/api/v1).
func APURL(base string) (string, error) {
	return endpoint(base, "/api/v1", map[string]string{"http": "http", "https": "https"})
}

func endpoint(base, path string, schemes map[string]string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("server URL %q: %w", base, err)
	}
	s, ok := schemes[u.Scheme]
	if !ok {
		return "", fmt.Errorf("server URL %q: want http:// or https://", base)
	}
	u.Scheme = s
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	return u.String(), nil
}
