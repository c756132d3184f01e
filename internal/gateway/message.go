package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/minirtc/minirtc/internal/errcode"
)

// request is one decoded client frame: a ping or an action request
// (docs/protocol.md 3.2, 3.3).
type request struct {
	Command string
	// RequestID is the request's requestId exactly as sent (a JSON number or
	// string), so the reply can echo the same value; nil when absent.
	RequestID json.RawMessage
	AppID     string
	Cname     string
	SID       string // the SDK's session id (correlates with its uploaded logs)
	Action    string
	fields    map[string]json.RawMessage
	raw       []byte // the frame as received (a forwarded join is sent on as is)
}

type envelope struct {
	Command       json.RawMessage `json:"command"`
	RequestID     json.RawMessage `json:"requestId"`
	AppID         json.RawMessage `json:"appId"`
	Cname         json.RawMessage `json:"cname"`
	SID           json.RawMessage `json:"sid"`
	ClientRequest json.RawMessage `json:"clientRequest"`
}

// decodeRequest parses a frame. On error, the returned request still carries
// whatever was readable (notably RequestID) so the error can be answered.
func decodeRequest(data []byte) (*request, error) {
	r := &request{raw: data}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return r, errcode.BadRequest("message is not a JSON object")
	}
	if id := bytes.TrimSpace(env.RequestID); len(id) > 0 && (id[0] == '"' || id[0] == '-' || (id[0] >= '0' && id[0] <= '9')) {
		r.RequestID = id
	}
	var err error
	if r.Command, err = optString(env.Command, "command"); err != nil {
		return r, err
	}
	r.AppID, _ = optString(env.AppID, "appId")
	r.Cname, _ = optString(env.Cname, "cname")
	r.SID, _ = optString(env.SID, "sid")
	if r.Command == "ping" {
		return r, nil
	}
	if isNull(env.ClientRequest) {
		if r.Command != "" {
			return r, errcode.BadRequest(fmt.Sprintf("unknown command %q", r.Command))
		}
		return r, errcode.BadRequest("missing clientRequest")
	}
	if err := json.Unmarshal(env.ClientRequest, &r.fields); err != nil || r.fields == nil {
		return r, errcode.BadRequest("clientRequest must be a JSON object")
	}
	a, ok := r.fields["action"]
	if !ok || isNull(a) {
		return r, errcode.BadRequest("clientRequest.action is missing")
	}
	if r.Action, err = optString(a, "action"); err != nil {
		return r, err
	}
	return r, nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func typeErr(field, want string) *errcode.Error {
	return errcode.BadRequest(fmt.Sprintf("field %q must be %s", field, want))
}

func optString(raw json.RawMessage, field string) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", typeErr(field, "a string")
	}
	return s, nil
}

// has reports whether a field is present and not null.
func (r *request) has(field string) bool { return !isNull(r.fields[field]) }

// str returns a string field; absent or null is "".
func (r *request) str(field string) (string, error) { return optString(r.fields[field], field) }

// boolean returns a boolean field; absent or null is false.
func (r *request) boolean(field string) (bool, error) {
	raw := r.fields[field]
	if isNull(raw) {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, typeErr(field, "a boolean")
	}
	return b, nil
}

// scalar returns a string or number field as text ("" when absent or null).
func (r *request) scalar(field string) (string, error) {
	raw := bytes.TrimSpace(r.fields[field])
	if isNull(raw) {
		return "", nil
	}
	if raw[0] == '"' {
		return optString(raw, field)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", typeErr(field, "a string or a number")
	}
	return n.String(), nil
}

// parseUID parses a uid given as a JSON number or numeric string: 1..2^32-1.
func parseUID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint32(n), true
}

// targetUID reads a target uid field (subscribe, mute, set_remote_stream_type).
func (r *request) targetUID(field string) (uint32, error) {
	raw := bytes.TrimSpace(r.fields[field])
	if isNull(raw) {
		return 0, errcode.BadRequest(fmt.Sprintf("field %q is missing", field))
	}
	s, err := r.scalar(field)
	if err != nil {
		return 0, typeErr(field, "a uid (1..4294967295)")
	}
	uid, ok := parseUID(s)
	if !ok {
		return 0, typeErr(field, "a uid (1..4294967295)")
	}
	return uid, nil
}

// uidList reads a uid or an array of uids (unsubscribe, known_speakers).
// Entries that are not uids fail when strict, else are skipped.
func (r *request) uidList(field string, strict bool) ([]uint32, error) {
	raw := bytes.TrimSpace(r.fields[field])
	if isNull(raw) {
		return nil, nil
	}
	if raw[0] != '[' {
		uid, err := r.targetUID(field)
		if err != nil {
			return nil, err
		}
		return []uint32{uid}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, typeErr(field, "an array of uids")
	}
	const maxItems = 1024 // a client shows at most a few dozen speakers
	if len(items) > maxItems {
		return nil, errcode.BadRequest(fmt.Sprintf("field %q has %d entries, at most %d", field, len(items), maxItems))
	}
	out := make([]uint32, 0, len(items))
	for _, it := range items {
		sub := request{fields: map[string]json.RawMessage{field: it}}
		s, err := sub.scalar(field)
		uid, ok := parseUID(s)
		if err != nil || !ok {
			if strict {
				return nil, typeErr(field, "an array of uids")
			}
			continue
		}
		out = append(out, uid)
	}
	return out, nil
}

// object returns a nested object's fields (nil when absent).
func (r *request) object(field string) (*request, error) {
	raw := r.fields[field]
	if isNull(raw) {
		return &request{}, nil
	}
	sub := &request{}
	if err := json.Unmarshal(raw, &sub.fields); err != nil || sub.fields == nil {
		return nil, typeErr(field, "an object")
	}
	return sub, nil
}

// reply is a server reply to one request (3.4).
type reply struct {
	Command        string          `json:"command"`
	RequestID      json.RawMessage `json:"requestId,omitempty"`
	Code           int             `json:"code"`
	Reason         string          `json:"reason,omitempty"`
	ServerResponse any             `json:"serverResponse,omitempty"`
}

// push is a server push (3.5). It never carries a requestId.
type push struct {
	Command      string  `json:"command"`
	Code         int     `json:"code,omitempty"`
	Reason       string  `json:"reason,omitempty"`
	ServerStatus *status `json:"serverStatus,omitempty"`
}

// status is a push's serverStatus object; uid is always a JSON number.
type status struct {
	Action   string  `json:"action"`
	UID      *uint32 `json:"uid,omitempty"`
	URL      string  `json:"url,omitempty"`
	Rotation *int    `json:"rotation,omitempty"`
	Mute     *bool   `json:"mute,omitempty"`
}

func encodeReply(id json.RawMessage, err *errcode.Error, resp any) []byte {
	rp := reply{Command: "serverResponse", RequestID: id, Code: errcode.CodeOK, ServerResponse: resp}
	if err != nil {
		rp.Code, rp.Reason, rp.ServerResponse = err.Code, err.Message(), nil
	}
	b, mErr := json.Marshal(rp)
	if mErr != nil { // only a malformed RequestID could do this; it is checked at decode
		b, _ = json.Marshal(reply{Command: "serverResponse", Code: errcode.CodeInternal, Reason: errcode.ReasonInternal})
	}
	return b
}

func encodePush(st *status) []byte {
	b, _ := json.Marshal(push{Command: "serverStatus", ServerStatus: st})
	return b
}

// encodeStatusPush is a push that carries both a catalogue error and a
// serverStatus: the SDK emits error {code, reason}, then the status's event.
func encodeStatusPush(e *errcode.Error, st *status) []byte {
	b, _ := json.Marshal(push{Command: "serverStatus", Code: e.Code, Reason: e.Message(), ServerStatus: st})
	return b
}

func encodeErrorPush(e *errcode.Error) []byte {
	b, _ := json.Marshal(push{Command: "serverStatus", Code: e.Code, Reason: e.Message()})
	return b
}

func uidStatus(action string, uid uint32) *status { return &status{Action: action, UID: &uid} }

func muteStatus(action string, uid uint32, mute bool) *status {
	return &status{Action: action, UID: &uid, Mute: &mute}
}
