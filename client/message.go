package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/minirtc/minirtc/internal/errcode"
)

// Message is one frame from the server. Fields holds the decoded JSON object
// with numbers as json.Number, so callers can check how a value was typed
// on the wire; Err is set when the frame was binary or not a JSON object.
type Message struct {
	Type   websocket.MessageType
	Raw    []byte
	Fields map[string]any
	Err    error
	At     time.Time // when the read loop received the frame
}

// errNotObject is a Message's Err for a frame that is not a JSON object.
var errNotObject = errors.New("frame is not a JSON object")

// decodeMessage decodes one frame.
func decodeMessage(typ websocket.MessageType, data []byte, at time.Time) Message {
	m := Message{Type: typ, Raw: data, At: at}
	if typ != websocket.MessageText {
		m.Err = fmt.Errorf("binary frame of %d bytes: %w", len(data), errNotObject)
		return m
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&m.Fields); err != nil || m.Fields == nil {
		m.Fields = nil
		m.Err = fmt.Errorf("%.100q: %w", data, errNotObject)
	}
	return m
}

// String is the frame's text.
func (m Message) String() string { return string(m.Raw) }

// Command is the frame's "command" ("serverResponse", "serverStatus",
// "pong"), or "".
func (m Message) Command() string {
	s, _ := m.Fields["command"].(string)
	return s
}

// RequestID returns the frame's requestId when it is a JSON integer.
func (m Message) RequestID() (int64, bool) {
	n, ok := m.Fields["requestId"].(json.Number)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(n.String(), 10, 64)
	return id, err == nil
}

// IsReply reports whether the frame carries a requestId, as replies (and
// only replies) do.
func (m Message) IsReply() bool {
	_, ok := m.Fields["requestId"]
	return ok
}

// CodeText is the frame's "code" as it appeared on the wire ("200",
// "200.0"), or "" when absent or not a number.
func (m Message) CodeText() string {
	n, _ := m.Fields["code"].(json.Number)
	return n.String()
}

// Code is the frame's numeric "code", 0 when absent.
func (m Message) Code() int {
	n, err := strconv.ParseFloat(m.CodeText(), 64)
	if err != nil {
		return 0
	}
	return int(n)
}

// Reason is the frame's "msg" if present (as the SDK prefers it), else its
// "reason".
func (m Message) Reason() string {
	if s, _ := m.Fields["msg"].(string); s != "" {
		return s
	}
	s, _ := m.Fields["reason"].(string)
	return s
}

// Response is the reply's "serverResponse" object (nil when absent).
func (m Message) Response() map[string]any {
	r, _ := m.Fields["serverResponse"].(map[string]any)
	return r
}

// Status is the push's "serverStatus" object (nil when absent).
func (m Message) Status() map[string]any {
	s, _ := m.Fields["serverStatus"].(map[string]any)
	return s
}

// IsPush reports whether the frame is a push (command "serverStatus").
func (m Message) IsPush() bool { return m.Command() == "serverStatus" }

// Push is a decoded push (protocol section 5).
type Push struct {
	Action   string         // serverStatus.action: "stream-added", "key-expired", … ("" for a bare error push)
	UID      uint32         // serverStatus.uid, when HasUID
	HasUID   bool           // the push named a numeric uid
	Mute     bool           // audio-mute / video-mute
	URL      string         // update-url
	Rotation int            // video-rotation
	Code     int            // the push's code (0 when absent; 501 "please rejoin", 433 uid conflict, …)
	Reason   string         // the push's reason
	Status   map[string]any // the whole serverStatus object
	At       time.Time      // when the read loop received it
}

// Push decodes the frame as a push; ok is false for anything else.
func (m Message) Push() (p Push, ok bool) {
	if !m.IsPush() {
		return Push{}, false
	}
	st := m.Status()
	p = Push{Code: m.Code(), Reason: m.Reason(), Status: st, At: m.At}
	p.Action, _ = st["action"].(string)
	if n, ok := st["uid"].(json.Number); ok {
		if u, err := strconv.ParseUint(n.String(), 10, 32); err == nil {
			p.UID, p.HasUID = uint32(u), true
		}
	}
	p.Mute, _ = st["mute"].(bool)
	p.URL, _ = st["url"].(string)
	if n, ok := st["rotation"].(json.Number); ok {
		r, _ := n.Int64()
		p.Rotation = int(r)
	}
	return p, true
}

// Error is a request the server refused: the reply's catalogue code and
// reason ("reason" or "reason: detail", docs/error-codes.md).
type Error struct {
	Action string
	Code   int
	Reason string
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: refused: %d %s", e.Action, e.Code, e.Reason)
}

// Catalogue is the catalogue part of the reason, without the detail.
func (e *Error) Catalogue() string {
	r, _, _ := strings.Cut(e.Reason, ": ")
	return r
}

// Is reports whether target is a catalogue error (internal/errcode) with
// the same code and reason, and the same detail when target has one.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *errcode.Error:
		if t.Detail != "" {
			return t.Code == e.Code && t.Message() == e.Reason
		}
		return t.Code == e.Code && t.Reason == e.Catalogue()
	case *Error:
		return t.Code == e.Code && (t.Reason == "" || t.Reason == e.Reason)
	}
	return false
}

// replyError returns *Error when the reply's code is not 200.
func replyError(action string, m Message) error {
	if m.Code() == errcode.CodeOK {
		return nil
	}
	return &Error{Action: action, Code: m.Code(), Reason: m.Reason()}
}
