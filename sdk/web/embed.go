package websdk

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed src/*.js src/*.d.ts
var files embed.FS

// FS returns the SDK files at its root: minirtc-web-sdk.js (the entry
// module), the modules it imports and minirtc-web-sdk.d.ts.
func FS() (fs.FS, error) {
	sub, err := fs.Sub(files, "src")
	if err != nil {
		return nil, fmt.Errorf("websdk: %w", err)
	}
	return sub, nil
}
