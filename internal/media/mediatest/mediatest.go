// Package mediatest holds what the egress adapters' benchmarks share: a
// synthetic live publisher with the benchmark profile (500 kbit/s
// H.264 at 25 fps with a 2 s GOP, 64 kbit/s AAC), process CPU and memory
// probes, and the fan-out measurement (MeasureFanout, with its reader child
// process RunFanoutChild). It is imported by tests and benchmarks only.
//
// It imports internal/media only. PublishSynthetic runs on its caller's
// goroutine until the context ends; MeasureFanout runs the publisher on a
// goroutine it waits for, and RunFanoutChild one goroutine per reader, all
// ended before it returns.
package mediatest

import (
	"context"
	"runtime"
	"time"

	"github.com/minirtc/minirtc/internal/media"
)

// Video is a baseline H.264 track (320x240, 25 fps) whose SPS/PPS real
// clients can parse.
var Video = &media.Track{Codec: media.CodecH264,
	SPS: [][]byte{{0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80}},
	PPS: [][]byte{{0x68, 0xcb, 0x83, 0xcb, 0x20}}, Width: 320, Height: 240, FrameRate: 25}

// Audio is an AAC-LC track, 44.1 kHz stereo.
var Audio = &media.Track{Codec: media.CodecAAC, Config: []byte{0x12, 0x10}, SampleRate: 44100, Channels: 2}

// PublishSynthetic writes a 500 kbit/s H.264 (25 fps, 2 s GOP) + 64 kbit/s
// AAC stream into the hub in real time until ctx ends.
func PublishSynthetic(ctx context.Context, pub *media.Publisher) {
	pub.SetTracks(Video, Audio)
	avcc := func(n int) []byte {
		b := make([]byte, n)
		b[0], b[1], b[2], b[3] = byte((n-4)>>24), byte((n-4)>>16), byte((n-4)>>8), byte(n-4) //nolint:gosec // G115: big-endian length bytes, truncation intended
		return b
	}
	key, inter, aac := avcc(25000), avcc(2040), make([]byte, 186)
	key[4], inter[4] = 0x65, 0x41 // IDR and non-IDR slice NAL headers
	start := time.Now()
	var v, a int
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		// Write what is due, then sleep until the next frame, as an encoder
		// pushing in real time would (about 68 packets a second).
		now := time.Since(start)
		vt := time.Duration(v) * 40 * time.Millisecond
		at := time.Duration(a) * 1024 * time.Second / 44100
		for ; vt <= now; vt = time.Duration(v) * 40 * time.Millisecond {
			payload := inter
			if v%50 == 0 {
				payload = key
			}
			_ = pub.Write(&media.Packet{Track: Video, DTS: vt, PTS: vt, Keyframe: v%50 == 0, Payload: payload})
			v++
		}
		for ; at <= now; at = time.Duration(a) * 1024 * time.Second / 44100 {
			_ = pub.Write(&media.Packet{Track: Audio, DTS: at, PTS: at, Keyframe: true, Payload: aac})
			a++
		}
		timer.Reset(min(vt, at) - time.Since(start))
	}
}

// LiveBytes is the heap and stack in use after a garbage collection.
func LiveBytes() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}
