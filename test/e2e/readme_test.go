package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlock returns the lines of the first sh block under heading in the
// repository's README.md.
func readmeBlock(t *testing.T, root, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## "+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no section %q", heading)
	}
	m := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(s[i:])
	if m == nil {
		t.Fatalf("section %q has no sh block", heading)
	}
	var lines []string
	for _, l := range strings.Split(m[1], "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestREADMEStandalonePush runs the README's four standalone lines exactly as
// written, as a new user pastes them into a shell in a fresh clone: a
// development server, minirtc url, an ffmpeg push with only a token (no SDK
// member), and ffprobe playing it over HTTP-FLV. It runs in its own network
// namespace, so the fixed development ports are free, with TMPDIR pointing at
// a fresh directory (where serve --dev keeps its data).
func TestREADMEStandalonePush(t *testing.T) {
	for _, tool := range []string{"ffmpeg", "ffprobe", "unshare", "ip", "go", "bash"} {
		needTool(t, tool)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	lines := readmeBlock(t, root, "Push and play with ffmpeg in four lines")
	if len(lines) != 4 {
		t.Fatalf("the section has %d lines, want 4:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "readme.sh")
	if err := os.WriteFile(script, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// set -e as a careful user would notice any failing line; the script is
	// sourced so its background jobs stay in this shell's process group.
	cmd := exec.CommandContext(ctx, "unshare", "-n", "bash", "-c", `ip link set lo up && set -e && . "$0"`, script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	runErr := cmd.Run()
	// The server and ffmpeg were started in the background: end them.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	got, _ := os.ReadFile(out.Name())
	if runErr != nil {
		t.Fatalf("README lines failed: %v\n%s", runErr, got)
	}
	text := string(got)
	for _, want := range []string{"codec_name=h264|codec_type=video|width=640|height=360", "codec_name=aac|codec_type=audio"} {
		if !strings.Contains(text, want) {
			t.Fatalf("ffprobe of $FLV_PLAY does not show %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "stream|"); n != 2 {
		t.Fatalf("ffprobe shows %d streams, want 2:\n%s", n, text)
	}
}
