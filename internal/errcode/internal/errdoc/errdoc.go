// Package errdoc renders docs/error-codes.md from internal/errcode.
//
// The code, reason and leave-reason constants and the list of constructors
// are read from errcode's source files, so a constant or constructor added
// there cannot be left out: Generate fails and names what entries.go lacks.
// Messages, HTTP statuses and rejoin hints come from calling the
// constructors; the prose (when an error happens, how to fix it) lives in
// entries.go. The output depends only on those inputs (no maps iterated, no
// clock), so regenerating an unchanged tree gives identical bytes.
//
// Run it with go generate ./internal/errcode; errcode's TestErrorCodesDoc
// fails when the committed page differs from a fresh rendering.
package errdoc

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/minirtc/minirtc/internal/errcode"
)

// source is what Generate reads from errcode's Go files.
type source struct {
	codes        []namedInt    // Code*/code* constants, in source order
	reasons      []namedString // Reason* constants, in source order
	leaves       []namedInt    // LeaveReason constants, in source order
	constructors []string      // exported funcs returning *Error, in source order
}

type namedInt struct {
	name  string
	value int
}

type namedString struct {
	name, value string
}

// Generate reads the errcode package in dir and returns the page.
func Generate(dir string) ([]byte, error) {
	src, err := readSource(dir)
	if err != nil {
		return nil, err
	}
	if err := check(src); err != nil {
		return nil, err
	}
	return render(src), nil
}

func readSource(dir string) (source, error) {
	var src source
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return src, err
	}
	slices.Sort(names)
	fset := token.NewFileSet()
	consts := map[string]constant.Value{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return src, fmt.Errorf("errdoc: %w", err)
		}
		if f.Name.Name != "errcode" {
			continue
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				if err := readConsts(fset, d, consts, &src); err != nil {
					return src, err
				}
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() && returnsError(d.Type) && !notConstructor(d.Name.Name) {
					src.constructors = append(src.constructors, d.Name.Name)
				}
			}
		}
	}
	if len(src.codes) == 0 || len(src.constructors) == 0 {
		return src, fmt.Errorf("errdoc: no codes or constructors found in %s", dir)
	}
	return src, nil
}

// readConsts records the code, reason and leave-reason constants of one
// const declaration. Values must be literals or earlier constants.
func readConsts(fset *token.FileSet, d *ast.GenDecl, consts map[string]constant.Value, src *source) error {
	for _, spec := range d.Specs {
		vs := spec.(*ast.ValueSpec)
		typ := ""
		if id, ok := vs.Type.(*ast.Ident); ok {
			typ = id.Name
		}
		for i, id := range vs.Names {
			if id.Name == "_" || i >= len(vs.Values) {
				continue
			}
			v, err := constValue(vs.Values[i], consts)
			if err != nil {
				return fmt.Errorf("errdoc: %s: constant %s: %w", fset.Position(id.Pos()), id.Name, err)
			}
			consts[id.Name] = v
			switch {
			case typ == "LeaveReason":
				n, ok := constant.Int64Val(v)
				if !ok {
					return fmt.Errorf("errdoc: %s: %s is not an integer", fset.Position(id.Pos()), id.Name)
				}
				src.leaves = append(src.leaves, namedInt{id.Name, int(n)})
			case strings.HasPrefix(id.Name, "Code") || strings.HasPrefix(id.Name, "code"):
				n, ok := constant.Int64Val(v)
				if !ok {
					return fmt.Errorf("errdoc: %s: %s is not an integer", fset.Position(id.Pos()), id.Name)
				}
				src.codes = append(src.codes, namedInt{id.Name, int(n)})
			case strings.HasPrefix(id.Name, "Reason") && v.Kind() == constant.String:
				src.reasons = append(src.reasons, namedString{id.Name, constant.StringVal(v)})
			}
		}
	}
	return nil
}

func constValue(e ast.Expr, consts map[string]constant.Value) (constant.Value, error) {
	switch x := e.(type) {
	case *ast.BasicLit:
		v := constant.MakeFromLiteral(x.Value, x.Kind, 0)
		if v.Kind() == constant.Unknown {
			return nil, fmt.Errorf("bad literal %s", x.Value)
		}
		return v, nil
	case *ast.Ident:
		if v, ok := consts[x.Name]; ok {
			return v, nil
		}
		return nil, fmt.Errorf("unknown constant %s", x.Name)
	case *ast.ParenExpr:
		return constValue(x.X, consts)
	}
	return nil, errors.New("only literals and earlier constants are supported")
}

// returnsError reports whether a function's only result is *Error.
func returnsError(t *ast.FuncType) bool {
	if t.Results == nil || len(t.Results.List) != 1 || len(t.Results.List[0].Names) > 1 {
		return false
	}
	star, ok := t.Results.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	id, ok := star.X.(*ast.Ident)
	return ok && id.Name == "Error"
}

// check compares the source with entries.go and lists every difference.
func check(src source) error {
	var problems []string
	docs := map[string]bool{}
	for _, c := range codeDocs() {
		docs[c.constant] = true
	}
	codeNames := map[string]bool{}
	codeValues := map[int]bool{}
	for _, c := range src.codes {
		codeNames[c.name] = true
		codeValues[c.value] = true
		if !docs[c.name] {
			problems = append(problems, fmt.Sprintf("code constant %s (%d) has no entry in codeDocs", c.name, c.value))
		}
	}
	for _, c := range codeDocs() {
		if !codeNames[c.constant] {
			problems = append(problems, fmt.Sprintf("codeDocs names %s, which errcode does not define", c.constant))
		}
	}
	have := map[string]bool{}
	for _, e := range entries() {
		have[e.constructor] = true
		if e.fix == "" || e.when == "" {
			problems = append(problems, fmt.Sprintf("entry %s needs both when and fix text", e.constructor))
		}
		if !codeValues[e.err.Code] {
			problems = append(problems, fmt.Sprintf("entry %s has code %d, which no code constant defines", e.constructor, e.err.Code))
		}
	}
	defined := map[string]bool{}
	for _, name := range src.constructors {
		defined[name] = true
		if !have[name] {
			problems = append(problems, fmt.Sprintf("constructor %s has no entry (add its when and fix text)", name))
		}
	}
	for _, e := range entries() {
		if !defined[e.constructor] {
			problems = append(problems, fmt.Sprintf("entry %s names no exported constructor of errcode", e.constructor))
		}
	}
	leaves := leaveDocs()
	for _, l := range src.leaves {
		if leaves[l.name] == "" {
			problems = append(problems, fmt.Sprintf("leave reason %s has no entry in leaveDocs", l.name))
		}
	}
	nr := noReconnect()
	for _, r := range src.reasons {
		delete(nr, r.name)
	}
	for name := range nr {
		problems = append(problems, fmt.Sprintf("noReconnect names %s, which errcode does not define", name))
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	return fmt.Errorf("errdoc: internal/errcode/internal/errdoc/entries.go is out of step with errcode:\n  %s",
		strings.Join(problems, "\n  "))
}

// cell formats text for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// code formats s as a code span that survives backticks inside it.
func code(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func render(src source) []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	values := map[string]int{}
	for _, c := range src.codes {
		values[c.name] = c.value
	}

	p("<!-- Generated by go generate ./internal/errcode from internal/errcode. Do not edit. -->\n\n")
	p("# Error codes\n\n")
	p("Every refusal minirtc sends comes from one catalogue (`internal/errcode`): a numeric\n")
	p("**code** that the Agora Miniapp SDK understands and a **reason** that says what went wrong,\n")
	p("often followed by a detail that says what to fix: `reason: detail`.\n\n")
	p("Where you see them:\n\n")
	p("- **Gateway replies** (mini program and web SDK): `{\"command\":\"serverResponse\",\"requestId\":…,\"code\":401,\"reason\":\"invalid key: signature mismatch\"}`;\n")
	p("  the SDK rejects the call with `{code, reason}`.\n")
	p("- **Gateway pushes**: `{\"command\":\"serverStatus\",\"code\":501,\"reason\":\"…\"}`; the SDK emits an `error` event\n")
	p("  (503 is ignored by the official SDK).\n")
	p("- **HTTP** (WHIP, WHEP, HTTP-FLV, log upload): the HTTP status in the table below and a\n")
	p("  JSON body `{\"code\": 401, \"reason\": \"…\"}`.\n")
	p("- **RTMP**: the connection is refused and the server logs the code and reason.\n")
	p("- **Server log**: every refusal is logged with its code and reason; internal errors also with their cause.\n\n")
	p("Codes 901 to 905 are raised inside the SDK, never sent by the server; they are listed\n")
	p("here because they are what an app sees when it cannot reach minirtc.\n\n")

	p("## Codes\n\n")
	p("| code | raised by | meaning |\n|---|---|---|\n")
	for _, c := range codeDocs() {
		by := "server"
		if c.sdk {
			by = "SDK"
		}
		p("| [%d](#%d) | %s | %s |\n", values[c.constant], values[c.constant], by, cell(c.meaning))
	}
	p("\n")

	byCode := map[int][]entry{}
	for _, e := range entries() {
		byCode[e.err.Code] = append(byCode[e.err.Code], e)
	}
	for _, c := range codeDocs() {
		v := values[c.constant]
		p("### %d\n\n", v)
		p("%s\n\n**What to do:** %s\n\n", c.meaning, c.action)
		es := byCode[v]
		if len(es) == 0 {
			continue
		}
		p("| reason (example) | HTTP | rejoin | when | fix |\n|---|---|---|---|---|\n")
		for _, e := range es {
			p("| %s | %d | %s | %s | %s |\n", cell(code(e.err.Message())), e.err.HTTPStatus(), yesNo(e.err.Rejoin),
				cell(e.when), cell(e.fix))
		}
		p("\n")
	}

	p("## Reasons\n\n")
	p("The reason is the text before the first `: `. The official Agora SDK stops reconnecting\n")
	p("when it sees one of these reasons, so minirtc spells them exactly as the SDK expects:\n")
	nr := noReconnect()
	var quoted []string
	for _, r := range src.reasons {
		if nr[r.name] {
			quoted = append(quoted, code(r.value))
		}
	}
	p("%s.\n\n", strings.Join(quoted, ", "))
	p("| reason | official SDK stops reconnecting | sent by |\n|---|---|---|\n")
	for _, r := range src.reasons {
		var users []string
		for _, e := range entries() {
			if e.err.Reason == r.value {
				users = append(users, strconv.Itoa(e.err.Code))
			}
		}
		users = slices.Compact(sortedCopy(users))
		by := strings.Join(users, ", ")
		if by == "" {
			by = "—"
		}
		p("| %s | %s | %s |\n", cell(code(r.value)), yesNo(nr[r.name]), by)
	}
	p("\n")

	p("## Leave reasons\n\n")
	p("Why a member left a channel, as logged by the server (`leave_reason` and `reason` fields).\n\n")
	p("| value | name | meaning |\n|---|---|---|\n")
	leaves := slices.Clone(src.leaves)
	slices.SortStableFunc(leaves, func(a, b namedInt) int { return a.value - b.value })
	docs := leaveDocs()
	for _, l := range leaves {
		p("| %d | %s | %s |\n", l.value, code(errcode.LeaveReason(l.value).String()), cell(docs[l.name]))
	}
	return b.Bytes()
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// WriteFile writes the page for the errcode package in dir to path.
func WriteFile(dir, path string) error {
	b, err := Generate(dir)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644) //nolint:gosec // G306: a documentation page of the repository, meant to be world-readable
}
