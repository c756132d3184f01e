// Package reexec runs the test binary itself as a second process, for tests
// and benchmarks whose peers must live in another process (the viewers of
// the loopback floor benchmarks, whose receive work the kernel charges to
// the sender as it does for `minirtc bench`'s readers). The child finds its
// role in the environment, in the package's TestMain.
package reexec

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
)

// Start runs the test binary with env (KEY=VALUE) added to this process's
// environment, its standard error shared, and returns its standard output.
// The child is killed when tb's test ends.
func Start(tb testing.TB, env ...string) *bufio.Reader {
	tb.Helper()
	cmd := exec.Command(os.Args[0]) //nolint:gosec // G204: the test binary itself
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return bufio.NewReader(out)
}
