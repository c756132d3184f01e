// Package apitest helps tests of the REST API: the Agora response shapes
// of internal/api/testdata/agora and a comparison of JSON shapes.
package apitest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Fixture returns the Agora response shape named name (a file of
// internal/api/testdata/agora without .json).
func Fixture(name string) ([]byte, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return nil, fmt.Errorf("apitest: cannot locate the fixtures")
	}
	return os.ReadFile(filepath.Join(filepath.Dir(file), "..", "testdata", "agora", name+".json")) //nolint:gosec // G304: test fixtures named by the tests
}

// ShapeDiff compares the JSON shapes of want and got: the same object keys
// at every level, the same JSON types, and array elements of the type of
// want's first element (an empty array in either matches any). Values are
// not compared. It returns one line per difference, or "" when they match.
func ShapeDiff(want, got []byte) (string, error) {
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		return "", fmt.Errorf("apitest: want: %w", err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return "", fmt.Errorf("apitest: got %q: %w", got, err)
	}
	var diffs []string
	compare("$", w, g, &diffs)
	return strings.Join(diffs, "\n"), nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func compare(path string, w, g any, diffs *[]string) {
	if typeName(w) != typeName(g) {
		*diffs = append(*diffs, fmt.Sprintf("%s: %s, want %s", path, typeName(g), typeName(w)))
		return
	}
	switch wv := w.(type) {
	case map[string]any:
		gv := g.(map[string]any)
		keys := map[string]bool{}
		for k := range wv {
			keys[k] = true
		}
		for k := range gv {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			wk, inW := wv[k]
			gk, inG := gv[k]
			switch {
			case !inG:
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: missing", path, k))
			case !inW:
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: not in Agora's shape", path, k))
			default:
				compare(path+"."+k, wk, gk, diffs)
			}
		}
	case []any:
		gv := g.([]any)
		if len(wv) == 0 {
			return
		}
		for i, e := range gv {
			compare(fmt.Sprintf("%s[%d]", path, i), wv[0], e, diffs)
		}
	}
}
