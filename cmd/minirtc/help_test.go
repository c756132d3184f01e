package main

import (
	"strings"
	"testing"
)

// TestHelpEverywhere: a bare minirtc, minirtc help, and --help on every
// command and subcommand print help with a usage line and examples to
// stdout and exit 0; nothing starts a server.
func TestHelpEverywhere(t *testing.T) {
	cases := [][]string{
		{},
		{"help"},
		{"--help"},
		{"-h"},
		{"help", "serve"},
		{"serve", "--help"},
		{"url", "--help"},
		{"help", "url"},
		{"app", "--help"},
		{"app", "create", "--help"},
		{"app", "list", "--help"},
		{"token", "--help"},
		{"help", "token"},
		{"token", "build", "--help"},
		{"token", "inspect", "--help"},
		{"token", "serve", "--help"},
		{"help", "token", "serve"},
		{"bench", "--help"},
		{"version", "--help"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			out, errOut, code := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if !strings.Contains(out, "minirtc") {
				t.Fatalf("no help on stdout: %q (stderr %q)", out, errOut)
			}
			if len(args) > 0 && args[len(args)-1] == "--help" && args[0] != "version" && !strings.Contains(out, "Examples:") && !strings.Contains(out, "Commands:") {
				t.Errorf("help without examples:\n%s", out)
			}
		})
	}
	// The overview names every command with a description.
	out, _, _ := runCLI(t)
	for _, c := range commands() {
		if !strings.Contains(out, "  "+c.name+" ") || c.summary == "" {
			t.Errorf("overview lacks %q:\n%s", c.name, out)
		}
	}
	// Flags that exist show up in the command's help.
	out, _, _ = runCLI(t, "serve", "--help")
	for _, f := range []string{"-dev", "-data-dir", "-http-addr", "-rtmp-addr", "-webrtc-addr", "-public-ip", "-public-host", "-tls-cert", "-tls-key", "-print-config", "-config", "-log-level"} {
		if !strings.Contains(out, f) {
			t.Errorf("serve --help lacks %s", f)
		}
	}
}

// TestUsageErrors: a command group without a subcommand, or an unknown one,
// lists the subcommands on stderr and exits 2.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"token"}, "build"},
		{[]string{"token", "frob"}, "unknown subcommand"},
		{[]string{"app"}, "create"},
		{[]string{"--data-dir", "x"}, "flags go after the command"},
		{[]string{"help", "nope"}, "unknown command"},
	} {
		_, errOut, code := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}
