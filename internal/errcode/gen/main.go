// Command gen writes docs/error-codes.md and the JavaScript SDKs' catalogue
// module sdk/core/errors.js from the errcode package in the current
// directory. It is run by go generate ./internal/errcode:
//
//	go run ./gen -o ../../docs/error-codes.md -js ../../sdk/core/errors.js
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/minirtc/minirtc/internal/errcode/internal/errdoc"
)

func main() {
	out := flag.String("o", "../../docs/error-codes.md", "Markdown page to write")
	js := flag.String("js", "../../sdk/core/errors.js", "JavaScript catalogue module to write (empty: none)")
	dir := flag.String("dir", ".", "directory of the errcode package")
	flag.Parse()
	if err := errdoc.WriteFile(*dir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "errcode/gen:", err)
		os.Exit(1)
	}
	if *js != "" {
		if err := errdoc.WriteJS(*dir, *js); err != nil {
			fmt.Fprintln(os.Stderr, "errcode/gen:", err)
			os.Exit(1)
		}
	}
}
