// Command gen writes docs/error-codes.md from the errcode package in the
// current directory. It is run by go generate ./internal/errcode:
//
//	go run ./gen -o ../../docs/error-codes.md
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/minirtc/minirtc/internal/errcode/internal/errdoc"
)

func main() {
	out := flag.String("o", "../../docs/error-codes.md", "file to write")
	dir := flag.String("dir", ".", "directory of the errcode package")
	flag.Parse()
	if err := errdoc.WriteFile(*dir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "errcode/gen:", err)
		os.Exit(1)
	}
}
