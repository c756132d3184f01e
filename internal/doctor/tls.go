package doctor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"
)

// expiryWarning is how long before its expiry a certificate is reported.
const expiryWarning = 14 * 24 * time.Hour

const publicCertFix = "use a certificate from a public certificate authority for this name " +
	"(e.g. Let's Encrypt with certbot, or a proxy such as Caddy that obtains one), with its full chain " +
	"(--tls-cert fullchain.pem --tls-key privkey.pem, or in the proxy)"

// checkTLS checks the scheme and, for https, the certificate the server
// presents: a chain to a trusted root, for the host, not self-signed, not
// expiring within 14 days.
func checkTLS(ctx context.Context, t *target) []Finding {
	if t.base.Scheme != "https" {
		f := Finding{ID: "https", Severity: Warn,
			What: "plain http: WeChat mini programs call only https:// and wss:// addresses (http is fine on loopback for development, with domain checks off in the developer tools)",
			Fix:  "serve HTTPS: minirtc serve --tls-cert fullchain.pem --tls-key privkey.pem --http-addr :443, or a reverse proxy with a certificate in front; then check https://NAME"}
		return []Finding{f}
	}
	ctx, cancel := t.step(ctx)
	defer cancel()
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the chain is verified below, to report what is wrong
	if net.ParseIP(t.host) == nil {
		cfg.ServerName = t.host
	}
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.host, t.port))
	if err != nil {
		return []Finding{{ID: "https", Severity: Fail,
			What: fmt.Sprintf("no TLS handshake with %s: %v", net.JoinHostPort(t.host, t.port), err),
			Fix:  "make the port speak HTTPS (minirtc serve --tls-cert/--tls-key, or a TLS-terminating proxy), or check http:// if it is plain HTTP"}}
	}
	state := c.(*tls.Conn).ConnectionState()
	_ = c.Close()
	certs := state.PeerCertificates
	out := []Finding{{ID: "https", Severity: OK, What: "https (" + tls.VersionName(state.Version) + ")"}}
	if len(certs) == 0 {
		return append(out, Finding{ID: "tls-chain", Severity: Fail, What: "the server sent no certificate", Fix: publicCertFix})
	}
	leaf := certs[0]
	now := t.now()
	if selfSigned(leaf) {
		out = append(out, Finding{ID: "tls-self-signed", Severity: Fail,
			What: fmt.Sprintf("the certificate (%s) is self-signed: phones refuse it, so mini programs cannot connect", certName(leaf)),
			Fix:  publicCertFix})
	} else {
		out = append(out, Finding{ID: "tls-self-signed", Severity: OK, What: "the certificate is issued by " + leaf.Issuer.String()})
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{Roots: t.o.Roots, Intermediates: inter, CurrentTime: now})
		if err != nil {
			out = append(out, Finding{ID: "tls-chain", Severity: Fail,
				What: "the certificate chain does not verify: " + err.Error(),
				Fix:  "serve the full chain (the certificate followed by its intermediates, e.g. fullchain.pem, not cert.pem) of a public certificate authority; " + publicCertFix})
		} else {
			out = append(out, Finding{ID: "tls-chain", Severity: OK, What: "the certificate chain verifies"})
		}
	}
	if err := leaf.VerifyHostname(t.host); err != nil {
		out = append(out, Finding{ID: "tls-hostname", Severity: Fail,
			What: fmt.Sprintf("the certificate is not for %s: %v", t.host, err),
			Fix:  "get a certificate whose names include " + t.host + " (or a wildcard for its domain)"})
	} else {
		out = append(out, Finding{ID: "tls-hostname", Severity: OK, What: "the certificate covers " + t.host})
	}
	left := leaf.NotAfter.Sub(now)
	switch {
	case now.Before(leaf.NotBefore):
		out = append(out, Finding{ID: "tls-expiry", Severity: Fail,
			What: "the certificate is not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339) + " (or this clock is wrong)",
			Fix:  "check the clocks; get a certificate valid now"})
	case left <= 0:
		out = append(out, Finding{ID: "tls-expiry", Severity: Fail,
			What: "the certificate expired on " + leaf.NotAfter.UTC().Format(time.RFC3339),
			Fix:  "renew it and restart minirtc (it reads the certificate at start) or reload the proxy; automate renewal"})
	case left < expiryWarning:
		out = append(out, Finding{ID: "tls-expiry", Severity: Warn,
			What: fmt.Sprintf("the certificate expires in %s (%s)", left.Round(time.Hour), leaf.NotAfter.UTC().Format(time.RFC3339)),
			Fix:  "renew it now and restart minirtc (it reads the certificate at start) or reload the proxy; automate renewal"})
	default:
		out = append(out, Finding{ID: "tls-expiry", Severity: OK,
			What: fmt.Sprintf("the certificate is valid until %s", leaf.NotAfter.UTC().Format(time.RFC3339))})
	}
	return out
}

// selfSigned reports whether c names itself as issuer and its own key
// verifies its signature (whether or not it is marked as a CA).
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func certName(c *x509.Certificate) string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return c.Subject.String()
	}
	return strings.Join(names, ", ")
}
