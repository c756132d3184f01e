package diag

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testApp = "0123456789abcdef0123456789abcdef"

// files returns every regular file under dir, relative, with its size.
func files(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			info, _ := d.Info()
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = info.Size()
		}
		return nil
	})
	return out
}

func TestWriteLog(t *testing.T) {
	dir := t.TempDir()
	s, clk := newStore(t, Config{Dir: dir})
	f, err := s.WriteLog(Upload{App: testApp, Channel: "room-1", UID: 1015, SID: "AB12", SDKVersion: "0.1.0",
		ClientType: "wechat", Device: "iPhone 13", OS: "iOS 17.2", ClientTS: 1795633765000, Remote: "10.0.0.1:5000",
		Lines: []string{"10:00:00.000 [minirtc INFO] joined room-1 as 1015", "two\nlines\r", "esc \x1b[31mred\x1b[0m\ttab"}})
	if err != nil {
		t.Fatal(err)
	}
	wantName := "cm9vbS0x_1015_" + "1795687200000" + ".log" // base64url("room-1"), clock ms
	if f.Name != wantName || f.Day != "2026-11-26" || f.Channel != "room-1" || f.UID != 1015 || !f.Received.Equal(clk.now()) {
		t.Fatalf("%+v", f)
	}
	got := files(t, dir)
	path := testApp + "/2026-11-26/" + wantName
	if len(got) != 1 || got[path] != f.Size {
		t.Fatalf("files %v, want %s (%d bytes)", got, path, f.Size)
	}
	b, err := s.ReadLog(testApp, "2026-11-26", wantName)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines: %q", len(lines), b)
	}
	var hdr map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr["app"] != testApp || hdr["channel"] != "room-1" || hdr["uid"] != 1015.0 || hdr["device"] != "iPhone 13" ||
		hdr["sid"] != "AB12" || hdr["lines"] != 3.0 || hdr["received"] != "2026-11-26T10:00:00Z" || hdr["remote"] != "10.0.0.1:5000" {
		t.Fatalf("header %v", hdr)
	}
	if lines[2] != `two\nlines\r` || lines[3] != `esc \u001b[31mred\u001b[0m`+"\ttab" {
		t.Fatalf("lines not sanitized: %q", lines[1:])
	}
	list, err := s.Logs(testApp, "2026-11-26")
	if err != nil || len(list) != 1 || list[0] != f {
		t.Fatalf("%v %+v", err, list)
	}
	// The same member in the same millisecond gets another file.
	f2, err := s.WriteLog(Upload{App: testApp, Channel: "room-1", UID: 1015})
	if err != nil || f2.Name == f.Name {
		t.Fatalf("%v %+v", err, f2)
	}
}

func TestWriteLogLimits(t *testing.T) {
	s, _ := newStore(t, Config{Dir: t.TempDir(), MaxLogBytes: 100, AppDayBytes: 1000, MaxLogLines: 3, MaxLineBytes: 10})
	tests := []struct {
		name string
		u    Upload
		err  error
	}{
		{"too many lines", Upload{App: testApp, Lines: []string{"a", "b", "c", "d"}}, ErrTooLarge},
		{"too many bytes", Upload{App: testApp, Lines: []string{strings.Repeat("x", 60), strings.Repeat("y", 41)}}, ErrTooLarge},
		{"no app", Upload{Lines: []string{"a"}}, ErrInvalid},
		{"channel too long", Upload{App: testApp, Channel: strings.Repeat("c", MaxChannelBytes+1)}, ErrInvalid},
		{"at the limits", Upload{App: testApp, Channel: strings.Repeat("c", MaxChannelBytes), UID: 4294967295,
			Lines: []string{strings.Repeat("x", 60), strings.Repeat("y", 30), "z"}}, nil},
		{"empty", Upload{App: testApp}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.WriteLog(tc.u)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
		})
	}
	// Long lines are cut at a rune boundary, with a mark.
	if got := sanitizeLine("ab€€€", 4); got != "ab …[9 bytes cut]" {
		t.Fatalf("%q", got)
	}
	if got := sanitizeLine("bad \xff utf8", 100); got != "bad \uFFFD utf8" {
		t.Fatalf("%q", got)
	}
	if _, err := (&Store{cfg: Config{}.withDefaults()}).WriteLog(Upload{App: testApp}); err == nil {
		t.Fatal("write without a directory")
	}
}

// Client strings never become paths: every file lands at
// {dir}/{app dir}/{day}/{name} and the name decodes back to the identity.
func TestWriteLogNoTraversal(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "logs")
	s, _ := newStore(t, Config{Dir: base})
	for _, tc := range []struct{ app, channel string }{
		{testApp, "../../../../etc/passwd"},
		{testApp, "/etc/passwd"},
		{testApp, ".."},
		{testApp, "."},
		{testApp, "a/b\\c"},
		{testApp, "nul\x00byte"},
		{testApp, "中文 channel!"},
		{testApp, ""},
		{"../../escape", "room"},
		{"..", "room"},
		{".", "room"},
		{"a/b", "room"},
		{"_x", "room"},
		{strings.Repeat("a", 65), "room"},
		{"a\x00", "room"},
	} {
		f, err := s.WriteLog(Upload{App: tc.app, Channel: tc.channel, UID: 5, Lines: []string{"x"}})
		if err != nil {
			t.Fatalf("%q %q: %v", tc.app, tc.channel, err)
		}
		if ch, uid, _, ok := parseLogName(f.Name); !ok || ch != tc.channel || uid != 5 {
			t.Fatalf("%q does not decode to %q", f.Name, tc.channel)
		}
		if b, err := s.ReadLog(tc.app, f.Day, f.Name); err != nil || !bytes.Contains(b, []byte("\nx\n")) {
			t.Fatalf("%q %q: read back %v", tc.app, tc.channel, err)
		}
	}
	got := files(t, dir)
	for p := range got {
		parts := strings.Split(p, "/")
		if len(parts) != 4 || parts[0] != "logs" || parts[2] != "2026-11-26" || parts[1] == ".." || parts[1] == "." {
			t.Fatalf("file outside the layout: %s", p)
		}
	}
	if len(got) != 15 {
		t.Fatalf("%d files: %v", len(got), got)
	}
	// Names that Logs cannot return are not read, even if they exist.
	os.WriteFile(filepath.Join(dir, "secret.log"), []byte("secret"), 0o600)
	for _, name := range []string{"../../secret.log", "../secret.log", "/etc/passwd", "x.log", "", "cm9vbQ_01_5.log"} {
		if _, err := s.ReadLog(testApp, "2026-11-26", name); !errors.Is(err, ErrNotFound) {
			t.Errorf("ReadLog(%q): %v", name, err)
		}
	}
	for _, day := range []string{"../..", "2026-11-26/..", "2026-13-01", ""} {
		if _, err := s.ReadLog(testApp, day, "cm9vbQ_5_1.log"); !errors.Is(err, ErrNotFound) {
			t.Errorf("ReadLog day %q: %v", day, err)
		}
		if l, err := s.Logs(testApp, day); err != nil || l != nil {
			t.Errorf("Logs day %q: %v %v", day, l, err)
		}
	}
}

// A symlink planted inside the log directory cannot redirect writes outside it.
func TestWriteLogSymlinkStaysInside(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	base := filepath.Join(dir, "logs")
	os.MkdirAll(filepath.Join(base, testApp), 0o755)
	if err := os.Symlink(outside, filepath.Join(base, testApp, "2026-11-26")); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t, Config{Dir: base})
	if _, err := s.WriteLog(Upload{App: testApp, Channel: "room", UID: 1, Lines: []string{"x"}}); err == nil {
		t.Fatal("write through a symlink to outside succeeded")
	}
	if got := files(t, outside); len(got) != 0 {
		t.Fatalf("written outside: %v", got)
	}
}

func TestAppDayBudgetPrunesOldest(t *testing.T) {
	dir := t.TempDir()
	s, clk := newStore(t, Config{Dir: dir, MaxLogBytes: 1000, AppDayBytes: 3100})
	line := strings.Repeat("x", 900)
	var written []LogFile
	for i := range 6 {
		f, err := s.WriteLog(Upload{App: testApp, Channel: "room", UID: uint32(i + 1), Lines: []string{line}})
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, f)
		clk.add(time.Millisecond)
	}
	// another app has its own budget
	if _, err := s.WriteLog(Upload{App: "other", Channel: "room", UID: 1, Lines: []string{line}}); err != nil {
		t.Fatal(err)
	}
	list, err := s.Logs(testApp, "2026-11-26")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range list {
		total += f.Size
	}
	if total > 3100 || len(list) != 3 {
		t.Fatalf("%d files, %d bytes (budget 3100)", len(list), total)
	}
	for i, f := range list { // the newest three are kept, oldest first
		if f.Name != written[3+i].Name {
			t.Fatalf("kept %s, want %s", f.Name, written[3+i].Name)
		}
	}
	if o, _ := s.Logs("other", "2026-11-26"); len(o) != 1 {
		t.Fatalf("other app: %+v", o)
	}
	// A new store (restart) finds the day's use on disk.
	s2, err := New(Config{Dir: dir, MaxLogBytes: 1000, AppDayBytes: 3100, Now: clk.now}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.WriteLog(Upload{App: testApp, Channel: "room", UID: 9, Lines: []string{line}}); err != nil {
		t.Fatal(err)
	}
	if list, _ := s2.Logs(testApp, "2026-11-26"); len(list) != 3 || list[0].Name != written[4].Name {
		t.Fatalf("after restart: %+v", list)
	}
}

func TestRetentionRemovesOldDays(t *testing.T) {
	dir := t.TempDir()
	s, clk := newStore(t, Config{Dir: dir, RetentionDays: 2})
	write := func(app string) {
		if _, err := s.WriteLog(Upload{App: app, Channel: "room", UID: 1, Lines: []string{"x"}}); err != nil {
			t.Fatal(err)
		}
	}
	write(testApp)
	write("quiet") // this app never uploads again: its old days go too
	os.MkdirAll(filepath.Join(dir, testApp, "not-a-day"), 0o755)
	clk.add(24 * time.Hour)
	write(testApp)
	if l, _ := s.Logs(testApp, "2026-11-26"); len(l) != 1 {
		t.Fatalf("yesterday is within a 2-day retention: %+v", l)
	}
	clk.add(24 * time.Hour)
	write(testApp)
	for _, app := range []string{testApp, "quiet"} {
		if _, err := os.Stat(filepath.Join(dir, app, "2026-11-26")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: day out of retention kept: %v", app, err)
		}
	}
	for _, p := range []string{"2026-11-27", "2026-11-28", "not-a-day"} {
		if _, err := os.Stat(filepath.Join(dir, testApp, p)); err != nil {
			t.Fatalf("%s removed: %v", p, err)
		}
	}
}

// FuzzLogName: any channel, uid and time give one plain file name (no
// separator, no dot name) that decodes back; parseLogName accepts only
// canonical names.
func FuzzLogName(f *testing.F) {
	f.Add("room-1", uint32(1015), int64(1795687200000), "cm9vbS0x_1015_1795687200000.log")
	f.Add("../../etc", uint32(0), int64(0), "../x.log")
	f.Add("_a_b_", uint32(4294967295), int64(1), "X19h_1_2.log")
	f.Add("", uint32(7), int64(5), "_7_5.log")
	f.Fuzz(func(t *testing.T, channel string, uid uint32, ms int64, other string) {
		if ms < 0 {
			ms = -ms
		}
		if ms < 0 {
			ms = 0
		}
		if len(channel) <= MaxChannelBytes {
			name := logName(channel, uid, ms)
			if strings.ContainsAny(name, "/\\\x00") || name == "." || name == ".." || len(name) > 255 {
				t.Fatalf("unsafe name %q", name)
			}
			ch, u, m, ok := parseLogName(name)
			if !ok || ch != channel || u != uid || m != ms {
				t.Fatalf("%q -> %q %d %d %v", name, ch, u, m, ok)
			}
		}
		if ch, u, m, ok := parseLogName(other); ok && logName(ch, u, m) != other {
			t.Fatalf("non-canonical %q accepted", other)
		}
		if d := appDir(other); strings.ContainsAny(d, "/\\\x00") || d == "." || d == ".." || d == "" {
			t.Fatalf("unsafe app dir %q for %q", d, other)
		}
		s := sanitizeLine(other, 64)
		if strings.ContainsAny(s, "\n\r\x1b") {
			t.Fatalf("control characters kept: %q", s)
		}
	})
}

// BenchmarkWriteLog: one SDK-sized upload (2000 lines of 100 bytes) per op;
// the per-day budget keeps pruning the oldest files.
func BenchmarkWriteLog(b *testing.B) {
	s, _ := newStore(b, Config{Dir: b.TempDir(), AppDayBytes: 16 << 20})
	lines := make([]string, 2000)
	for i := range lines {
		lines[i] = strings.Repeat("x", 90) + "\tline " + string(rune('a'+i%26))
	}
	b.SetBytes(2000 * 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.WriteLog(Upload{App: testApp, Channel: "room", UID: uint32(i), Lines: lines}); err != nil {
			b.Fatal(err)
		}
	}
}
