package webrtc

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/minirtc/minirtc/internal/token"
)

// chunkedBody hides its length from net/http, so the request is sent
// chunked, without Content-Length.
type chunkedBody struct{ io.Reader }

// TestWHIPBodyLimits: an offer over 64 KiB and a PATCH fragment over
// 16 KiB are refused with 413 and a reason naming the limit, whether the
// size is announced (Content-Length) or only found while reading; the
// session stays usable.
func TestWHIPBodyLimits(t *testing.T) {
	e := newEnv(t)
	tok := e.token("room", "79", token.RolePublisher)
	big := "v=0\r\n" + strings.Repeat("a=x-pad:"+strings.Repeat("p", 100)+"\r\n", 1000) // ~110 KB
	do := func(method, path, ctype string, body io.Reader, auth bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, e.http.URL+path, body)
		req.Header.Set("Content-Type", ctype)
		if auth {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r struct{ Reason string }
		_ = json.NewDecoder(resp.Body).Decode(&r)
		return resp.StatusCode, r.Reason
	}
	path := "/whip/" + e.app.ID + "/room/79"
	for _, tc := range []struct {
		name string
		body io.Reader
	}{
		{"announced", strings.NewReader(big)},
		{"chunked", chunkedBody{strings.NewReader(big)}},
	} {
		status, reason := do("POST", path, "application/sdp", tc.body, true)
		if status != http.StatusRequestEntityTooLarge || !strings.Contains(reason, "larger than 65536 bytes") {
			t.Errorf("%s oversized offer: %d %q, want 413 naming the limit", tc.name, status, reason)
		}
	}

	c := newWHIPClient(t)
	defer c.pc.Close()
	status, body, loc := e.post("whip", "room", "79", tok, offer(t, c.pc))
	if status != http.StatusCreated {
		t.Fatalf("WHIP after the refusals: %d %s", status, body)
	}
	frag := strings.Repeat("a=x-pad:"+strings.Repeat("p", 100)+"\r\n", 200) // ~22 KB
	for _, tc := range []struct {
		name string
		body io.Reader
	}{
		{"announced", strings.NewReader(frag)},
		{"chunked", chunkedBody{strings.NewReader(frag)}},
	} {
		status, reason := do("PATCH", loc, sdpfragType, tc.body, false)
		if status != http.StatusRequestEntityTooLarge || !strings.Contains(reason, "larger than 16384 bytes") {
			t.Errorf("%s oversized fragment: %d %q, want 413 naming the limit", tc.name, status, reason)
		}
	}
	restart := "a=ice-ufrag:zzzz\r\na=ice-pwd:yyyyyyyyyyyyyyyyyyyyyy\r\n"
	if got := e.patch(loc, sdpfragType, restart); got != http.StatusOK {
		t.Fatalf("ICE restart after the refusals: %d", got)
	}
}
