package cluster

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AuthHeader carries a node's credential on requests between nodes (relay
// pulls, forwarded signaling, forwarded API calls).
const AuthHeader = "X-Minirtc-Cluster"

// maxSkew is how far a credential's time may be from the receiver's clock.
const maxSkew = time.Minute

// ErrBadCredential is returned when a request between nodes carried no valid
// credential.
var ErrBadCredential = errors.New("cluster: missing or invalid node credential")

// Auth signs and checks requests between the nodes of a cluster with a
// secret they share (the store's "cluster" secret, in Redis). A credential
// names the sending node and a time, and is valid for a minute either way.
type Auth struct {
	secret []byte
	node   string
	now    func() time.Time
}

// NewAuth returns the authenticator of node with the cluster's secret.
func NewAuth(secret []byte, node string) (*Auth, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("cluster: the node secret must have at least 16 bytes, has %d", len(secret))
	}
	if node == "" || strings.ContainsAny(node, ": \t\n") {
		return nil, fmt.Errorf("cluster: bad node id %q", node)
	}
	return &Auth{secret: secret, node: node, now: time.Now}, nil
}

func (a *Auth) sign(node string, unix int64) string {
	m := hmac.New(sha256.New, a.secret)
	_, _ = fmt.Fprintf(m, "minirtc-cluster\n%s\n%d", node, unix)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Node is the id of the node this Auth signs for.
func (a *Auth) Node() string { return a.node }

// Credential is this node's credential for a request sent now.
func (a *Auth) Credential() string {
	unix := a.now().Unix()
	return a.node + ":" + strconv.FormatInt(unix, 10) + ":" + a.sign(a.node, unix)
}

// Sign adds this node's credential to h.
func (a *Auth) Sign(h http.Header) { h.Set(AuthHeader, a.Credential()) }

// Verify checks r's credential and returns the sending node's id.
func (a *Auth) Verify(r *http.Request) (string, error) {
	return a.VerifyCredential(r.Header.Get(AuthHeader))
}

// VerifyCredential checks a credential and returns the sending node's id.
func (a *Auth) VerifyCredential(c string) (string, error) {
	parts := strings.Split(c, ":")
	if len(parts) != 3 || parts[0] == "" {
		return "", ErrBadCredential
	}
	unix, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", ErrBadCredential
	}
	if d := a.now().Sub(time.Unix(unix, 0)); d > maxSkew || d < -maxSkew {
		return "", fmt.Errorf("%w: its time is %s off this node's clock", ErrBadCredential, d.Round(time.Second))
	}
	if !hmac.Equal([]byte(parts[2]), []byte(a.sign(parts[0], unix))) {
		return "", ErrBadCredential
	}
	return parts[0], nil
}
