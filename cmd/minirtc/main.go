// Command minirtc is a self-hosted real-time audio/video server for WeChat
// mini programs, browsers and native apps.
//
// Usage:
//
//	minirtc [serve] [flags]     run the server (the default command)
//	minirtc app create|list|disable|enable ...
//	minirtc apikey create|list|delete ...
//	minirtc webhook add|list|remove ...
//	minirtc token build|inspect ...
//	minirtc bench [flags]       simulate users, measure a server
//	minirtc version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/minirtc/minirtc/internal/control"
	"github.com/minirtc/minirtc/internal/store"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors that already printed their usage text.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		// A bare minirtc explains itself; serving needs "minirtc serve".
		fmt.Fprint(stdout, overview())
		return 0
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return helpCmd(rest, stdout, stderr)
	}
	c := lookup(name)
	if c == nil {
		hint := ""
		if strings.HasPrefix(name, "-") {
			hint = "flags go after the command, e.g. minirtc serve " + name + "\n"
		}
		fmt.Fprintf(stderr, "minirtc: unknown command %q\n%s\n%s", name, hint, overview())
		return 2
	}
	ctx, stop := signalContext()
	defer stop()
	err := c.run(ctx, rest, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		// One line, even for several problems (errors.Join).
		fmt.Fprintf(stderr, "minirtc %s: %s\n", name, strings.ReplaceAll(err.Error(), "\n", "; "))
		return 1
	}
}

// command is one of minirtc's top-level commands.
type command struct {
	name    string
	summary string // one line, for the overview
	// help is the command's own page: usage lines, what it does, examples.
	// Commands with subcommands list them here.
	help string
	run  func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists every top-level command in the order help shows them.
func commands() []command {
	return []command{
		{name: "serve", summary: "run the server", help: serveHelp,
			run: serveCmd},
		{name: "url", summary: "print ready push and play URLs (RTMP, HTTP-FLV, WHIP, WHEP) for a channel and uid", help: urlHelp,
			run: func(_ context.Context, args []string, stdout, stderr io.Writer) error {
				return urlCmd(args, stdout, stderr)
			}},
		{name: "app", summary: "create, list, disable and enable apps", help: appHelp,
			run: func(_ context.Context, args []string, stdout, stderr io.Writer) error {
				return appCmd(args, stdout, stderr)
			}},
		{name: "apikey", summary: "create, list and delete REST API keys", help: apikeyHelp,
			run: func(_ context.Context, args []string, stdout, stderr io.Writer) error {
				return apikeyCmd(args, stdout, stderr)
			}},
		{name: "webhook", summary: "add, list and remove an app's webhook endpoints", help: webhookHelp,
			run: func(_ context.Context, args []string, stdout, stderr io.Writer) error {
				return webhookCmd(args, stdout, stderr)
			}},
		{name: "token", summary: "build and inspect access tokens, run a token server", help: tokenHelp,
			run: tokenCmd},
		{name: "bench", summary: "simulate users and measure a server", help: benchUsage,
			run: benchCmd},
		{name: "doctor", summary: "check a deployment (TLS, domains, proxy, RTMP, ICE, clock, tokens) and say what to fix", help: doctorHelp,
			run: doctorCmd},
		{name: "version", summary: "print the version", help: "minirtc version\n\nPrints the version of this binary.\n",
			run: func(_ context.Context, _ []string, stdout, _ io.Writer) error { return versionCmd(stdout) }},
		{name: "help", summary: "show help for a command", help: "minirtc help [COMMAND [SUBCOMMAND]]\n\nThe same as minirtc COMMAND [SUBCOMMAND] --help.\n"},
	}
}

func lookup(name string) *command {
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return &c
		}
	}
	return nil
}

// overview is the text of "minirtc help".
func overview() string {
	var b strings.Builder
	b.WriteString(`minirtc — real-time audio/video for WeChat mini programs, browsers and native apps

Usage:
  minirtc COMMAND [SUBCOMMAND] [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Start here:
  minirtc serve --dev        a local server on 127.0.0.1 with a development app and ready URLs
  minirtc serve              the server with its defaults (all interfaces, data in ./minirtc-data)
  minirtc COMMAND --help     flags and examples of one command

Documentation: docs/ in the source tree.
`)
	return b.String()
}

// helpCmd answers "minirtc help [COMMAND [SUBCOMMAND]]" as COMMAND [SUBCOMMAND] --help would.
func helpCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, overview())
		return 0
	}
	if lookup(args[0]) == nil {
		fmt.Fprintf(stderr, "minirtc help: unknown command %q\n\n%s", args[0], overview())
		return 2
	}
	return run(append(append([]string{}, args...), "--help"), stdout, stderr)
}

// wantsHelp reports whether args ask for help before anything else.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "help":
			return true
		}
	}
	return false
}

// subcommand is one subcommand of a command group (app, token).
type subcommand struct {
	name, summary string
}

// groupHelp is the help page of a command with subcommands.
func groupHelp(name, what string, subs []subcommand, examples string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "minirtc %s SUBCOMMAND [flags]\n\n%s\n\nSubcommands:\n", name, what)
	for _, s := range subs {
		fmt.Fprintf(&b, "  %-8s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(&b, "\nRun minirtc %s SUBCOMMAND --help for its flags.\n\nExamples:\n%s", name, examples)
	return b.String()
}

// signalContext is cancelled by the first SIGINT/SIGTERM; a second one exits
// at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
			return
		}
		select {
		case <-ch:
			fmt.Fprintln(os.Stderr, "minirtc: second signal, exiting now")
			os.Exit(1)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// parseFlags parses flags that may come before, between or after positional
// arguments, and returns the positional ones.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// newFlagSet makes a command's flag set. help is the command's page (usage
// lines, description, examples); -h/--help prints it and the flags to stdout,
// a flag error prints them to stderr.
func newFlagSet(name string, stderr io.Writer, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: %s\n", strings.TrimRight(help, "\n"))
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprint(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseCommandFlags is parseFlags that prints help to stdout when asked.
func parseCommandFlags(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, flag.ErrHelp
		}
	}
	return parseFlags(fs, args)
}

func versionCmd(stdout io.Writer) error {
	fmt.Fprintf(stdout, "minirtc %s\n", nodeVersion())
	return nil
}

// reachServer gives a command what it needs from the server whose data
// directory is dataDir: its control socket while it runs (online), else its
// store file opened directly (offline; the store is locked by a running
// server). The returned func releases it.
func reachServer[T any](ctx context.Context, dataDir string, online func(*control.Client) T, offline func(store.Store) T) (T, func(), error) {
	var zero T
	c, err := control.Dial(ctx, dataDir)
	if err == nil {
		return online(c), c.Close, nil
	}
	if !errors.Is(err, control.ErrNoServer) {
		return zero, nil, err
	}
	st, err := store.OpenBolt(filepath.Join(dataDir, "minirtc.db"))
	if err != nil {
		return zero, nil, err
	}
	// Closing the store only releases its lock and mapping: every write was
	// committed and synced by its own transaction, so there is nothing to report.
	return offline(st), func() { _ = st.Close() }, nil
}

// subcommandOf reads the subcommand of a command group such as app, apikey
// or webhook: no arguments print the group's help as a usage error, help
// prints it, an unknown subcommand is a usage error. done is true when
// nothing is left to do.
func subcommandOf(name, help string, known map[string]string, args []string, stdout, stderr io.Writer) (sub string, done bool, err error) {
	switch {
	case len(args) == 0:
		fmt.Fprint(stderr, help)
		return "", true, errUsage
	case wantsHelp(args[:1]):
		fmt.Fprint(stdout, help)
		return "", true, nil
	}
	if _, ok := known[args[0]]; !ok {
		fmt.Fprintf(stderr, "minirtc %s: unknown subcommand %q\n\n%s", name, args[0], help)
		return "", true, errUsage
	}
	return args[0], false, nil
}
