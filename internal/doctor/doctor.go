package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Severity grades a finding.
type Severity string

// The severities, from fine to broken. Only Fail makes minirtc doctor exit
// with status 1.
const (
	OK   Severity = "ok"
	Info Severity = "info" // nothing wrong; something to know or to enter somewhere
	Warn Severity = "warn" // works here, but breaks for some clients or later
	Fail Severity = "fail" // clients cannot work until it is fixed
)

// Finding is the result of one check: a stable ID (tests and scripts match
// on it), what was found and, unless it is OK, how to fix it.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	What     string   `json:"what"`
	Fix      string   `json:"fix,omitempty"`
}

// App is an app of the checked server. Certificate may be empty (the probe
// then joins with the appId as its key, which only a development app
// accepts). AllowNoToken is meaningful in Options.Apps, read from the
// server's data.
type App struct {
	ID           string
	Name         string
	Certificate  string
	AllowNoToken bool
}

// Options are the inputs of Run.
type Options struct {
	// URL is the base URL clients use: https://rtc.example.com (a path
	// prefix is kept for servers behind a proxy under a sub-path).
	URL string
	// RTMPPort is the RTMP port on URL's host (0: 1935).
	RTMPPort int
	// App is the app the WebRTC probe publishes with; nil skips the ICE
	// checks.
	App *App
	// Apps are all apps of a server whose data was readable (their
	// settings are known); empty when the server is remote.
	Apps []App
	// Timeout bounds each network step (0: 5 s).
	Timeout time.Duration
	// Roots verify the TLS chain (nil: the system's roots).
	Roots *x509.CertPool
	// Now is the local clock (nil: time.Now).
	Now func() time.Time
}

// Report is what Run found.
type Report struct {
	URL      string    `json:"url"`
	Findings []Finding `json:"findings"`
}

// Count is the number of findings of severity s.
func (r Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Find returns the finding with id.
func (r Report) Find(id string) (Finding, bool) {
	for _, f := range r.Findings {
		if f.ID == id {
			return f, true
		}
	}
	return Finding{}, false
}

// target is the server being checked, as every check needs it.
type target struct {
	base     *url.URL // scheme://host[:port][/prefix], no trailing slash
	host     string   // host name or IP, no brackets
	port     string   // explicit or the scheme's default
	ips      []net.IP // host's addresses
	loopback bool     // every address is a loopback address
	public   bool     // some address is a public (global, non-private) one
	http     *http.Client
	o        Options
	// appIDAccepted is whether the ICE probe's appId-as-token publish was
	// accepted (nil: it used a signed token or did not run).
	appIDAccepted *bool
}

func (t *target) endpoint(path string) string {
	return strings.TrimSuffix(t.base.String(), "/") + path
}

func (t *target) now() time.Time {
	if t.o.Now != nil {
		return t.o.Now()
	}
	return time.Now()
}

// step is a context bounded by the per-step timeout.
func (t *target) step(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, t.o.Timeout)
}

// ParseURL checks a --url value: http or https, a host, nothing else.
func ParseURL(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: want http:// or https://", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("URL %q: no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("URL %q: give only scheme://host[:port][/path]", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Run checks the deployment at o.URL. The error is only for an unusable
// URL; everything found about the server is a finding.
func Run(ctx context.Context, o Options) (Report, error) {
	t, rep, err := prepare(ctx, o)
	if err != nil || t == nil {
		return rep, err
	}
	defer t.http.CloseIdleConnections()
	add := func(fs ...Finding) { rep.Findings = append(rep.Findings, fs...) }
	add(checkTLS(ctx, t)...)
	health, date := checkHealth(ctx, t)
	add(health...)
	add(checkClock(date))
	add(checkAllocation(ctx, t))
	add(checkWebSocket(ctx, t))
	add(checkRTMP(ctx, t))
	add(checkICE(ctx, t)...)
	add(checkAppToken(ctx, t))
	return rep, nil
}

// prepare parses the URL, checks the domain and resolves the host. The
// target is nil when the host does not resolve (the report says so).
func prepare(ctx context.Context, o Options) (*target, Report, error) {
	u, err := ParseURL(o.URL)
	if err != nil {
		return nil, Report{}, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.RTMPPort == 0 {
		o.RTMPPort = 1935
	}
	rep := Report{URL: u.String()}
	t := &target{base: u, host: u.Hostname(), port: u.Port(), o: o}
	if t.port == "" {
		t.port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	rep.Findings = append(rep.Findings, checkDomain(t)...)
	if f, ok := resolve(ctx, t); !ok {
		rep.Findings = append(rep.Findings, f)
		return nil, rep, nil
	}
	// The TLS check records what is wrong with the certificate; the other
	// checks then go on regardless of it, to find everything at once.
	t.http = &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // verified by checkTLS
			Proxy:               nil,                                   // direct, as phones connect
			TLSHandshakeTimeout: o.Timeout,
		},
		Timeout: 2 * o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return t, rep, nil
}

// resolve looks the host up and classifies its addresses.
func resolve(ctx context.Context, t *target) (Finding, bool) {
	if ip := net.ParseIP(t.host); ip != nil {
		t.ips = []net.IP{ip}
	} else {
		ctx, cancel := t.step(ctx)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, t.host)
		if err != nil || len(addrs) == 0 {
			if err == nil {
				err = errors.New("no address")
			}
			return Finding{ID: "dns", Severity: Fail,
				What: fmt.Sprintf("%s does not resolve: %v", t.host, err),
				Fix:  "create an A (and AAAA) record for " + t.host + " pointing at the server's public IP, or fix the name in --url"}, false
		}
		for _, a := range addrs {
			t.ips = append(t.ips, a.IP)
		}
	}
	t.loopback = true
	for _, ip := range t.ips {
		if !ip.IsLoopback() {
			t.loopback = false
		}
		if isPublic(ip) {
			t.public = true
		}
	}
	return Finding{}, true
}

// cgnat is the carrier-grade NAT range (RFC 6598), private in practice.
var cgnat = &net.IPNet{IP: net.IPv4(100, 64, 0, 0), Mask: net.CIDRMask(10, 32)}

// isPublic reports whether ip is routable on the internet (not private,
// loopback, link-local, CGNAT or unspecified).
func isPublic(ip net.IP) bool {
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !cgnat.Contains(ip)
}

// ipList prints ips as "a, b".
func ipList(ips []net.IP) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}
