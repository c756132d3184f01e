package aac_test

import (
	"fmt"
	"math"

	"github.com/minirtc/minirtc/codec/aac"
)

// Encode one second of a 440 Hz tone as 48 kHz mono AAC-LC at 64 kbit/s.
func ExampleEncoder() {
	enc, err := aac.NewEncoder(aac.EncoderConfig{SampleRate: 48000, Channels: 1, Bitrate: 64000})
	if err != nil {
		panic(err)
	}
	fmt.Printf("config % x\n", enc.AudioSpecificConfig())
	pcm := make([]float32, 48000)
	for i := range pcm {
		pcm[i] = float32(0.5 * math.Sin(2*math.Pi*440*float64(i)/48000))
	}
	units := 0
	aus, err := enc.Encode(pcm)
	if err != nil {
		panic(err)
	}
	units += len(aus) // the slices are only valid until the next call: send or copy them now
	aus, err = enc.Flush()
	if err != nil {
		panic(err)
	}
	units += len(aus)
	fmt.Println("access units:", units)
	// Output:
	// config 11 88
	// access units: 48
}
