package errcode_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/minirtc/minirtc/internal/errcode/internal/errdoc"
)

// docPath is the generated catalogue page, relative to this package.
const docPath = "../../docs/error-codes.md"

// TestErrorCodesDoc regenerates docs/error-codes.md in memory and fails when
// the committed page differs (a code, reason or constructor changed without
// go generate) or when errdoc's prose misses a code or constructor.
func TestErrorCodesDoc(t *testing.T) {
	want, err := errdoc.Generate(".")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v: run go generate ./internal/errcode", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("docs/error-codes.md is out of date (first difference at line %d):\n have %q\n want %q\nrun go generate ./internal/errcode", i+1, g, w)
			}
		}
	}
	again, err := errdoc.Generate(".")
	if err != nil || !bytes.Equal(again, want) {
		t.Fatal("two renderings of the same source differ: the generator is not deterministic")
	}
}

// TestErrorCodesDocListsEverything checks the page names every code the
// package defines, with its own section to link to.
func TestErrorCodesDocListsEverything(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{200, 401, 429, 430, 431, 432, 433, 434, 500, 501, 502, 503, 901, 902, 903, 904, 905} {
		if !bytes.Contains(doc, []byte("\n### "+strconv.Itoa(code)+"\n")) {
			t.Errorf("no section for code %d", code)
		}
	}
}

// TestErrorCodesDocRefusesUndocumented shows the generator refuses to
// render a catalogue that gained a code or constructor without prose.
func TestErrorCodesDocRefusesUndocumented(t *testing.T) {
	dir := t.TempDir()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	extra := "package errcode\n\nconst CodeSurprise = 499\n\n" +
		"// Surprise is new.\nfunc Surprise() *Error { return newErr(CodeSurprise, ReasonBadRequest, \"\") }\n"
	if err := os.WriteFile(filepath.Join(dir, "extra.go"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = errdoc.Generate(dir)
	if err == nil {
		t.Fatal("an undocumented code and constructor were rendered")
	}
	for _, name := range []string{"CodeSurprise", "constructor Surprise"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s: %v", name, err)
		}
	}
}
