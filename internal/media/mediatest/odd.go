package mediatest

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/minirtc/minirtc/internal/media"
)

// OddPackets decodes fuzz input (at most maxPkts packets) into tracks and packets. Each record is a
// flags byte (low bits: codec; bit 4: new track; bit 5: keyframe; bit 6: the
// payload repeated to about length KiB, for up to 4 packets), a config
// length and that many config bytes when a new track starts, an 8-byte DTS,
// a signed 1-byte PTS offset in ms, a payload length and the payload.
// The tracks are what a writer may meet: configurations of garbage or
// nothing (H.264 parameter sets cut from the config bytes), empty payloads,
// timestamps up to 2^62 ns and in any order, PTS from DTS to DTS+127 ms, a
// new track on any packet. video and audio are the first track of each
// kind (the stream's tracks when a reader joins).
func OddPackets(data []byte, maxPkts int) (video, audio *media.Track, pkts []*media.Packet) {
	codecs := []media.Codec{media.CodecH264, media.CodecH265, media.CodecAAC, media.CodecOpus}
	cur := [2]*media.Track{}
	big := 0 // large payloads so far (at most 4: the input stays fast)
	take := func(n int) []byte {
		n = min(n, len(data))
		b := data[:n]
		data = data[n:]
		return b
	}
	for len(data) > 0 && len(pkts) < maxPkts {
		flags := take(1)[0]
		codec := codecs[flags&3]
		k := codec.Kind()
		if cur[k] == nil || cur[k].Codec != codec || flags&0x10 != 0 {
			var cfg []byte
			if b := take(1); len(b) == 1 {
				cfg = take(int(b[0]))
			}
			tr := &media.Track{Codec: codec, Config: bytes.Clone(cfg)}
			if codec == media.CodecH264 && len(cfg) > 0 {
				// Parameter sets of garbage instead of a record.
				tr.Config = nil
				tr.SPS = [][]byte{cfg[:len(cfg)/2]}
				tr.PPS = [][]byte{cfg[len(cfg)/2:]}
			}
			cur[k] = tr
			if k == media.KindVideo && video == nil {
				video = tr
			} else if k == media.KindAudio && audio == nil {
				audio = tr
			}
		}
		var dts time.Duration
		if b := take(8); len(b) == 8 {
			dts = time.Duration(binary.BigEndian.Uint64(b) & (1<<62 - 1))
		}
		var off int8
		if b := take(1); len(b) == 1 {
			off = int8(b[0]) //nolint:gosec // G115: the fuzz byte read as a signed offset on purpose
		}
		var n int
		if b := take(1); len(b) == 1 {
			n = int(b[0])
		}
		payload := bytes.Clone(take(n))
		if flags&0x40 != 0 && big < 4 {
			big++
			// A large frame (up to 255 KiB: several RTMP chunks) from few bytes.
			payload = bytes.Repeat(append(payload, flags), n*1024/(len(payload)+1)+1)
		}
		pts := dts + time.Duration(off)*time.Millisecond
		if pts < dts {
			pts = dts // the hub guarantees PTS >= DTS
		}
		pkts = append(pkts, &media.Packet{Track: cur[k], DTS: dts, PTS: pts, Keyframe: flags&0x20 != 0, Payload: payload})
	}
	return video, audio, pkts
}
