package webdemo

import (
	"embed"
	"io/fs"
)

//go:embed index.html app.js style.css
var files embed.FS

// FS returns the demo page's files at its root (index.html, app.js, style.css).
func FS() fs.FS { return files }
