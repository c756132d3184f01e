package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDocsStateDefaults: where the documentation gives a setting's default
// ("`gateway.urlLifetime` (25 h)", "(`gateway.urlLifetime`, 25 h)", or a row of docs/configuration.md's table
// "| `gateway.graceTimeout` | `15s` |"), it is Default's value.
func TestDocsStateDefaults(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "README.md"), filepath.Join(root, "SECURITY.md"))
	c := Default()
	fields := map[string]Field{}
	for _, f := range c.Fields() {
		fields[f.Path] = f
	}
	inline := regexp.MustCompile("`([a-zA-Z]+\\.[a-zA-Z]+)` \\((\\d[^),;]*)")
	paren := regexp.MustCompile("\\(`([a-zA-Z]+\\.[a-zA-Z]+)`, (\\d[^),;]*)\\)")
	row := regexp.MustCompile("(?m)^\\| `([a-zA-Z]+\\.[a-zA-Z]+)` \\| `?([^|`]+?)`? \\|")
	checked := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, file)
		var found [][]string
		found = append(found, inline.FindAllStringSubmatch(string(b), -1)...)
		found = append(found, paren.FindAllStringSubmatch(string(b), -1)...)
		found = append(found, row.FindAllStringSubmatch(string(b), -1)...)
		for _, m := range found {
			f, ok := fields[m[1]]
			if !ok {
				continue
			}
			want, ok := documented(f, strings.TrimSpace(m[2]))
			if !ok {
				continue // not a value (e.g. "none", an environment name)
			}
			checked++
			if got := f.value.Interface(); got != want {
				t.Errorf("%s says %s is %q; the default is %v", name, m[1], m[2], got)
			}
		}
	}
	t.Logf("%d documented defaults checked", checked)
	if checked < 20 {
		t.Fatalf("only %d documented defaults found: the patterns no longer match the docs", checked)
	}
}

// documented parses a documented value for f's type: "25 h", "10 min",
// "7 days", "15s", "64 KiB", "10000", ":8080", "true".
func documented(f Field, s string) (any, bool) {
	switch f.value.Interface().(type) {
	case time.Duration:
		if d, err := time.ParseDuration(s); err == nil {
			return d, true
		}
		num, unit, _ := strings.Cut(s, " ")
		n, err := strconv.Atoi(num)
		if err != nil {
			return nil, false
		}
		units := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "min": time.Minute,
			"h": time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour}
		u, ok := units[unit]
		if !ok {
			return nil, false
		}
		return time.Duration(n) * u, true
	case int:
		num, unit, _ := strings.Cut(s, " ")
		n, err := strconv.Atoi(strings.ReplaceAll(num, ",", ""))
		if err != nil {
			return nil, false
		}
		switch unit {
		case "KiB":
			n <<= 10
		case "MiB":
			n <<= 20
		}
		return n, true
	case string:
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "/") {
			return s, true
		}
	case bool:
		if b, err := strconv.ParseBool(s); err == nil {
			return b, true
		}
	}
	return nil, false
}
