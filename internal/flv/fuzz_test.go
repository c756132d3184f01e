package flv

import (
	"bytes"
	"io"
	"log/slog"
	"testing"

	"github.com/minirtc/minirtc/internal/flvtag"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/media/mediatest"
)

// FuzzFLVMuxer hands an FLV viewer's writer (session.prepare: file header,
// metadata, sequence headers, packet tags) odd tracks and packets decoded
// from the input: configurations of garbage or nothing, empty and large
// payloads, huge and out-of-order timestamps, a track change on any packet.
// The bytes it writes must parse as an FLV stream whose tags our demuxer
// reads, one media tag per packet with its timestamp and payload.
func FuzzFLVMuxer(f *testing.F) {
	f.Add([]byte{0x10}) // a new track and nothing else (once crashed the decoder)
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 40, 2, 0x65, 0x88})
	f.Add([]byte{0x13, 2, 0x12, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x21, 0x00})
	f.Add([]byte{0x22, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x41})
	f.Add([]byte{0x61, 3, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 1, 5, 100, 9})
	f.Add(bytes.Repeat([]byte{0x31, 7, 0x80, 0, 0, 0, 0, 0, 0, 1}, 6))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		video, audio, pkts := mediatest.OddPackets(data, 64)
		hub, err := media.NewHub(media.Config{}, nil, log)
		if err != nil {
			t.Fatal(err)
		}
		defer hub.Close()
		key := media.Key{AppID: "a", Channel: "c", UID: "1"}
		pub, err := hub.Publish(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		pub.SetTracks(video, audio)
		rd, err := hub.Subscribe(key, media.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		if len(pkts) == 0 {
			return
		}
		ss := &session{rd: rd, srv: &Server{meter: noMeter{}}}
		half := len(pkts) / 2
		var out bytes.Buffer
		for _, batch := range [][]*media.Packet{pkts[:half], pkts[half:]} {
			if len(batch) == 0 {
				continue
			}
			for _, b := range ss.prepare(batch) {
				out.Write(b)
			}
		}
		checkFLVStream(t, out.Bytes(), pkts, video != nil, audio != nil)
	})
}

// checkFLVStream parses a viewer's FLV bytes: the header flags the stream's
// tracks, every tag and body parses, and the media tags are pkts in order.
func checkFLVStream(t *testing.T, b []byte, pkts []*media.Packet, hasVideo, hasAudio bool) {
	t.Helper()
	v, a, rest, err := flvtag.ParseHeader(b)
	if err != nil || v != hasVideo || a != hasAudio {
		t.Fatalf("FLV header: video %v audio %v, want %v %v: %v", v, a, hasVideo, hasAudio, err)
	}
	i := 0
	for len(rest) > 0 {
		var tag flvtag.Tag
		tag, rest, err = flvtag.ParseTag(rest)
		if err != nil {
			t.Fatalf("tag after %d packets: %v", i, err)
		}
		switch tag.Type {
		case flvtag.TagScript:
			if _, err := flvtag.DecodeAMF0(tag.Body); err != nil {
				t.Fatalf("script tag: %v", err)
			}
			continue
		case flvtag.TagVideo:
			vb, err := flvtag.ParseVideoBody(tag.Body)
			if err != nil {
				t.Fatalf("video tag: %v", err)
			}
			if (vb.Enhanced || vb.CodecID == 7) && vb.PacketType == 0 { // 7: AVC
				continue // sequence header
			}
		case flvtag.TagAudio:
			ab, err := flvtag.ParseAudioBody(tag.Body)
			if err != nil {
				t.Fatalf("audio tag: %v", err)
			}
			if (ab.Format == 10 || ab.Format == 9) && ab.PacketType == 0 {
				continue // sequence header
			}
		default:
			t.Fatalf("tag type %d", tag.Type)
		}
		if i >= len(pkts) {
			t.Fatalf("more media tags than the %d packets", len(pkts))
		}
		p := pkts[i]
		i++
		if tag.Type != flvtag.TagType(p.Kind()) || tag.Timestamp != flvtag.Timestamp(p.DTS) || !bytes.HasSuffix(tag.Body, p.Payload) {
			t.Fatalf("tag %d: type %d ts %d, want a %s tag at %d with the payload", i, tag.Type, tag.Timestamp, p.Kind(), flvtag.Timestamp(p.DTS))
		}
	}
	if i != len(pkts) {
		t.Fatalf("%d media tags for %d packets", i, len(pkts))
	}
}
