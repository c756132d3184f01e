package bench

import (
	"fmt"
	"net/url"
	"strings"
)

// rtmpClientURL prepares an rtmp:// URL for gortmplib's client, which sends
// the whole path and query as the RTMP "app" unless the stream name is given
// as the URL fragment. Most servers (nginx-rtmp, SRS, ffmpeg, minirtc) expect
// the usual split: app = first path segment, stream name = the rest plus the
// query. A URL that already has a fragment is used as given.
func rtmpClientURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("RTMP URL %q: %w", raw, err)
	}
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return nil, fmt.Errorf("RTMP URL %q: scheme must be rtmp or rtmps", raw)
	}
	if u.Fragment != "" {
		return u, nil
	}
	p := strings.TrimPrefix(u.Path, "/")
	app, stream, ok := strings.Cut(p, "/")
	if !ok || app == "" || stream == "" {
		return nil, fmt.Errorf("RTMP URL %q: want rtmp://host[:port]/app/stream", raw)
	}
	if u.RawQuery != "" {
		stream += "?" + u.RawQuery
	}
	return &url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: "/" + app, Fragment: stream}, nil
}
