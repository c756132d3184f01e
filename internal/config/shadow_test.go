package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// notConfigKnobs are package-level Default* names outside internal/config
// that are allowed, each with the reason it is not a copy of a config
// default. A name missing here fails TestNoPackageShadowsConfigDefault: the
// value belongs in internal/config/defaults (and config.Default, and
// minirtc.yml), or here with a reason.
var notConfigKnobs = map[string]string{
	"node.DefaultAppName": "the name of the app created in an empty store, not a setting",

	"api.defaultPeerTimeout": "the bound on one call between cluster nodes (merged listings), not a setting",

	"client.DefaultPingInterval": "the Go client's heartbeat (the SDK's 3 s), a client option, not a server setting",
	"client.defaultReadLimit":    "the Go client's frame size bound, a client option, not a server setting",
	"client.defaultQueueSize":    "the Go client's unread-frame bound, a client option, not a server setting",

	"gateway.DefaultExpiredCloseDelay":    "protocol timing (key-expired before the close), not a setting",
	"gateway.DefaultLeaveCloseDelay":      "protocol timing (close after leave), not a setting",
	"gateway.DefaultRTMPPort":             "RTMP's standard port, left out of URLs; the node passes the bound port",
	"gateway.DefaultURLRefreshLead":       "protocol timing (update-url lead, docs/protocol.md), not a setting",
	"gateway.DefaultWriteTimeout":         "WebSocket frame write bound, not a setting (media.writeTimeout is the media writers')",
	"gateway.DefaultMaxQueue":             "WebSocket send queue, not a setting",
	"gateway.DefaultLogUploadRatePerIP":   "log upload rate, not a setting",
	"gateway.DefaultLogUploadBurstPerIP":  "log upload burst, not a setting",
	"gateway.DefaultLogUploadRatePerApp":  "log upload rate, not a setting",
	"gateway.DefaultLogUploadBurstPerApp": "log upload burst, not a setting",
	"gateway.DefaultDrainTimeout":         "shutdown wait for sessions, bounded by http.shutdownTimeout at the node",
	"diag.DefaultMaxEvents":               "ring length fixed by the SDK's reporting rate, not a setting",
	"diag.DefaultMaxSamples":              "ring length fixed by the SDK's reporting rate, not a setting",
	"diag.DefaultMaxLogBytes":             "one upload's cap, fixed by the SDK's log size, not a setting",
	"diag.DefaultMaxLogLines":             "one upload's cap, fixed by the SDK's log size, not a setting",
	"diag.DefaultMaxLineBytes":            "line truncation, not a setting",
	"webrtc.DefaultMTU":                   "RTP payload size, not a setting",
	"webrtc.DefaultPLIInterval":           "keyframe request interval, not a setting",
	"webrtc.DefaultQueueSize":             "WHEP session queue, not a setting",
	"webrtc.DefaultReorderWait":           "RTP reorder wait, not a setting",
	"webrtc.DefaultMaxSessions":           "WHIP+WHEP session cap, not a setting",
	"api.DefaultMemberEvents":             "event log bound, not a setting",
	"api.DefaultEventMembers":             "event log bound, not a setting",
	"api.defaultRuleTime":                 "Agora's banning rule duration when a request gives none (REST API semantics)",
	"api.defaultMaxKickingRules":          "banning rule cap (docs/rest-api.md), not a setting",
	"api.defaultPageSize":                 "REST API page size, not a setting",
	"media.defaultFrameGap":               "timestamp rebasing step, not a setting",
}

// settingFields are the Config fields of packages that receive a setting
// from the node: "package.Field" -> the setting's key. A package may fall
// back to a value for one of them only through internal/config/defaults.
var settingFields = map[string]string{
	"media.QueueSize":            "media.readerQueue",
	"media.GOPMaxPackets":        "media.gopCacheFrames",
	"media.GOPMaxBytes":          "media.gopCacheBytes",
	"media.Grace":                "media.publisherGrace",
	"media.StallTimeout":         "media.publisherStall",
	"media.HoldTimeout":          "media.holdTimeout",
	"media.AudioWait":            "media.audioWait",
	"rtmp.HandshakeTimeout":      "rtmp.handshakeTimeout",
	"rtmp.ReadTimeout":           "rtmp.readTimeout",
	"rtmp.WriteTimeout":          "media.writeTimeout",
	"rtmp.BatchInterval":         "media.batchInterval",
	"rtmp.PreAuthMaxMessageSize": "rtmp.preAuthMaxMessageSize",
	"rtmp.MaxMessageSize":        "rtmp.maxMessageSize",
	"flv.WriteTimeout":           "media.writeTimeout",
	"flv.BatchInterval":          "media.batchInterval",
	"gateway.Grace":              "gateway.graceTimeout",
	"gateway.IdleTimeout":        "gateway.idleTimeout",
	"gateway.KeyWillExpireLead":  "gateway.keyWillExpireLead",
	"gateway.MaxMessageBytes":    "gateway.maxMessageBytes",
	"gateway.PreJoinMaxBytes":    "gateway.preJoinMaxBytes",
	"gateway.JoinTimeout":        "gateway.joinTimeout",
	"gateway.RateLimit":          "gateway.requestsPerSecond",
	"gateway.MaxUsersPerChannel": "gateway.maxUsersPerChannel",
	"gateway.URLTTL":             "gateway.urlLifetime",
	"gateway.LogTicketTTL":       "diagnostics.logTicketTTL",
	"channel.MediaStartTimeout":  "gateway.mediaStartTimeout",
	"admission.RejoinGrace":      "gateway.urlRejoinGrace",
	"diag.MaxMembers":            "diagnostics.maxMembers",
	"diag.MaxAge":                "diagnostics.memberMaxAge",
	"diag.RetentionDays":         "diagnostics.logRetentionDays",
	"diag.AppDayBytes":           "diagnostics.logDayMiB",
	"webrtc.UDPAddr":             "webrtc.udpAddr",
	"api.RequestsPerSecond":      "api.requestsPerSecond",
	"webhook.RetryFor":           "webhooks.retryFor",
	"webhook.Timeout":            "webhooks.timeout",
	"webhook.Concurrency":        "webhooks.concurrency",
	"webhook.MinBackoff":         "webhooks.minBackoff",
	"webhook.MaxBackoff":         "webhooks.maxBackoff",
	"webhook.Retention":          "webhooks.retention",
	"webhook.SweepEvery":         "cluster.nodeTTL",
	"cluster.Prefix":             "cluster.prefix",
}

// otherValues are assignments of a literal to one of settingFields that are
// not its default: "package.Field = value" -> the reason.
var otherValues = map[string]string{
	`media.Grace = 0`:                "a negative grace means none (the hub's own spelling, not a default)",
	`webrtc.UDPAddr = "127.0.0.1:0"`: "loopback-only without an address binds an ephemeral loopback port (not the default udpAddr)",
}

// TestNoPackageShadowsConfigDefault: every default of a setting lives in
// internal/config (Default, minirtc.yml, and internal/config/defaults for the
// packages' zero-value fallbacks). It parses every Go package of the
// repository outside internal/config and fails on a package-level constant
// or variable named Default*/default* and on a zero-value fallback to a
// literal, unless listed above with the reason it is not a config default.
func TestNoPackageShadowsConfigDefault(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found: %v", err)
	}
	var found []string
	seenAllowed := map[string]bool{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules" || name == "vendor") {
				return filepath.SkipDir
			}
			if rel == "internal/config" || strings.HasPrefix(rel, "internal/config/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		pkg := f.Name.Name
		report := func(key string, pos token.Pos, what string, allowed map[string]string) {
			if _, ok := allowed[key]; ok {
				seenAllowed[key] = true
				return
			}
			p := fset.Position(pos)
			found = append(found, rel+":"+strconv.Itoa(p.Line)+": "+key+": "+what)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || (gd.Tok != token.CONST && gd.Tok != token.VAR) {
				continue
			}
			for _, spec := range gd.Specs {
				for _, n := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "Default") || strings.HasPrefix(n.Name, "default") {
						report(pkg+"."+n.Name, n.Pos(), "package-level default", notConfigKnobs)
					}
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var lhs, rhs ast.Expr
			switch n := n.(type) {
			case *ast.AssignStmt: // x.F = v
				if len(n.Lhs) != 1 || len(n.Rhs) != 1 {
					return true
				}
				lhs, rhs = n.Lhs[0], n.Rhs[0]
			case *ast.CallExpr: // def(&x.F, v)
				if len(n.Args) != 2 {
					return true
				}
				u, ok := n.Args[0].(*ast.UnaryExpr)
				if !ok || u.Op != token.AND {
					return true
				}
				lhs, rhs = u.X, n.Args[1]
			default:
				return true
			}
			sel, ok := lhs.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			key := pkg + "." + sel.Sel.Name
			if _, ok := settingFields[key]; !ok || !ownValue(rhs) {
				return true
			}
			report(key+" = "+exprString(rhs), n.Pos(), "a value of its own for "+settingFields[key], otherValues)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		slices.Sort(found)
		t.Errorf("defaults outside internal/config (move them to internal/config/defaults and use them there, "+
			"or allow-list them in shadow_test.go with the reason they are not settings):\n%s", strings.Join(found, "\n"))
	}
	known := map[string]bool{}
	for _, f := range (&Config{}).Fields() {
		known[f.Path] = true
	}
	for field, key := range settingFields {
		if !known[key] {
			t.Errorf("settingFields: %s names %s, which is no setting", field, key)
		}
	}
	// A stale entry is harmless (other work may remove a constant); say so
	// without failing.
	for _, m := range []map[string]string{notConfigKnobs, otherValues} {
		for k := range m {
			if !seenAllowed[k] {
				t.Logf("allow-list entry %s matches nothing any more: remove it", k)
			}
		}
	}
}

// ownValue: v holds a literal, a time unit or a Default*/default* name and takes nothing
// from internal/config/defaults.
func ownValue(v ast.Expr) bool {
	own := false
	ast.Inspect(v, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BasicLit:
			own = true
		case *ast.SelectorExpr: // time.Second
			if id, ok := n.X.(*ast.Ident); ok && id.Name == "time" {
				own = true
			}
		case *ast.Ident:
			if strings.HasPrefix(n.Name, "Default") || strings.HasPrefix(n.Name, "default") {
				own = true
			}
		}
		return true
	})
	return own && !mentionsDefaults(v)
}

func mentionsDefaults(e ast.Expr) bool {
	yes := false
	ast.Inspect(e, func(n ast.Node) bool {
		if se, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := se.X.(*ast.Ident); ok && id.Name == "defaults" {
				yes = true
			}
		}
		return !yes
	})
	return yes
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.BasicLit:
		return e.Value
	case *ast.BinaryExpr:
		return exprString(e.X) + e.Op.String() + exprString(e.Y)
	case *ast.CallExpr:
		args := make([]string, len(e.Args))
		for i, a := range e.Args {
			args[i] = exprString(a)
		}
		return exprString(e.Fun) + "(" + strings.Join(args, ", ") + ")"
	case *ast.ParenExpr:
		return "(" + exprString(e.X) + ")"
	case *ast.StarExpr:
		return "*" + exprString(e.X)
	case *ast.UnaryExpr:
		return e.Op.String() + exprString(e.X)
	}
	return "?"
}
