// Package websdk embeds the browser SDK and its demo page so that the node
// can serve them: the SDK bundle (dist/, built by esbuild from src/ and the
// protocol core in ../core/ shared with the mini program SDK) at /sdk/, and
// the demo page (demo/) at /demo/. The JavaScript itself is developed,
// built and tested with npm in this directory; this package only exposes
// the files.
//
// It imports nothing from minirtc and holds no state besides the embedded,
// read-only files; it starts no goroutines.
package websdk
