// Package webdemo embeds the web demo page (index.html, app.js, style.css)
// that minirtc serve shows at /demo/: a browser joins a channel with the
// web SDK (served at /sdk/), publishes its camera and microphone and plays
// every other publisher, mini programs included. The page needs no build
// step; it loads the SDK through an import map.
//
// It imports nothing from minirtc, holds no state besides the embedded,
// read-only files and starts no goroutines.
package webdemo
