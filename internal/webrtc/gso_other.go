//go:build !linux

package webrtc

// Without Linux UDP segmentation offload every datagram is its own message.
const (
	gsoSupported   = false
	maxGSOSegments = 1
)

var gsoOOBSpace = 0

func appendUDPSegment(b []byte, _ int) []byte { return b }

func gsoRefused(error) bool { return false }
