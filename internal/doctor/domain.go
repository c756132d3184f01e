package doctor

import (
	"fmt"
	"net"
	"strings"
)

// checkDomain checks that WeChat will accept the URL's host and port in a
// mini program's server domain lists, and says what to enter there.
func checkDomain(t *target) []Finding {
	host := t.host
	if ip := net.ParseIP(host); ip != nil {
		return []Finding{{ID: "domain-name", Severity: Fail,
			What: fmt.Sprintf("the URL names an IP address (%s): WeChat accepts only domain names in a mini program's server domain lists", host),
			Fix:  "point a domain name (A/AAAA record) at the server, get a certificate for it and check https://NAME"}}
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || !strings.Contains(host, ".") {
		return []Finding{{ID: "domain-name", Severity: Fail,
			What: fmt.Sprintf("%s is not a public domain name: WeChat accepts only registered domain names", host),
			Fix:  "use the server's public domain name in --url (e.g. https://rtc.example.com)"}}
	}
	out := []Finding{{ID: "domain-name", Severity: OK, What: host + " is a domain name"}}
	hostPort := host
	if p := t.base.Port(); p != "" {
		hostPort = net.JoinHostPort(host, p)
	}
	if t.base.Scheme == "https" && t.port != "443" {
		out = append(out, Finding{ID: "domain-port", Severity: Warn,
			What: fmt.Sprintf("port %s: WeChat then accepts only requests that name exactly this port, and networks that allow only 443 block it", t.port),
			Fix:  fmt.Sprintf("serve HTTPS on 443 (minirtc serve --http-addr :443, or a proxy on 443); otherwise enter the port in both domain lists (https://%s, wss://%s)", hostPort, hostPort)})
	}
	prefix := strings.TrimSuffix(t.base.Path, "/")
	out = append(out, Finding{ID: "wechat-domains", Severity: Info,
		What: fmt.Sprintf("WeChat admin console (mp.weixin.qq.com → Development → Development Settings → Server Domain): request domain https://%s, socket domain wss://%s; SDK: apUrl https://%s%s/api/v1, servers [wss://%s%s/api]",
			hostPort, hostPort, hostPort, prefix, hostPort, prefix)})
	return out
}
