package rtmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/minirtc/minirtc/codec/aac"
	"github.com/minirtc/minirtc/internal/flvtag"
	"github.com/minirtc/minirtc/internal/media"
)

// Start-up limits: the hub learns a publisher's tracks from its first
// packets. Packets are held until every expected track has shown media, or
// until these bounds are hit (then the stream starts with what it has).
const (
	// startupSpan: media time to wait for a missing track (a live-pusher with
	// the camera off may send an AVC sequence header but no video).
	startupSpan = time.Second
	// startupPackets bounds the packets held meanwhile.
	startupPackets = 256
)

// ingest maps one publisher's RTMP messages to media packets. gortmplib
// allocates every message body, so packets take the payload without a copy.
type ingest struct {
	pub          *media.Publisher
	video, audio *media.Track

	metaVideo, metaAudio int // from onMetaData: 0 unknown, 1 declared, -1 absent
	sawVideo, sawAudio   bool
	ready                bool
	pending              []*media.Packet

	packets, dropped uint64
}

func newIngest(pub *media.Publisher) *ingest { return &ingest{pub: pub} }

// run reads messages until the connection fails or the hub ends the publisher.
func (in *ingest) run(nc net.Conn, sc *gortmplib.ServerConn, timeout time.Duration) error {
	for {
		// Both directions: reading may write (acknowledgements once the
		// publisher's window is received, ping responses), and the write
		// deadline left from the handshake has long passed by then.
		_ = nc.SetDeadline(time.Now().Add(timeout))
		msg, err := sc.Read()
		if err != nil {
			return fmt.Errorf("rtmp: read: %w", err)
		}
		if err := in.handle(msg); err != nil {
			return err
		}
	}
}

func (in *ingest) handle(msg message.Message) error {
	switch m := msg.(type) {
	case *message.DataAMF0:
		in.metadata(m.Payload)
	case *message.Video:
		return in.legacyVideo(m)
	case *message.Audio:
		return in.legacyAudio(m)
	case *message.VideoExSequenceStart:
		return in.videoSequenceStart(m)
	case *message.VideoExCodedFrames:
		return in.videoFrame(m.FourCC, m.DTS, m.PTSDelta, m.Payload)
	case *message.VideoExFramesX:
		return in.videoFrame(m.FourCC, m.DTS, 0, m.Payload)
	case *message.AudioExSequenceStart:
		return in.audioSequenceStart(m)
	case *message.AudioExCodedFrames:
		if m.FourCC == message.FourCCOpus && in.audio != nil && in.audio.Codec == media.CodecOpus {
			return in.emit(&media.Packet{Track: in.audio, DTS: m.DTS, PTS: m.DTS, Keyframe: true, Payload: m.Payload})
		}
		if m.FourCC == message.FourCCMP4A && in.audio != nil && in.audio.Codec == media.CodecAAC {
			return in.emit(&media.Packet{Track: in.audio, DTS: m.DTS, PTS: m.DTS, Keyframe: true, Payload: m.Payload})
		}
		in.dropped++
	}
	return nil
}

// metadata reads which tracks onMetaData (or @setDataFrame onMetaData) declares.
func (in *ingest) metadata(payload amf0.Data) {
	for _, v := range payload {
		var obj amf0.Object
		switch o := v.(type) {
		case amf0.Object:
			obj = o
		case amf0.ECMAArray:
			obj = amf0.Object(o)
		default:
			continue
		}
		// A codec id that is absent, or 0 (some encoders write 0 for "none"),
		// means the publisher has no such track.
		in.metaVideo, in.metaAudio = -1, -1
		if v, ok := obj.Get("videocodecid"); ok && v != 0.0 {
			in.metaVideo = 1
		}
		if v, ok := obj.Get("audiocodecid"); ok && v != 0.0 {
			in.metaAudio = 1
		}
		return
	}
}

func (in *ingest) legacyVideo(m *message.Video) error {
	switch {
	case m.Type == message.VideoTypeConfig && m.Codec == message.CodecH264:
		var sps, pps [][]byte
		for _, p := range m.AVCConfig.SequenceParameterSets {
			sps = append(sps, p.NALUnit)
		}
		for _, p := range m.AVCConfig.PictureParameterSets {
			pps = append(pps, p.NALUnit)
		}
		in.setH264(sps, pps)
	case m.Type == message.VideoTypeConfig && m.Codec == message.CodecH265:
		var buf bytes.Buffer
		if _, err := mp4.Marshal(&buf, m.HEVCConfig, mp4.Context{}); err != nil {
			return fmt.Errorf("rtmp: HEVC config: %w", err)
		}
		in.setH265(buf.Bytes())
	case m.Type == message.VideoTypeAU:
		if in.video == nil || (m.Codec == message.CodecH264) != (in.video.Codec == media.CodecH264) {
			in.dropped++
			return nil
		}
		if m.Codec == message.CodecH264 && m.IsKeyFrame {
			in.inBandParameterSets(m.AU)
		}
		return in.emit(&media.Packet{Track: in.video, DTS: m.DTS, PTS: m.DTS + m.PTSDelta, Keyframe: m.IsKeyFrame, Payload: m.AU})
	}
	return nil
}

func (in *ingest) videoSequenceStart(m *message.VideoExSequenceStart) error {
	switch m.FourCC {
	case message.FourCCAVC:
		var sps, pps [][]byte
		for _, p := range m.AVCConfig.SequenceParameterSets {
			sps = append(sps, p.NALUnit)
		}
		for _, p := range m.AVCConfig.PictureParameterSets {
			pps = append(pps, p.NALUnit)
		}
		in.setH264(sps, pps)
	case message.FourCCHEVC:
		var buf bytes.Buffer
		if _, err := mp4.Marshal(&buf, m.HEVCConfig, mp4.Context{}); err != nil {
			return fmt.Errorf("rtmp: HEVC config: %w", err)
		}
		in.setH265(buf.Bytes())
	default:
		in.dropped++
	}
	return nil
}

func (in *ingest) videoFrame(fourCC message.FourCC, dts, ptsDelta time.Duration, payload []byte) error {
	switch {
	case fourCC == message.FourCCAVC && in.video != nil && in.video.Codec == media.CodecH264:
		key := avccHas(payload, func(nal []byte) bool { return nal[0]&0x1f == 5 })
		return in.emit(&media.Packet{Track: in.video, DTS: dts, PTS: dts + ptsDelta, Keyframe: key, Payload: payload})
	case fourCC == message.FourCCHEVC && in.video != nil && in.video.Codec == media.CodecH265:
		// IRAP pictures (BLA, IDR, CRA): NAL unit types 16..23 (ITU-T H.265 7.4.2.2).
		key := avccHas(payload, func(nal []byte) bool { t := (nal[0] >> 1) & 0x3f; return t >= 16 && t <= 23 })
		return in.emit(&media.Packet{Track: in.video, DTS: dts, PTS: dts + ptsDelta, Keyframe: key, Payload: payload})
	}
	in.dropped++
	return nil
}

func (in *ingest) legacyAudio(m *message.Audio) error {
	if m.Codec != message.CodecMPEG4Audio {
		in.dropped++ // only AAC reaches mini programs
		return nil
	}
	if m.AACType == message.AudioAACTypeConfig {
		if m.AACConfig == nil {
			return nil
		}
		t, err := aacTrack(m.AACConfig)
		if err != nil {
			return err
		}
		in.setAudio(t)
		return nil
	}
	if in.audio == nil || in.audio.Codec != media.CodecAAC {
		in.dropped++
		return nil
	}
	return in.emit(&media.Packet{Track: in.audio, DTS: m.DTS, PTS: m.DTS, Keyframe: true, Payload: m.AU})
}

func (in *ingest) audioSequenceStart(m *message.AudioExSequenceStart) error {
	switch m.FourCC {
	case message.FourCCOpus:
		cfg, err := m.OpusConfig.Marshal()
		if err != nil {
			return fmt.Errorf("rtmp: Opus header: %w", err)
		}
		in.setAudio(&media.Track{Codec: media.CodecOpus, Config: cfg, SampleRate: 48000, Channels: int(m.OpusConfig.ChannelCount)})
	case message.FourCCMP4A:
		t, err := aacTrack(m.AACConfig)
		if err != nil {
			return err
		}
		in.setAudio(t)
	default:
		in.dropped++
	}
	return nil
}

// aacTrack makes the track of an AAC sequence header, refusing (and so
// ending the publish with a clear reason) a configuration that players
// could not use: channelConfiguration 0 (the layout in a
// program_config_element, which gortmplib's parse does not keep) or any
// AudioSpecificConfig that codec/aac refuses, such as 0 channels.
func aacTrack(conf *mpeg4audio.AudioSpecificConfig) (*media.Track, error) {
	if conf == nil {
		return nil, errors.New("rtmp: AAC sequence header without a configuration")
	}
	if conf.ChannelConfig == 0 {
		return nil, errors.New("rtmp: AAC config: channelConfiguration 0 (channel layout in a program_config_element) is not supported: publish mono or stereo")
	}
	cfg, err := conf.Marshal()
	if err != nil {
		return nil, fmt.Errorf("rtmp: AAC config: %w", err)
	}
	parsed, err := aac.ParseAudioSpecificConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("rtmp: AAC config: %w", err)
	}
	return &media.Track{Codec: media.CodecAAC, Config: cfg, SampleRate: conf.SampleRate, Channels: parsed.Channels}, nil
}

func (in *ingest) setAudio(t *media.Track) {
	if old := in.audio; old != nil && old.Codec == t.Codec && bytes.Equal(old.Config, t.Config) {
		return // a repeated sequence header: keep the track (no header re-send)
	}
	in.audio = t
}

func (in *ingest) setH265(record []byte) {
	if old := in.video; old != nil && old.Codec == media.CodecH265 && bytes.Equal(old.Config, record) {
		return
	}
	in.video = &media.Track{Codec: media.CodecH265, Config: record}
}

// setH264 installs new parameter sets unless they equal the current ones.
func (in *ingest) setH264(sps, pps [][]byte) {
	if len(sps) == 0 || len(pps) == 0 {
		return
	}
	if old := in.video; old != nil && old.Codec == media.CodecH264 &&
		slices.EqualFunc(old.SPS, sps, bytes.Equal) && slices.EqualFunc(old.PPS, pps, bytes.Equal) {
		return
	}
	t := &media.Track{Codec: media.CodecH264, SPS: sps, PPS: pps}
	var s h264.SPS
	if err := s.Unmarshal(sps[0]); err == nil {
		t.Width, t.Height, t.FrameRate = s.Width(), s.Height(), s.FPS()
	}
	if rec, err := flvtag.AVCDecoderConfigurationRecord(sps, pps); err == nil {
		t.Config = rec
	}
	in.video = t
}

// inBandParameterSets picks up SPS/PPS repeated inside an IDR access unit:
// when they differ from the track's, the track changes (new readers and
// current ones get the new sequence header).
func (in *ingest) inBandParameterSets(au []byte) {
	var sps, pps [][]byte
	avccHas(au, func(nal []byte) bool {
		switch nal[0] & 0x1f {
		case 7:
			sps = append(sps, nal)
		case 8:
			pps = append(pps, nal)
		}
		return false
	})
	if len(sps) > 0 && len(pps) > 0 {
		in.setH264(sps, pps)
	}
}

// avccHas walks the NAL units of an AVCC access unit and reports whether fn
// holds for one of them. Malformed input ends the walk.
func avccHas(au []byte, fn func(nal []byte) bool) bool {
	for len(au) >= 4 {
		n := binary.BigEndian.Uint32(au)
		au = au[4:]
		if n == 0 || uint64(n) > uint64(len(au)) {
			return false
		}
		if fn(au[:n]) {
			return true
		}
		au = au[n:]
	}
	return false
}

// emit passes a packet to the hub, holding the first ones until the tracks
// are known.
func (in *ingest) emit(p *media.Packet) error {
	in.packets++
	if p.Kind() == media.KindVideo {
		in.sawVideo = true
	} else {
		in.sawAudio = true
	}
	if in.ready {
		return in.pub.Write(p)
	}
	in.pending = append(in.pending, p)
	wantVideo, wantAudio := in.metaVideo >= 0, in.metaAudio >= 0
	complete := (in.sawVideo || !wantVideo) && (in.sawAudio || !wantAudio)
	timedOut := len(in.pending) >= startupPackets || p.DTS-in.pending[0].DTS >= startupSpan
	if !complete && !timedOut {
		return nil
	}
	in.ready = true
	var video, audio *media.Track
	if in.sawVideo {
		video = in.video
	}
	if in.sawAudio {
		audio = in.audio
	}
	in.pub.SetTracks(video, audio)
	pending := in.pending
	in.pending = nil
	for _, q := range pending {
		if err := in.pub.Write(q); err != nil {
			return err
		}
	}
	return nil
}
