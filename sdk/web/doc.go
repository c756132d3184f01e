// Package websdk embeds the browser SDK (the minirtc-web-sdk npm package's
// ES module files in src/ and their type declarations) so that the node can
// serve it at /sdk/ for the demo page and for apps that load it from the
// server. The JavaScript itself is developed and tested with npm in this
// directory; this package only exposes the files.
//
// It imports nothing from minirtc and holds no state besides the embedded,
// read-only files; it starts no goroutines.
package websdk
