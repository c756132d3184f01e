package docs

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the repository, relative to this package.
const repoRoot = ".."

// skipDir reports directories whose Markdown is not ours to check.
func skipDir(name string) bool {
	return name == ".git" || name == "node_modules" || name == "testdata"
}

// markdownFiles lists every Markdown file under root (slash-separated,
// relative to root), sorted.
func markdownFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".md") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(files)
	return files, err
}

// doc is a Markdown file split into what the checks need.
type doc struct {
	links   []link
	bare    []link // URLs in prose outside code (GitHub turns them into links)
	anchors map[string]bool
	text    string
}

type link struct {
	dest string
	line int
}

var (
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+"[^"]*")?\s*\)`)
	refDef     = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*(\S+)`)
	autoLink   = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]*)>`)
	bareURL    = regexp.MustCompile(`https?://[^\s)>\]"'` + "`" + `]+`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	heading    = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	scheme     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// stripCode blanks inline code spans so that links in them are not links.
func stripCode(line string) string {
	b := []byte(line)
	for i := 0; i < len(b); {
		if b[i] != '`' {
			i++
			continue
		}
		n := 0
		for i+n < len(b) && b[i+n] == '`' {
			n++
		}
		fence := strings.Repeat("`", n)
		end := strings.Index(string(b[i+n:]), fence)
		if end < 0 {
			i += n
			continue
		}
		for j := i; j < i+n+end+n; j++ {
			b[j] = ' '
		}
		i += n + end + n
	}
	return string(b)
}

// slug is GitHub's anchor for a heading: lower case, punctuation dropped,
// spaces turned into hyphens.
func slug(text string) string {
	text = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func parseDoc(text string) doc {
	d := doc{anchors: map[string]bool{}, text: text}
	seen := map[string]int{}
	fence := ""
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			s := slug(m[2])
			if k := seen[s]; k > 0 {
				d.anchors[fmt.Sprintf("%s-%d", s, k)] = true
			} else {
				d.anchors[s] = true
			}
			seen[s]++
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			d.anchors[m[1]] = true
		}
		prose := stripCode(line)
		for _, m := range inlineLink.FindAllStringSubmatch(prose, -1) {
			d.links = append(d.links, link{strings.Trim(m[1], "<>"), n})
		}
		if m := refDef.FindStringSubmatch(prose); m != nil {
			d.links = append(d.links, link{strings.Trim(m[1], "<>"), n})
			continue
		}
		for _, m := range autoLink.FindAllStringSubmatch(prose, -1) {
			d.links = append(d.links, link{m[1], n})
		}
		rest := inlineLink.ReplaceAllString(autoLink.ReplaceAllString(prose, ""), "")
		for _, u := range bareURL.FindAllString(rest, -1) {
			d.bare = append(d.bare, link{u, n})
		}
	}
	return d
}

// placeholderHost reports hosts that stand for "your server" in examples.
func placeholderHost(host string) bool {
	for _, ex := range []string{"example.com", "example.org", "example.net"} {
		if host == ex || strings.HasSuffix(host, "."+ex) {
			return true
		}
	}
	return host == "localhost" || host == "127.0.0.1" || strings.ToUpper(host) == host
}

// checkRepo returns every broken or outward link in the Markdown under root.
func checkRepo(root string) ([]string, error) {
	files, err := markdownFiles(root)
	if err != nil {
		return nil, err
	}
	docs := map[string]doc{}
	load := func(rel string) (doc, error) {
		if d, ok := docs[rel]; ok {
			return d, nil
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return doc{}, err
		}
		d := parseDoc(string(b))
		docs[rel] = d
		return d, nil
	}
	var problems []string
	for _, f := range files {
		d, err := load(f)
		if err != nil {
			return nil, err
		}
		bad := func(l link, why string) {
			problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", f, l.line, l.dest, why))
		}
		if strings.Contains(d.text, "shared/design") || strings.Contains(d.text, outsideShared) {
			problems = append(problems, f+": points to the internal design notes (shared/design); link to docs/ instead")
		}
		for _, l := range d.bare {
			u, err := url.Parse(strings.TrimRight(l.dest, ".,;:"))
			if err != nil || !placeholderHost(u.Hostname()) {
				bad(l, "a URL outside the repository (GitHub makes it a link); put examples in code spans")
			}
		}
		for _, l := range d.links {
			switch {
			case l.dest == "":
				bad(l, "empty link")
				continue
			case scheme.MatchString(l.dest):
				bad(l, "points outside the repository; link to a file in it")
				continue
			case strings.HasPrefix(l.dest, "/"):
				bad(l, "absolute path; use a path relative to this file")
				continue
			}
			target, anchor, _ := strings.Cut(l.dest, "#")
			target, err := url.PathUnescape(target)
			if err != nil {
				bad(l, "bad escape")
				continue
			}
			rel := f
			if target != "" {
				rel = path.Clean(path.Join(path.Dir(f), target))
				if rel == ".." || strings.HasPrefix(rel, "../") {
					bad(l, "leaves the repository")
					continue
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
					bad(l, "no such file")
					continue
				}
			}
			if anchor == "" || !strings.HasSuffix(rel, ".md") {
				continue
			}
			td, err := load(rel)
			if err != nil {
				bad(l, err.Error())
				continue
			}
			if !td.anchors[anchor] {
				bad(l, "no heading or anchor #"+anchor+" in "+rel)
			}
		}
	}
	return problems, nil
}

// TestMarkdownLinks checks every Markdown file of the repository: relative
// links resolve to files inside it, anchors to headings, and nothing links
// outside it (the docs must stand on their own).
func TestMarkdownLinks(t *testing.T) {
	problems, err := checkRepo(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestDocsReachable checks every page in docs/ is linked from the README or
// the docs index, so none is orphaned.
func TestDocsReachable(t *testing.T) {
	linked := map[string]bool{}
	for _, f := range []string{"README.md", "docs/README.md"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range parseDoc(string(b)).links {
			target, _, _ := strings.Cut(l.dest, "#")
			linked[path.Clean(path.Join(path.Dir(f), target))] = true
		}
	}
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 9 {
		t.Fatalf("docs/ has %d pages, want the index and eight guides", len(pages))
	}
	for _, p := range pages {
		if p != "README.md" && !linked["docs/"+p] {
			t.Errorf("docs/%s is linked from neither README.md nor docs/README.md", p)
		}
	}
	if !linked["docs/README.md"] {
		t.Error("README.md does not link to docs/README.md")
	}
}

// TestLinkChecker shows checkRepo finds each kind of problem.
// outsideShared is the design notes' folder beside the repository, which
// no document may point to (spelled in two parts so that this file does not
// point there itself).
const outsideShared = ".." + "/shared/"

func TestLinkChecker(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", "# Top\n\nSee [guide](docs/guide.md#set-up-tls), [self](#top).\n\n"+
		"`[not a link](nowhere.md)` and https://rtc.example.com/api/v1 are fine.\n\n"+
		"```\n[in a fence](missing.md)\n```\n")
	write("docs/guide.md", "# Guide\n\n## Set up TLS\n\n## Set up TLS\n\nBack: [top](../README.md#top), [dup](#set-up-tls-1).\n")
	write("node_modules/x/README.md", "[broken](nowhere.md)\n")
	if problems, err := checkRepo(root); err != nil || len(problems) != 0 {
		t.Fatalf("clean tree: %v %q", err, problems)
	}
	write("docs/bad.md", strings.Join([]string{
		"[a](missing.md)",
		"[b](guide.md#no-such-heading)",
		"[c](https://github.com/minirtc/minirtc)",
		"[d](../../outside.md)",
		"see " + outsideShared + "design/ARCHITECTURE.md",
		"[e](/docs/guide.md)",
		"[f]: http://agora.io",
		"visit https://www.agora.io today",
		"<https://example.org>",
	}, "\n\n"))
	problems, err := checkRepo(root)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(problems, "\n")
	for _, want := range []string{
		"missing.md: no such file",
		"guide.md#no-such-heading: no heading",
		"https://github.com/minirtc/minirtc: points outside",
		"../../outside.md: leaves the repository",
		"internal design notes",
		"/docs/guide.md: absolute path",
		"http://agora.io: points outside",
		"https://www.agora.io: a URL outside",
		"https://example.org: points outside",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no problem reported for %q; got:\n%s", want, got)
		}
	}
	if len(problems) != 9 {
		t.Errorf("%d problems, want 9:\n%s", len(problems), got)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Why must web and native apps send H.264, not VP8?": "why-must-web-and-native-apps-send-h264-not-vp8",
		"904":                                "904",
		"1. A domain name and a certificate": "1-a-domain-name-and-a-certificate",
		"The `known_speakers` field":         "the-known_speakers-field",
		"Link [here](x.md) too":              "link-here-too",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}
