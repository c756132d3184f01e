package diag

import "errors"

// ErrTooLarge is returned by WriteLog when an upload exceeds Config.MaxLogBytes
// or Config.MaxLogLines.
var ErrTooLarge = errors.New("diag: log upload too large")

// ErrInvalid is returned by WriteLog for an upload whose identity cannot be
// stored (empty app id, channel longer than MaxChannelBytes).
var ErrInvalid = errors.New("diag: invalid log upload")

// ErrNotFound is returned by ReadLog when the file does not exist.
var ErrNotFound = errors.New("diag: no such log")
