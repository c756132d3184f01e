package main

import (
	"context"
	"fmt"
	"io"
)

// benchCmd runs the load generator (minirtc bench).
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	_ = ctx
	_ = args
	_ = stdout
	fmt.Fprintln(stderr, "minirtc bench: not implemented yet")
	return errUsage
}
