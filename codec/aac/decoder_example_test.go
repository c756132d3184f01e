package aac_test

import (
	"fmt"
	"os"

	"github.com/minirtc/minirtc/codec/aac"
)

// Decode an ADTS file: split it into frames, make a decoder from the first
// header, then decode each frame's raw data block.
func ExampleDecoder() {
	data, err := os.ReadFile("testdata/stereo48k.aac")
	if err != nil {
		panic(err)
	}
	frames, err := aac.SplitADTS(data)
	if err != nil {
		panic(err)
	}
	dec, err := aac.NewDecoderConfig(frames[0].Header.Config())
	if err != nil {
		panic(err)
	}
	cfg := dec.Config()
	samples := 0
	for _, f := range frames {
		pcm, err := dec.Decode(f.Payload) // valid until the next call
		if err != nil {
			panic(err)
		}
		samples += len(pcm) / cfg.Channels
	}
	fmt.Printf("%d Hz, %d channels, %d frames, %d samples per channel\n",
		cfg.SampleRate, cfg.Channels, len(frames), samples)
	// Output: 48000 Hz, 2 channels, 25 frames, 25600 samples per channel
}

// An AudioSpecificConfig as found in MP4, FLV or SDP.
func ExampleParseAudioSpecificConfig() {
	cfg, err := aac.ParseAudioSpecificConfig([]byte{0x12, 0x10})
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.ObjectType, cfg.SampleRate, cfg.Channels)
	// Output: 2 44100 2
}
