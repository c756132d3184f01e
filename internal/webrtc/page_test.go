package webrtc

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The old test page redirects to the demo page with the client's query,
// whatever that query holds: the Location stays the demo path on this
// origin (no other scheme, host or path through the query), and a request
// trying to split the response never gets a redirect; the HTML body of
// the 301 escapes the query.
func TestPageRedirectStaysOnDemo(t *testing.T) {
	e := newEnv(t)
	base, err := url.Parse(e.http.URL)
	if err != nil {
		t.Fatal(err)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	queries := []string{
		"",
		"app=a1&channel=room&pub=5&ptoken=t%2B1",
		"//evil.example/x",
		"next=https://evil.example/",
		"@evil.example",
		"/../../evil",
		"%2F%2Fevil.example",
		"x=%0d%0aSet-Cookie:%20a=1",
		`"><script>alert(1)</script>`,
		"\\\\evil.example",
	}
	for _, q := range queries {
		for _, path := range []string{"/webrtc/", "/webrtc/index.html"} {
			target := e.http.URL + path
			if q != "" {
				target += "?" + q
			}
			resp, err := noFollow.Get(target)
			if err != nil {
				// The client refuses to send some of these (a space, a
				// quote); nothing reached the server.
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if strings.Contains(string(body), "<script>") {
				t.Errorf("GET %s?%s: the redirect body carries the query unescaped: %s", path, q, body)
			}
			if resp.StatusCode == http.StatusBadRequest {
				continue // the server refused the request line
			}
			if resp.StatusCode != http.StatusMovedPermanently {
				t.Errorf("GET %s?%s: %d", path, q, resp.StatusCode)
				continue
			}
			loc := resp.Header.Get("Location")
			if strings.ContainsAny(loc, "\r\n") || len(resp.Header.Values("Set-Cookie")) > 0 {
				t.Errorf("GET %s?%s: Location %q split the response", path, q, loc)
			}
			u, err := base.Parse(loc)
			if err != nil {
				t.Errorf("GET %s?%s: Location %q: %v", path, q, loc, err)
				continue
			}
			if u.Scheme != base.Scheme || u.Host != base.Host || u.Path != demoPath || !strings.HasPrefix(loc, demoPath) {
				t.Errorf("GET %s?%s: Location %q leaves the demo page (%s://%s%s)", path, q, loc, u.Scheme, u.Host, u.Path)
			}
			if u.RawQuery != resp.Request.URL.RawQuery {
				t.Errorf("GET %s?%s: Location %q does not carry the query %q", path, q, loc, resp.Request.URL.RawQuery)
			}
		}
	}
}
