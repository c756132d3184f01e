package websdk

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed dist/minirtc-web-sdk.js dist/minirtc-web-sdk.d.ts
var files embed.FS

//go:embed demo/index.html demo/app.js demo/whep.js demo/style.css
var demo embed.FS

// FS returns the SDK files at its root: minirtc-web-sdk.js (the ES module
// esbuild bundles from src/ and the shared core in ../core/, with no
// imports) and minirtc-web-sdk.d.ts.
func FS() (fs.FS, error) {
	sub, err := fs.Sub(files, "dist")
	if err != nil {
		return nil, fmt.Errorf("websdk: %w", err)
	}
	return sub, nil
}

// DemoFS returns the demo page's files at its root (index.html, app.js,
// whep.js, style.css): the page joins a channel with the SDK, which it
// loads from /sdk/minirtc-web-sdk.js through an import map, and has a bare
// WHIP/WHEP test mode (whep.js) for checking a deployment without signaling.
func DemoFS() (fs.FS, error) {
	sub, err := fs.Sub(demo, "demo")
	if err != nil {
		return nil, fmt.Errorf("websdk: demo: %w", err)
	}
	return sub, nil
}
