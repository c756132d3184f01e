package node

import (
	"fmt"
	"path/filepath"

	"github.com/minirtc/minirtc/internal/config"
	"github.com/minirtc/minirtc/internal/diag"
)

// wireDiag builds the client diagnostics store (component reports and SDK
// log uploads, kept under dataDir/logs) and hands it to the gateway, which
// serves the report_* actions and POST /api/v1/logs. It runs after
// wireGateway.
func (n *Node) wireDiag(cfg config.Config) error {
	dc := cfg.Diagnostics
	d, err := diag.New(diag.Config{
		Dir:           filepath.Join(cfg.DataDir, "logs"),
		MaxMembers:    dc.MaxMembers,
		MaxAge:        dc.MemberMaxAge,
		RetentionDays: dc.LogRetentionDays,
		AppDayBytes:   int64(dc.LogDayMiB) << 20,
	}, n.log)
	if err != nil {
		return fmt.Errorf("node: diagnostics: %w", err)
	}
	n.gateway.SetDiagnostics(d)
	return nil
}

// Diagnostics is the node's client diagnostics store (for the console).
func (n *Node) Diagnostics() *diag.Store { return n.gateway.Diagnostics() }
