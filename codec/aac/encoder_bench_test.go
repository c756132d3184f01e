package aac

import (
	"testing"
)

// BenchmarkEncode measures the encoder on 48 kHz stereo at 128 kbit/s with
// the synthetic music signal, one access unit (1024 sample frames) per
// iteration, and reports the speed as a multiple of real time.
func BenchmarkEncode(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  EncoderConfig
	}{
		{"48k-stereo-128k", EncoderConfig{SampleRate: 48000, Channels: 2, Bitrate: 128000}},
		{"48k-mono-64k", EncoderConfig{SampleRate: 48000, Channels: 1, Bitrate: 64000}},
	} {
		b.Run(c.name, func(b *testing.B) {
			const seconds = 4
			pcm := encMusic(c.cfg.Channels)(nil, "", c.cfg.SampleRate, seconds)
			e, err := NewEncoder(c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			step := FrameLength * c.cfg.Channels
			frames := len(pcm) / step
			// Warm up so that the look-ahead is filled and buffers have grown.
			for i := 0; i < 4; i++ {
				if _, err := e.Encode(pcm[i*step : (i+1)*step]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			cpu0 := processCPUSeconds()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := (i + 4) % frames
				if _, err := e.Encode(pcm[k*step : (k+1)*step]); err != nil {
					b.Fatal(err)
				}
			}
			audio := float64(b.N) * FrameLength / float64(c.cfg.SampleRate)
			b.ReportMetric(audio/b.Elapsed().Seconds(), "x-realtime")
			if cpu := processCPUSeconds() - cpu0; cpu > 0 && cpu0 > 0 {
				b.ReportMetric(audio/cpu, "x-realtime-cpu")
			}
		})
	}
}
