package errcode

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCatalogue(t *testing.T) {
	cases := []struct {
		name   string
		err    *Error
		code   int
		msg    string
		status int
		rejoin bool
	}{
		{"vendor", InvalidVendorKey("app x is disabled"), 401, "invalid vendor key: app x is disabled", 401, false},
		{"malformed", MalformedToken(), 401, "invalid key: malformed token", 401, false},
		{"app-mismatch", TokenAppMismatch(), 401, "invalid key: token app id does not match", 401, false},
		{"signature", SignatureMismatch(), 401, "invalid key: signature mismatch", 401, false},
		{"expired", KeyExpired(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)), 401, "dynamic key expired: expired at 2026-11-25T10:00:00Z", 401, false},
		{"channel", TokenWrongChannel(), 401, "invalid key: token is for another channel", 401, false},
		{"uid", TokenWrongUID(), 401, "invalid key: token is for another uid", 401, false},
		{"publish-priv", NoPublishPrivilege(), 433, "no authorized: token lacks publish privilege", 403, false},
		{"bad-uid", InvalidUID(`uid must be an unsigned 32-bit integer (got "abc")`), 430, `invalid uid: uid must be an unsigned 32-bit integer (got "abc")`, 400, false},
		{"bad-channel", InvalidChannelName("too long"), 430, "invalid channel name: too long", 400, false},
		{"full", TooManyUsers(""), 433, "too many users", 403, false},
		{"conflict", UIDConflict(), 433, "uid conflict: the same uid joined from another connection", 403, false},
		{"rate", TooManyRequests("20/s"), 429, "too many requests: 20/s", 429, false},
		{"bad-request", BadRequest(`unknown action "x"`), 430, `bad request: unknown action "x"`, 400, false},
		{"role", BadRole("want broadcaster or audience"), 431, "invalid role: want broadcaster or audience", 400, false},
		{"not-publishing", NotPublishing("uid 9 is not publishing in this channel"), 432, "not publishing: uid 9 is not publishing in this channel", 404, false},
		{"internal", Internal(errors.New("disk on fire")), 500, "internal error", 500, true},
		{"lost", ServiceLost("node draining: rejoin"), 501, "service lost: node draining: rejoin", 503, true},
		{"overload", Overloaded(""), 502, "vendor over load", 503, true},
		{"exited", ServiceExited(""), 503, "service exited", 503, false},
		{"codec", CodecNotAcceptable("offer H.264"), 430, "codec not acceptable: offer H.264", 406, false},
		{"http-conflict", Conflict("uid 3 already publishes"), 433, "conflict: uid 3 already publishes", 409, false},
		{"not-found", NotFound("no stream"), 432, "not found: no stream", 404, false},
		{"banned", Banned("by rule 3"), 433, "banned: by rule 3", 403, false},
		{"stream-busy", StreamBusy("uid 3 is publishing"), 433, "stream already published: uid 3 is publishing", 409, false},
		{"publish-needs-uid", PublishNeedsUID("token names no uid"), 433, "no authorized: token names no uid", 403, false},
		{"cluster", ClusterUnavailable("the cluster store cannot be reached"), 502, "cluster unavailable: the cluster store cannot be reached", 503, true},
		{"no-candidates", NoICECandidates("set webrtc.udpAddr"), 500, "service unavailable: set webrtc.udpAddr", 503, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.err.Code != c.code || c.err.Message() != c.msg || c.err.HTTPStatus() != c.status || c.err.Rejoin != c.rejoin {
				t.Fatalf("got %d %q %d rejoin=%v", c.err.Code, c.err.Message(), c.err.HTTPStatus(), c.err.Rejoin)
			}
			if http.StatusText(c.err.HTTPStatus()) == "" {
				t.Fatalf("bad HTTP status %d", c.err.HTTPStatus())
			}
		})
	}
}

func TestInternalHidesCause(t *testing.T) {
	e := From(fmt.Errorf("store: load: %w", errors.New("secret path /x")))
	if e.Code != CodeInternal || strings.Contains(e.Message(), "secret") {
		t.Fatalf("internal error leaks its cause: %q", e.Message())
	}
	if !strings.Contains(e.Error(), "secret path") {
		t.Fatal("cause missing from the log form")
	}
	wrapped := fmt.Errorf("gateway: join: %w", SignatureMismatch())
	if got := From(wrapped); got.Message() != "invalid key: signature mismatch" {
		t.Fatalf("From lost the catalogue error: %v", got)
	}
	if !errors.Is(wrapped, SignatureMismatch()) || errors.Is(wrapped, TokenWrongUID()) {
		t.Fatal("errors.Is does not match on code and reason")
	}
	if From(nil) != nil {
		t.Fatal("From(nil) != nil")
	}
}

// The official SDK stops reconnecting on these exact reasons, so their
// spelling is part of the protocol; the generated catalogue page
// (docs/error-codes.md) must list the same strings.
func TestNoReconnectReasons(t *testing.T) {
	reasons := []string{ReasonInvalidKey, ReasonKeyExpired, ReasonKeyTimeout, ReasonInvalidUID,
		ReasonInvalidChannelName, ReasonNoAuthorized, ReasonTooManyUsers, ReasonVendorOverload,
		ReasonNoChannel, ReasonServiceUnavailable, ReasonInternal, ReasonNoActiveStatus, ReasonMasterAvailable}
	want := "`invalid key`, `dynamic key expired`, `dynamic key timeout`, `invalid uid`, `invalid channel name`, `no authorized`, `too many users`, `vendor over load`, `no channel`, `service unavailable`, `internal error`, `no active status`, `master available`"
	var quoted []string
	for _, r := range reasons {
		quoted = append(quoted, "`"+r+"`")
	}
	if got := strings.Join(quoted, ", "); got != want {
		t.Fatalf("reasons:\n got %s\nwant %s", got, want)
	}
	doc, err := os.ReadFile("../../docs/error-codes.md")
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(string(doc)), " ")
	if !strings.Contains(flat, want) {
		t.Fatal("error-codes.md lists other no-reconnect reasons than errcode")
	}
	for _, r := range []string{"uid conflict: the same uid joined from another connection", "no authorized: token lacks publish privilege", "invalid key: malformed token", "invalid key: signature mismatch"} {
		if !strings.Contains(flat, r) {
			t.Errorf("error-codes.md lacks %q", r)
		}
	}
}

func TestLeaveReasons(t *testing.T) {
	for r, want := range map[LeaveReason]string{LeaveNormal: "normal", LeaveTimeout: "timeout", LeaveKicked: "kicked",
		LeaveDrain: "drain", LeaveUIDConflict: "uid-conflict", LeaveMultipleIPs: "multiple-ips", LeaveNetwork: "network", LeaveOther: "other"} {
		if r.String() != want {
			t.Errorf("%d: %s", int(r), r)
		}
	}
}
