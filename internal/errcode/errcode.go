package errcode

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Codes the mini program sees (error-codes.md, "Codes the mini program sees").
const (
	CodeOK               = 200
	CodeVendorKey        = 401 // request refused: app not enabled / invalid vendor key / invalid token
	CodeTooManyRequests  = 429
	CodeBadRequest       = 430
	CodeBadRole          = 431
	CodeNotPublishing    = 432
	CodeRefused          = 433
	CodeSetRoleError     = 434
	CodeInternal         = 500
	CodeServiceLost      = 501
	CodeOverloaded       = 502
	CodeServiceExited    = 503
	CodeAllocationFailed = 901 // raised by the SDK, never by the server
	CodeRequestTimeout   = 903 // raised by the SDK
	CodeSocketLost       = 904 // raised by the SDK
	CodeConnectFailed    = 905 // raised by the SDK
	codeNoReplyRequestID = 902 // raised by the SDK
	_                    = codeNoReplyRequestID
)

// Catalogue reasons. The ones the official SDK treats as "do not reconnect" are
// spelled exactly as it expects; details are appended after ": ".
const (
	ReasonInvalidKey         = "invalid key"
	ReasonKeyExpired         = "dynamic key expired"
	ReasonKeyTimeout         = "dynamic key timeout"
	ReasonInvalidUID         = "invalid uid"
	ReasonInvalidChannelName = "invalid channel name"
	ReasonNoAuthorized       = "no authorized"
	ReasonTooManyUsers       = "too many users"
	ReasonVendorOverload     = "vendor over load"
	ReasonNoChannel          = "no channel"
	ReasonServiceUnavailable = "service unavailable"
	ReasonInternal           = "internal error"
	ReasonNoActiveStatus     = "no active status"
	ReasonMasterAvailable    = "master available"

	ReasonInvalidVendorKey = "invalid vendor key"
	ReasonTooManyRequests  = "too many requests"
	ReasonBadRequest       = "bad request"
	ReasonBadRole          = "invalid role"
	ReasonNotPublishing    = "not publishing"
	ReasonUIDConflict      = "uid conflict"
	ReasonServiceLost      = "service lost"
	ReasonOverloaded       = "server overloaded"
	ReasonServiceExited    = "service exited"
	ReasonNotFound         = "not found"
	ReasonCodecRejected    = "codec not acceptable"
	ReasonConflict         = "conflict"
	ReasonBanned           = "banned"
	ReasonStreamBusy       = "stream already published"
	// ReasonClusterUnavailable: the cluster cannot place or reach the
	// channel right now (its store or the owning node is unreachable).
	ReasonClusterUnavailable = "cluster unavailable"
)

// Error is a catalogue error: what a client sees, plus an optional wrapped cause
// that is logged but never sent.
type Error struct {
	Code   int    // catalogue code (401, 430, ...)
	Reason string // catalogue reason, one of the Reason* constants
	Detail string // what exactly went wrong and how to fix it; may be empty
	Rejoin bool   // the client should destroy, create a new client and rejoin
	Status int    // HTTP status for HTTP surfaces (0 = derive from Code)
	Err    error  // cause, for logs only
}

// Message is the reason string sent to clients: "reason" or "reason: detail".
func (e *Error) Message() string {
	if e.Detail == "" {
		return e.Reason
	}
	return e.Reason + ": " + e.Detail
}

// Error implements error.
func (e *Error) Error() string {
	msg := fmt.Sprintf("%d %s", e.Code, e.Message())
	if e.Err != nil {
		msg += " (" + e.Err.Error() + ")"
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is a catalogue error with the same code and reason,
// so callers can write errors.Is(err, errcode.SignatureMismatch()).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Reason == e.Reason && (t.Detail == "" || t.Detail == e.Detail)
}

// WithCause returns a copy of e that wraps cause.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// HTTPStatus is the HTTP status that fits e on HTTP surfaces (REST, WHIP/WHEP, FLV).
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	switch e.Code {
	case CodeVendorKey:
		return http.StatusUnauthorized
	case CodeTooManyRequests:
		return http.StatusTooManyRequests
	case CodeBadRequest, CodeBadRole, CodeSetRoleError:
		return http.StatusBadRequest
	case CodeNotPublishing:
		return http.StatusNotFound
	case CodeRefused:
		return http.StatusForbidden
	case CodeServiceLost, CodeOverloaded, CodeServiceExited:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// As finds the catalogue error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// From returns the catalogue error in err's chain, or an internal error that
// wraps err (its text is never shown to clients). From(nil) is nil.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	if e, ok := As(err); ok {
		return e
	}
	return Internal(err)
}

func newErr(code int, reason, detail string) *Error {
	return &Error{Code: code, Reason: reason, Detail: detail}
}

// InvalidVendorKey builds the error for: unknown or disabled appId (401).
func InvalidVendorKey(detail string) *Error {
	return newErr(CodeVendorKey, ReasonInvalidVendorKey, detail)
}

// MalformedToken builds the error for: the token is not a decodable 006/007 token (401).
func MalformedToken() *Error { return newErr(CodeVendorKey, ReasonInvalidKey, "malformed token") }

// TokenAppMismatch builds the error for: the token was built for another appId (401).
func TokenAppMismatch() *Error {
	return newErr(CodeVendorKey, ReasonInvalidKey, "token app id does not match")
}

// SignatureMismatch builds the error for: the token's signature does not verify with the app certificate (401).
func SignatureMismatch() *Error { return newErr(CodeVendorKey, ReasonInvalidKey, "signature mismatch") }

// TokenWrongChannel builds the error for: the token names another channel (401).
func TokenWrongChannel() *Error {
	return newErr(CodeVendorKey, ReasonInvalidKey, "token is for another channel")
}

// TokenWrongUID builds the error for: the token names another uid (401).
func TokenWrongUID() *Error {
	return newErr(CodeVendorKey, ReasonInvalidKey, "token is for another uid")
}

// InvalidKey builds the error for: any other key refusal (401), e.g. a token sent to an app without certificate.
func InvalidKey(detail string) *Error { return newErr(CodeVendorKey, ReasonInvalidKey, detail) }

// KeyExpired builds the error for: the token or its join privilege expired at the given instant (401).
func KeyExpired(at time.Time) *Error {
	return newErr(CodeVendorKey, ReasonKeyExpired, "expired at "+at.UTC().Format(time.RFC3339))
}

// NoPublishPrivilege builds the error for: the token lacks the publish privileges (433).
func NoPublishPrivilege() *Error {
	return newErr(CodeRefused, ReasonNoAuthorized, "token lacks publish privilege")
}

// NoAuthorized builds the error for: an action the member's role or token does not allow (433).
func NoAuthorized(detail string) *Error { return newErr(CodeRefused, ReasonNoAuthorized, detail) }

// InvalidUID builds the error for: the uid is not acceptable (430).
func InvalidUID(detail string) *Error { return newErr(CodeBadRequest, ReasonInvalidUID, detail) }

// InvalidChannelName builds the error for: the channel name is not acceptable (430).
func InvalidChannelName(detail string) *Error {
	return newErr(CodeBadRequest, ReasonInvalidChannelName, detail)
}

// BadRequest builds the error for: malformed message, unknown action or bad field (430).
func BadRequest(detail string) *Error { return newErr(CodeBadRequest, ReasonBadRequest, detail) }

// BadRole builds the error for: setRole argument other than broadcaster/audience (431).
func BadRole(detail string) *Error { return newErr(CodeBadRole, ReasonBadRole, detail) }

// SetRoleRefused builds the error for: a role change that is not allowed now (434).
func SetRoleRefused(detail string) *Error {
	return newErr(CodeSetRoleError, ReasonNoAuthorized, detail)
}

// NotPublishing builds the error for: subscribe to a uid that has no stream (432).
func NotPublishing(detail string) *Error {
	return newErr(CodeNotPublishing, ReasonNotPublishing, detail)
}

// TooManyUsers builds the error for: the channel is full (433).
func TooManyUsers(detail string) *Error { return newErr(CodeRefused, ReasonTooManyUsers, detail) }

// TooManyRequests builds the error for: a rate limit was hit (429).
func TooManyRequests(detail string) *Error {
	return newErr(CodeTooManyRequests, ReasonTooManyRequests, detail)
}

// UIDConflict builds the error for: pushed to the old connection when the same uid joined elsewhere (433).
func UIDConflict() *Error {
	return newErr(CodeRefused, ReasonUIDConflict, "the same uid joined from another connection")
}

// Refused builds the error for: any other refusal with code 433 and a catalogue reason.
func Refused(reason, detail string) *Error { return newErr(CodeRefused, reason, detail) }

// Banned builds the error for: the client is banned by a server rule (433; HTTP 403).
func Banned(detail string) *Error {
	e := newErr(CodeRefused, ReasonBanned, detail)
	e.Status = http.StatusForbidden
	return e
}

// Internal builds the error for: an unexpected server fault (500). The cause is logged, never sent.
func Internal(cause error) *Error {
	e := newErr(CodeInternal, ReasonInternal, "")
	e.Rejoin = true
	e.Err = cause
	return e
}

// ServiceLost builds the error for: the node is going away or the session moved; rejoin (501).
func ServiceLost(detail string) *Error {
	e := newErr(CodeServiceLost, ReasonServiceLost, detail)
	e.Rejoin = true
	return e
}

// Overloaded builds the error for: the node is over capacity; rejoin, maybe elsewhere (502).
func Overloaded(detail string) *Error {
	e := newErr(CodeOverloaded, ReasonVendorOverload, detail)
	e.Rejoin = true
	return e
}

// ClusterUnavailable builds the error for: a join that needs the cluster (the
// channel's placement in the cluster store, or the node that owns the
// channel) while that part is unreachable; sessions already joined are not
// affected. The detail says what is missing; the client retries shortly (502;
// HTTP 503).
func ClusterUnavailable(detail string) *Error {
	e := newErr(CodeOverloaded, ReasonClusterUnavailable, detail)
	e.Rejoin = true
	e.Status = http.StatusServiceUnavailable
	return e
}

// ServiceExited builds the error for: graceful drain notice (503; ignored by the SDK).
func ServiceExited(detail string) *Error {
	return newErr(CodeServiceExited, ReasonServiceExited, detail)
}

// NotFound builds the error for: no such channel, stream or session (HTTP 404; code 432 for the SDK).
func NotFound(detail string) *Error {
	e := newErr(CodeNotPublishing, ReasonNotFound, detail)
	e.Status = http.StatusNotFound
	return e
}

// CodecNotAcceptable builds the error for: an offer without a codec we need (HTTP 406; code 430).
func CodecNotAcceptable(detail string) *Error {
	e := newErr(CodeBadRequest, ReasonCodecRejected, detail)
	e.Status = http.StatusNotAcceptable
	return e
}

// Conflict builds the error for: e.g. a uid that already publishes (HTTP 409; code 433).
func Conflict(detail string) *Error {
	e := newErr(CodeRefused, ReasonConflict, detail)
	e.Status = http.StatusConflict
	return e
}

// StreamBusy builds the error for: a second publisher for a stream whose publisher is live (HTTP
// 409; code 433). The detail says who holds it and when a reconnect of the
// same uid may take over.
func StreamBusy(detail string) *Error {
	e := newErr(CodeRefused, ReasonStreamBusy, detail)
	e.Status = http.StatusConflict
	return e
}

// PublishNeedsUID builds the error for: a credential that names no uid (a uid-0 token, an appId
// key) asked to publish as a uid the server did not give it (HTTP 403;
// code 433).
func PublishNeedsUID(detail string) *Error { return newErr(CodeRefused, ReasonNoAuthorized, detail) }

// NoICECandidates builds the error for: the node's WebRTC settings produce no ICE candidate, so no
// peer could reach it; detail says what to set (HTTP 503; code 500, not a
// client fault).
func NoICECandidates(detail string) *Error {
	e := newErr(CodeInternal, ReasonServiceUnavailable, detail)
	e.Status = http.StatusServiceUnavailable
	return e
}

// Unauthorized builds the error for: missing or unusable credentials on an HTTP surface (HTTP 401).
func Unauthorized(detail string) *Error { return newErr(CodeVendorKey, ReasonInvalidKey, detail) }
