package archtest

import (
	"bufio"
	"go/build/constraint"
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

// rule is one layering rule over the packages that pkgs names, apart from
// those in except. A pattern is a package path relative to the module
// ("internal/media"), or a path ending in "/..." (the package and every
// package below it), or "..." (every package).
type rule struct {
	name   string
	pkgs   []string
	except []string
	// only lists the module's packages they may depend on, directly or
	// through others (nil: no such limit).
	only []string
	// not lists the module's packages they must not depend on, directly or
	// through others.
	not []string
	// noImport lists packages outside the module they must not import
	// themselves (socket and process I/O).
	noImport []string
	why      string
	// pending says what lands a rule that main does not meet yet: while it
	// is broken the rule is skipped with this message; once it holds the
	// test fails, so that the change landing it also removes the mark.
	pending string
}

// adapters are the protocol adapters at the edges of the core.
var adapters = []string{"internal/rtmp", "internal/flv", "internal/webrtc", "internal/gateway"}

// rules are minirtc's layering rules (docs/architecture.md, "Packages", and
// the redesign of issue #17). Each one says why it exists.
var rules = []rule{
	{
		name: "media hub is the core",
		pkgs: []string{"internal/media"},
		only: []string{"internal/errcode", "internal/config/defaults"},
		why:  "the hub speaks no protocol and knows no adapter, channel or transcoder; derived tracks come through its Deriver interface",
	},
	{
		name: "channel model is the core",
		pkgs: []string{"internal/channel"},
		only: []string{"internal/errcode", "internal/config/defaults"},
		why:  "the channel model does no I/O and knows no protocol",
	},
	{
		name:     "media core does no socket I/O",
		pkgs:     []string{"internal/media/..."},
		except:   []string{"internal/media/mediatest"}, // a test helper: runs ffmpeg and reads CPU time
		noImport: []string{"net", "net/http", "syscall", "golang.org/x/sys/unix", "os"},
		why:      "socket writes belong to the egress package, used by the RTMP, FLV and WHEP writers",
	},
	{
		name:     "channel model does no socket I/O",
		pkgs:     []string{"internal/channel/..."},
		noImport: []string{"net/http", "syscall", "golang.org/x/sys/unix", "os"},
		why:      "the channel model is pure state and events (it only parses addresses)",
	},
	{
		name: "rtmp does not import flv",
		pkgs: []string{"internal/rtmp"},
		not:  []string{"internal/flv"},
		why:  "FLV tag encoding shared by RTMP and FLV lives in one codec-level package",
	},
	{
		name: "egress is socket writes only",
		pkgs: []string{"internal/egress"},
		only: []string{},
		why:  "the one write loop of RTMP, FLV and WHEP viewers knows bytes and sockets, no protocol and no hub",
	},
	{
		name:     "FLV tags are codec-level",
		pkgs:     []string{"internal/flvtag"},
		only:     []string{"internal/media", "internal/errcode", "internal/config/defaults"},
		noImport: []string{"net", "net/http", "syscall", "os"},
		why:      "FLV tag encoding shared by RTMP and FLV does no I/O",
	},
	{
		name: "rtmp sees only the core",
		pkgs: []string{"internal/rtmp"},
		not:  []string{"internal/webrtc", "internal/gateway", "internal/channel", "internal/store", "internal/admission", "internal/transcode", "internal/node"},
		why:  "an adapter sees the hub and the admission grant (token.MediaGrant), not the channel model, the store or another adapter",
	},
	{
		name: "flv sees only the core",
		pkgs: []string{"internal/flv"},
		not:  []string{"internal/rtmp", "internal/webrtc", "internal/gateway", "internal/channel", "internal/store", "internal/admission", "internal/transcode", "internal/node"},
		why:  "an adapter sees the hub and the admission grant, not the channel model, the store or another adapter",
	},
	{
		name: "webrtc sees only the core",
		pkgs: []string{"internal/webrtc"},
		not:  []string{"internal/rtmp", "internal/flv", "internal/gateway", "internal/channel", "internal/store", "internal/admission", "internal/transcode", "internal/node"},
		why:  "WHEP sessions are plain hub readers (no second hub, no transcoder of its own); WHIP meets the channel only through the admission seam (webrtc.Channels)",
	},
	{
		name: "gateway does not reach the media",
		pkgs: []string{"internal/gateway"},
		not:  []string{"internal/media", "internal/rtmp", "internal/flv", "internal/webrtc", "internal/transcode", "internal/node"},
		why:  "the gateway and the media adapters meet only in the channel model and the admission seam",
	},
	{
		name: "token does not import store",
		pkgs: []string{"internal/token"},
		not:  []string{"internal/store", "internal/channel"},
		why:  "token is the credential formats; the apps' certificates reach it through the admission seam",
	},
	{
		name: "admission seam imports no adapter",
		pkgs: []string{"internal/admission"},
		not:  append(slices.Clone(adapters), "internal/media", "internal/node"),
		why:  "every door asks the seam; the seam knows none of the doors",
	},
	{
		name: "transcode is a Deriver for the hub",
		pkgs: []string{"internal/transcode"},
		only: []string{"codec/aac", "internal/media", "internal/errcode", "internal/config/defaults"},
		why:  "the hub starts derived tracks; transcode knows no stream's readers nor any protocol",
	},
	{
		name: "cluster pieces import no adapter",
		pkgs: []string{"internal/cluster", "internal/relay", "internal/edge"},
		not:  append(slices.Clone(adapters), "internal/channel", "internal/node"),
		why:  "relays pull between hubs; internal/node wires them to the doors",
	},
	{
		name: "Go client depends on the catalogue only",
		pkgs: []string{"client"},
		only: []string{"internal/errcode"},
		why:  "the one Go signaling client is the Go SDK: no server package",
	},
	{
		name:   "only internal/node wires the adapters",
		pkgs:   []string{"..."},
		except: append(slices.Clone(adapters), "internal/node", "cmd/minirtc", "test/e2e"), // adapters: their own rules above
		not:    append(slices.Clone(adapters), "internal/node"),
		why:    "the core and the seams import no door; one place assembles a server",
	},
	{
		name: "node does not import examples",
		pkgs: []string{"internal/node"},
		not:  []string{"examples/..."},
		why:  "the node serves one demo page, embedded from sdk/web; examples are not part of the server",
	},
}

// TestImportRules parses the import clauses of every package of the
// repository (test files left out, every platform's files included) and
// checks each rule.
func TestImportRules(t *testing.T) {
	g := loadGraph(t, filepath.Join("..", ".."))
	if len(g.imports) < 30 {
		t.Fatalf("found %d packages under the repository root, want the whole module", len(g.imports))
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			pkgs := g.match(r.pkgs, r.except)
			if len(pkgs) == 0 && r.pending != "" {
				t.Skipf("TODO, not yet on main (%s): no package %v", r.pending, r.pkgs)
			}
			if len(pkgs) == 0 {
				t.Fatalf("rule names no package of the module (%v): stale rule", r.pkgs)
			}
			for _, p := range append(slices.Clone(r.only), r.not...) {
				if !strings.HasSuffix(p, "...") && g.imports[p] == nil {
					t.Fatalf("rule names %s, which is not a package of the module: stale rule", p)
				}
			}
			var broken []string
			for _, p := range pkgs {
				broken = append(broken, g.check(r, p)...)
			}
			switch {
			case r.pending != "" && len(broken) > 0:
				t.Skipf("TODO, not yet on main (%s): %s", r.pending, strings.Join(broken, "; "))
			case r.pending != "":
				t.Errorf("the rule holds now: remove its pending mark (%q)", r.pending)
			}
			for _, b := range broken {
				t.Errorf("%s (%s)", b, r.why)
			}
		})
	}
}

// graph is the module's package import graph, paths relative to the module.
type graph struct {
	imports  map[string][]string // module packages each package imports
	external map[string][]string // other packages each package imports
}

// match lists the packages named by pkgs and not by except.
func (g *graph) match(pkgs, except []string) []string {
	var out []string
	for p := range g.imports {
		if matchAny(p, pkgs) && !matchAny(p, except) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func matchAny(p string, patterns []string) bool {
	for _, pat := range patterns {
		switch {
		case pat == "...":
			return true
		case strings.HasSuffix(pat, "/..."):
			base := strings.TrimSuffix(pat, "/...")
			if p == base || strings.HasPrefix(p, base+"/") {
				return true
			}
		case p == pat:
			return true
		}
	}
	return false
}

// check lists how p breaks r.
func (g *graph) check(r rule, p string) []string {
	var broken []string
	parent := g.deps(p)
	deps := make([]string, 0, len(parent))
	for d := range parent {
		deps = append(deps, d)
	}
	slices.Sort(deps)
	for _, d := range deps {
		if r.only != nil && !matchAny(d, r.only) {
			broken = append(broken, p+" depends on "+d+" ("+path(parent, p, d)+"), allowed only "+strings.Join(r.only, ", "))
		}
		if matchAny(d, r.not) {
			broken = append(broken, p+" depends on "+d+" ("+path(parent, p, d)+")")
		}
	}
	for _, e := range g.external[p] {
		if slices.Contains(r.noImport, e) {
			broken = append(broken, p+" imports "+e)
		}
	}
	return broken
}

// deps returns every module package p depends on, each with the package
// that imports it on one shortest path from p.
func (g *graph) deps(p string) map[string]string {
	parent := map[string]string{}
	queue := []string{p}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, next := range g.imports[cur] {
			if _, seen := parent[next]; seen || next == p {
				continue
			}
			parent[next] = cur
			queue = append(queue, next)
		}
	}
	return parent
}

// path spells the import chain from p to d.
func path(parent map[string]string, p, d string) string {
	chain := []string{d}
	for cur := d; cur != p; {
		cur = parent[cur]
		chain = append(chain, cur)
	}
	slices.Reverse(chain)
	return strings.Join(chain, " -> ")
}

// loadGraph parses the non-test Go files under root, the module's root.
// Files of every platform count; a file built only with the ignore tag
// does not.
func loadGraph(t *testing.T, root string) *graph {
	t.Helper()
	module := modulePath(t, filepath.Join(root, "go.mod"))
	g := &graph{imports: map[string][]string{}, external: map[string][]string{}}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		for _, cg := range f.Comments {
			if cg.Pos() > f.Package {
				break
			}
			for _, c := range cg.List {
				if x, err := constraint.Parse(c.Text); err == nil {
					if tag, ok := x.(*constraint.TagExpr); ok && tag.Tag == "ignore" {
						return nil
					}
				}
			}
		}
		pkg := filepath.ToSlash(filepath.Dir(rel))
		if pkg == "." {
			pkg = ""
		}
		if g.imports[pkg] == nil {
			g.imports[pkg] = []string{}
		}
		for _, spec := range f.Imports {
			ip, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			switch {
			case ip == module:
				g.imports[pkg] = appendNew(g.imports[pkg], "")
			case strings.HasPrefix(ip, module+"/"):
				g.imports[pkg] = appendNew(g.imports[pkg], strings.TrimPrefix(ip, module+"/"))
			default:
				g.external[pkg] = appendNew(g.external[pkg], ip)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// modulePath reads the module line of go.mod.
func modulePath(t *testing.T, gomod string) string {
	t.Helper()
	f, err := os.Open(gomod)
	if err != nil {
		t.Fatalf("repository root not found: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`)
		}
	}
	t.Fatalf("%s has no module line", gomod)
	return ""
}
