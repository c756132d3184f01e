// Command minirtc is a self-hosted real-time audio/video server for WeChat
// mini programs, browsers and native apps.
//
// Usage:
//
//	minirtc [serve] [flags]     run the server (the default command)
//	minirtc app create|list|disable|enable ...
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
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors that already printed their usage text.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		ctx, stop := signalContext()
		defer stop()
		err = serveCmd(ctx, args, stdout, stderr)
	case "app":
		err = appCmd(args, stdout, stderr)
	case "token":
		err = tokenCmd(args, stdout, stderr)
	case "bench":
		ctx, stop := signalContext()
		defer stop()
		err = benchCmd(ctx, args, stdout, stderr)
	case "version":
		err = versionCmd(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "minirtc: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		// One line, even for several problems (errors.Join).
		fmt.Fprintf(stderr, "minirtc %s: %s\n", cmd, strings.ReplaceAll(err.Error(), "\n", "; "))
		return 1
	}
}

const usage = `minirtc — real-time audio/video for WeChat mini programs, browsers and native apps

Commands:
  serve    run the server (default)          minirtc serve --help
  app      manage apps                       minirtc app create|list|disable|enable
  token    build and inspect access tokens   minirtc token build|inspect
  bench    load generator and measurements   minirtc bench --help
  version  print the version
`

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

func newFlagSet(name string, stderr io.Writer, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\nflags:\n", help)
		fs.PrintDefaults()
	}
	return fs
}

func versionCmd(stdout io.Writer) error {
	fmt.Fprintf(stdout, "minirtc %s\n", nodeVersion())
	return nil
}
