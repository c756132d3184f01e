package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/diag"
	"github.com/minirtc/minirtc/internal/errcode"
)

// Component reports (our SDK's extension, sdk/miniapp/src/reporter.js): a
// joined client forwards its <live-pusher>/<live-player> state changes and
// network status, and the gateway keeps them in internal/diag.
//
//	report_pusher_state {events: [{code, message, ts}]}
//	report_player_state {events: [{uid, code, message, ts}]}
//	report_pusher_net   {stats:  [{ts, videoBitrate, …}]}
//	report_player_net   {stats:  [{uid, ts, videoBitrate, …}]}
//
// The reply is 200 without serverResponse (an ack, like unpublish); bad input
// is 430 with the field named, like every other action.
const (
	// maxReportItems bounds events/stats per request: the SDK sends at most
	// 20 state events per batch and one net sample per component (a meeting
	// page has one pusher and up to six players).
	maxReportItems = 32
	// maxReportMessageBytes bounds a state event's message: the SDK cuts it
	// to 200 UTF-16 units, at most 600 bytes of UTF-8.
	maxReportMessageBytes = 1024
	// maxReportFields bounds the members of one event or sample (16 known
	// net fields plus uid and ts; the rest is ignored but must stay small).
	maxReportFields = 64
)

// reportKind maps an action to the component and whether it is a net report.
func reportKind(action string) (kind diag.Kind, net, ok bool) {
	switch action {
	case "report_pusher_state":
		return diag.Pusher, false, true
	case "report_player_state":
		return diag.Player, false, true
	case "report_pusher_net":
		return diag.Pusher, true, true
	case "report_player_net":
		return diag.Player, true, true
	}
	return 0, false, false
}

// reportItems reads the array field ("events" or "stats") of a report.
func reportItems(req *request, field string) ([]map[string]json.RawMessage, error) {
	raw := bytes.TrimSpace(req.fields[field])
	if isNull(raw) {
		return nil, errcode.BadRequest(fmt.Sprintf("field %q is missing", field))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, typeErr(field, "an array of objects")
	}
	if len(items) == 0 || len(items) > maxReportItems {
		return nil, errcode.BadRequest(fmt.Sprintf("field %q has %d entries, want 1..%d", field, len(items), maxReportItems))
	}
	out := make([]map[string]json.RawMessage, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it, &out[i]); err != nil || out[i] == nil {
			return nil, typeErr(fmt.Sprintf("%s[%d]", field, i), "an object")
		}
		if len(out[i]) > maxReportFields {
			return nil, errcode.BadRequest(fmt.Sprintf("%s[%d] has %d fields, at most %d", field, i, len(out[i]), maxReportFields))
		}
	}
	return out, nil
}

// intField reads an integer member; absent or null gives ok false.
func intField(obj map[string]json.RawMessage, name, path string, lo, hi int64) (int64, bool, error) {
	raw := bytes.TrimSpace(obj[name])
	if isNull(raw) {
		return 0, false, nil
	}
	var n json.Number
	if raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		return 0, false, typeErr(path, "a number")
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, false, typeErr(path, fmt.Sprintf("an integer in %d..%d", lo, hi))
	}
	return v, true, nil
}

// reportCommon reads what events and samples share: ts (client unix ms) and,
// for players, the target uid.
func reportCommon(obj map[string]json.RawMessage, path string, kind diag.Kind) (ts int64, target uint32, err error) {
	ts, _, err = intField(obj, "ts", path+".ts", 0, 1<<53)
	if err != nil {
		return 0, 0, err
	}
	if kind == diag.Player {
		sub := request{fields: obj}
		if !sub.has("uid") {
			return 0, 0, errcode.BadRequest(fmt.Sprintf("field %q is missing (the uid of the stream played)", path+".uid"))
		}
		text, err := sub.scalar("uid")
		uid, ok := parseUID(text)
		if err != nil || !ok {
			return 0, 0, typeErr(path+".uid", "a uid (1..4294967295)")
		}
		target = uid
	}
	return ts, target, nil
}

// decodeStateReport decodes a report_*_state request.
func decodeStateReport(req *request, kind diag.Kind) ([]diag.StateEvent, error) {
	items, err := reportItems(req, "events")
	if err != nil {
		return nil, err
	}
	out := make([]diag.StateEvent, 0, len(items))
	for i, it := range items {
		path := fmt.Sprintf("events[%d]", i)
		ts, target, err := reportCommon(it, path, kind)
		if err != nil {
			return nil, err
		}
		code, ok, err := intField(it, "code", path+".code", -1<<31, 1<<31-1)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errcode.BadRequest(fmt.Sprintf("field %q is missing", path+".code"))
		}
		msg, err := optString(it["message"], path+".message")
		if err != nil {
			return nil, err
		}
		if len(msg) > maxReportMessageBytes {
			return nil, errcode.BadRequest(fmt.Sprintf("field %q is %d bytes, at most %d", path+".message", len(msg), maxReportMessageBytes))
		}
		out = append(out, diag.StateEvent{Target: target, Code: int(code), Message: msg, ClientTS: ts})
	}
	return out, nil
}

// decodeNetReport decodes a report_*_net request. Known fields must be
// numbers; unknown ones are ignored (newer WeChat versions add fields).
func decodeNetReport(req *request, kind diag.Kind) ([]diag.NetSample, error) {
	items, err := reportItems(req, "stats")
	if err != nil {
		return nil, err
	}
	out := make([]diag.NetSample, 0, len(items))
	for i, it := range items {
		path := fmt.Sprintf("stats[%d]", i)
		ts, target, err := reportCommon(it, path, kind)
		if err != nil {
			return nil, err
		}
		smp := diag.NetSample{Target: target, ClientTS: ts}
		for _, name := range diag.NetFieldNames() {
			raw := bytes.TrimSpace(it[name])
			if isNull(raw) {
				continue
			}
			var v float64
			if raw[0] == '"' || json.Unmarshal(raw, &v) != nil {
				return nil, typeErr(path+"."+name, "a number")
			}
			smp.Stats.Set(name, v)
		}
		out = append(out, smp)
	}
	return out, nil
}

// report handles the four report actions of a joined member.
func (s *session) report(st *member, req *request, d *diag.Store) error {
	kind, isNet, _ := reportKind(req.Action)
	m := diag.Member{App: st.ref.App, Channel: st.ref.Channel, UID: st.ref.UID}
	now := time.Now()
	if isNet {
		samples, err := decodeNetReport(req, kind)
		if err != nil {
			return err
		}
		for i := range samples {
			samples[i].Received, samples[i].Session, samples[i].SID = now, s.id, req.SID
		}
		d.AddNet(m, kind, samples...)
		s.log.Debug("client report", "action", req.Action, "app", m.App, "channel", m.Channel, "uid", m.UID, "samples", len(samples))
		return nil
	}
	events, err := decodeStateReport(req, kind)
	if err != nil {
		return err
	}
	failures, first := 0, -1
	for i := range events {
		events[i].Received, events[i].Session, events[i].SID = now, s.id, req.SID
		if componentFailure(events[i].Code) {
			if failures == 0 {
				first = i
			}
			failures++
		}
	}
	d.AddStates(m, kind, events...)
	s.log.Debug("client report", "action", req.Action, "app", m.App, "channel", m.Channel, "uid", m.UID, "events", len(events))
	if failures > 0 {
		// One line per batch, whatever it holds: a flapping component must
		// not flood the log (the batch is rate limited like any request).
		ev := events[first]
		args := []any{"app", m.App, "channel", m.Channel, "uid", m.UID, "code", ev.Code, "message", ev.Message, "failures", failures}
		if kind == diag.Player {
			args = append(args, "target", ev.Target)
		}
		s.log.Info(kind.String()+" failure reported", args...)
		// For observers (webhooks): one event per batch, like the log line.
		_ = s.g.channels.ClientError(st.ref, channel.ClientReport{Component: kind.String(), Code: ev.Code,
			Message: ev.Message, Target: ev.Target})
	}
	return nil
}

// componentFailure says whether a bindstatechange/binderror code is a
// failure worth an info line (WeChat's live-pusher/live-player documentation): negative
// codes are fatal (-1301..-1307 pusher camera/mic/encoder/network, -2301/-2302
// player), 3001..3005 are RTMP DNS/connect/handshake/server-closed/IO
// failures (often a bad or expired URL), 10001..10004 permission and asset
// errors.
func componentFailure(code int) bool {
	return code < 0 || (code >= 3001 && code <= 3005) || (code >= 10001 && code <= 10004)
}
