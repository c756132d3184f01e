package aac

import "errors"

// Errors callers may branch on. Every error returned by the parsers, the
// decoder and the encoder wraps one of them (or is a documented argument
// error of the encoder).
var (
	// ErrUnsupported is returned for valid streams or settings that use tools
	// or layouts this package does not implement: AAC Main, SSR and LTP,
	// explicitly signalled SBR/PS (HE-AAC), more than two channels, 960-sample
	// frames, coupling channel and LFE elements, ADTS CRC with several blocks.
	ErrUnsupported = errors.New("aac: unsupported stream")
	// ErrInvalid is returned for malformed configurations, ADTS headers and
	// access units: the message names the field and the numbers.
	ErrInvalid = errors.New("aac: invalid data")
)
