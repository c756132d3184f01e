package rtmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"

	"github.com/minirtc/minirtc/internal/flvtag"
	"github.com/minirtc/minirtc/internal/media"
	"github.com/minirtc/minirtc/internal/media/mediatest"
)

// fuzzMaxMessages bounds the messages one fuzz input may carry.
const fuzzMaxMessages = 64

// rawMsg is one message of a publisher's stream, before chunking.
type rawMsg struct {
	typ  byte
	ms   int
	body []byte
}

// publisherStream chunks msgs as a publisher does after the publish command
// (what ingest.run reads with gortmplib), with chunk size 128 unless a Set
// Chunk Size message (type 1) changes it.
func publisherStream(t testing.TB, msgs ...rawMsg) []byte {
	t.Helper()
	var b bytes.Buffer
	w := rawmessage.NewWriter(&b, bytecounter.NewWriter(&b), false)
	for _, m := range msgs {
		csid := byte(6)
		switch m.typ {
		case 1:
			csid = 2
			w.SetChunkSize(binary.BigEndian.Uint32(m.body))
		case msgTypeAudio:
			csid = 4
		case msgTypeData:
			csid = 5
		}
		if err := w.Write(&rawmessage.Message{ChunkStreamID: csid, Timestamp: time.Duration(m.ms) * time.Millisecond,
			Type: m.typ, MessageStreamID: 1, Body: m.body}); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func videoMsg(tr *media.Track, ms int, key bool, au []byte) rawMsg {
	p := &media.Packet{Track: tr, DTS: time.Duration(ms) * time.Millisecond, PTS: time.Duration(ms) * time.Millisecond, Keyframe: key}
	return rawMsg{msgTypeVideo, ms, append(flvtag.AppendBodyPrefix(nil, p), au...)}
}

func audioMsg(tr *media.Track, ms int, au []byte) rawMsg {
	p := &media.Packet{Track: tr, DTS: time.Duration(ms) * time.Millisecond, Keyframe: true}
	return rawMsg{msgTypeAudio, ms, append(flvtag.AppendBodyPrefix(nil, p), au...)}
}

func headerMsg(t testing.TB, tr *media.Track) rawMsg {
	body, err := flvtag.SequenceHeader(tr)
	if err != nil {
		t.Fatal(err)
	}
	typ := byte(msgTypeVideo)
	if tr.Kind() == media.KindAudio {
		typ = msgTypeAudio
	}
	return rawMsg{typ, 0, body}
}

// ingestSeeds are realistic publisher streams: a live-pusher (metadata, AVC
// and AAC headers, frames), an enhanced-RTMP HEVC/Opus pusher, audio only,
// a mid-stream configuration change with timestamps going back and jumping,
// and a larger chunk size.
func ingestSeeds(t testing.TB) [][]byte {
	aac := &media.Track{Codec: media.CodecAAC, Config: []byte{0x12, 0x10}, SampleRate: 44100, Channels: 2}
	opus := &media.Track{Codec: media.CodecOpus, Config: []byte{'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 2, 0x38, 1, 0x80, 0xbb, 0, 0, 0, 0, 0}}
	// A minimal HEVCDecoderConfigurationRecord (Main profile, no arrays).
	hevc := &media.Track{Codec: media.CodecH265, Config: []byte{1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5d, 0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0}}
	idr := []byte{0, 0, 0, 2, 0x65, 0x88}
	p := []byte{0, 0, 0, 2, 0x41, 0x9a}
	meta := rawMsg{msgTypeData, 0, flvtag.MetaData(benchVideo, aac)}
	live := []rawMsg{meta, headerMsg(t, benchVideo), headerMsg(t, aac)}
	for i := range 8 {
		live = append(live, audioMsg(aac, i*23, []byte{0x21, 0x10, 0x04}))
		if i%2 == 0 {
			au := p
			if i == 0 {
				au = idr
			}
			live = append(live, videoMsg(benchVideo, i*20, i == 0, au))
		}
	}
	ex := []rawMsg{
		{msgTypeData, 0, flvtag.MetaData(hevc, opus)},
		headerMsg(t, opus),
		headerMsg(t, hevc),
		videoMsg(hevc, 0, true, []byte{0, 0, 0, 3, 0x26, 0x01, 0xaf}),
		audioMsg(opus, 0, []byte{0xfc, 1, 2}),
		audioMsg(opus, 20, []byte{0xfc, 3, 4}),
	}
	other := &media.Track{Codec: media.CodecH264, SPS: [][]byte{append(bytes.Clone(benchVideo.SPS[0][:len(benchVideo.SPS[0])-1]), 0x80)}, PPS: benchVideo.PPS}
	change := []rawMsg{{msgTypeData, 0, flvtag.MetaData(benchVideo, nil)}, headerMsg(t, benchVideo),
		videoMsg(benchVideo, 0, true, idr), videoMsg(benchVideo, 40, false, p),
		headerMsg(t, other), videoMsg(other, 80, true, idr), videoMsg(other, 20, false, p), videoMsg(other, 1<<31, true, idr)}
	big := []rawMsg{{1, 0, []byte{0, 0, 0x10, 0}}, meta, headerMsg(t, benchVideo), headerMsg(t, aac),
		videoMsg(benchVideo, 0, true, append(bytes.Clone(idr), bytes.Repeat([]byte{7}, 5000)...)), audioMsg(aac, 0, []byte{0x21, 0})}
	return [][]byte{
		publisherStream(t, live...),
		publisherStream(t, ex...),
		publisherStream(t, rawMsg{msgTypeData, 0, flvtag.MetaData(nil, aac)}, headerMsg(t, aac), audioMsg(aac, 0, []byte{0x21}), audioMsg(aac, 23, []byte{0x21})),
		publisherStream(t, change...),
		publisherStream(t, big...),
	}
}

// FuzzRTMPIngest feeds a publisher's chunk stream (RTMP messages carrying
// FLV video/audio bodies and AMF0 metadata) through the ingest into a real
// hub with a reader attached. Nothing may panic; what the reader gets must
// be well-formed (a track of the packet's kind, PTS >= DTS, DTS monotonic
// per kind) and must turn into RTMP play chunks that an independent chunk
// reader parses back to FLV bodies our demuxer accepts, and into FLV tags.
func FuzzRTMPIngest(f *testing.F) {
	for _, s := range ingestSeeds(f) {
		f.Add(s)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, data []byte) { ingestThroughHub(t, data, log) })
}

// TestIngestSeedsReachReaders: the fuzz seeds are streams a reader plays
// (packets of both kinds where the seed has them), so that fuzzing starts
// from inputs that go all the way through.
func TestIngestSeedsReachReaders(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	want := [][2]bool{{true, true}, {true, true}, {false, true}, {true, false}, {true, true}}
	for i, s := range ingestSeeds(t) {
		c := ingestThroughHub(t, s, log)
		if got := [2]bool{c.seen[media.KindVideo], c.seen[media.KindAudio]}; got != want[i] {
			t.Errorf("seed %d: reader got video/audio %v, want %v", i, got, want[i])
		}
	}
}

// ingestThroughHub reads a publisher's chunk stream into the ingest of a
// real hub's publisher, drains a reader after every message and checks what
// it gets.
func ingestThroughHub(t *testing.T, data []byte, log *slog.Logger) *readerCheck {
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
	rd, err := hub.Subscribe(key, media.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	check := newReaderCheck(t, rd, log)

	in := newIngest(pub)
	br := bytes.NewReader(data)
	mr := message.NewReader(br, bytecounter.NewReader(br), func(uint32) error { return nil })
	for range fuzzMaxMessages {
		msg, err := mr.Read()
		if err != nil {
			break // the connection would end here
		}
		if err := in.handle(msg); err != nil {
			break
		}
		check.drain()
	}
	pub.Close(nil)
	check.drain()
	return check
}

// readerCheck drains a reader and checks what it gets.
type readerCheck struct {
	t       *testing.T
	rd      *media.Reader
	pl      *player
	lastDTS [2]time.Duration
	seen    [2]bool
}

func newReaderCheck(t *testing.T, rd *media.Reader, log *slog.Logger) *readerCheck {
	return &readerCheck{t: t, rd: rd, pl: &player{rd: rd, log: log}}
}

func (c *readerCheck) drain() {
	t := c.t
	batch, err := c.rd.TryNext(nil)
	if err != nil && len(batch) == 0 && !errors.Is(err, media.ErrPublisherGone) {
		t.Logf("reader ended: %v", err)
	}
	if len(batch) == 0 {
		return
	}
	for _, p := range batch {
		if p.Track == nil {
			t.Fatal("packet without a track")
		}
		if p.Track.Codec == media.CodecUnknown {
			t.Fatalf("packet of an unknown codec: %+v", p.Track)
		}
		if p.PTS < p.DTS {
			t.Fatalf("PTS %v < DTS %v", p.PTS, p.DTS)
		}
		k := p.Kind()
		if c.seen[k] && p.DTS < c.lastDTS[k] {
			t.Fatalf("%s DTS went back: %v after %v", k, p.DTS, c.lastDTS[k])
		}
		c.seen[k], c.lastDTS[k] = true, p.DTS
		tag, rest, err := flvtag.ParseTag(bytes.Join(flvtag.PacketTag(p), nil))
		if err != nil || len(rest) != 0 || tag.Type != flvtag.TagType(k) || tag.Timestamp != flvtag.Timestamp(p.DTS) {
			t.Fatalf("FLV tag of a %s packet: %+v rest %d: %v", p.Track.Codec, tag, len(rest), err)
		}
	}
	checkPlayChunks(t, c.pl.prepare(batch), batch)
}

// checkPlayChunks parses a play batch with gortmplib's chunk reader: every
// message is a video, audio or data message whose body our FLV body parsers
// accept, and the media messages are the batch's packets, in order.
func checkPlayChunks(t *testing.T, bufs [][]byte, batch []*media.Packet) {
	t.Helper()
	stream := bytes.NewReader(bytes.Join(bufs, nil))
	r := rawmessage.NewReader(stream, bytecounter.NewReader(stream), func(uint32) error { return nil })
	if err := r.SetChunkSize(playChunkSize); err != nil {
		t.Fatal(err)
	}
	i := 0
	for {
		msg, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("play chunks do not parse: %v", err)
		}
		switch msg.Type {
		case msgTypeData:
			if _, err := flvtag.DecodeAMF0(msg.Body); err != nil {
				t.Fatalf("metadata does not decode: %v", err)
			}
			continue
		case msgTypeVideo:
			vb, err := flvtag.ParseVideoBody(msg.Body)
			if err != nil {
				t.Fatalf("video body does not parse: %v (% x)", err, msg.Body[:min(len(msg.Body), 16)])
			}
			if (vb.Enhanced || vb.CodecID == 7) && vb.PacketType == 0 {
				continue // sequence header
			}
			if i >= len(batch) {
				t.Fatalf("more media messages than the %d packets", len(batch))
			}
			if want := int32((batch[i].PTS - batch[i].DTS) / time.Millisecond); vb.CTS != want && want < 1<<23 {
				t.Fatalf("composition time %d ms, want %d", vb.CTS, want)
			}
		case msgTypeAudio:
			ab, err := flvtag.ParseAudioBody(msg.Body)
			if err != nil {
				t.Fatalf("audio body does not parse: %v (% x)", err, msg.Body[:min(len(msg.Body), 16)])
			}
			if (ab.Format == 10 || ab.Format == 9) && ab.PacketType == 0 {
				continue // sequence header
			}
		default:
			t.Fatalf("play message of type %d", msg.Type)
		}
		if i >= len(batch) {
			t.Fatalf("more media messages than the %d packets", len(batch))
		}
		p := batch[i]
		i++
		if msg.Timestamp != time.Duration(flvtag.Timestamp(p.DTS))*time.Millisecond {
			t.Fatalf("message timestamp %v, packet DTS %v", msg.Timestamp, p.DTS)
		}
		if !bytes.HasSuffix(msg.Body, p.Payload) {
			t.Fatal("message body does not end with the packet's payload")
		}
	}
	if i != len(batch) {
		t.Fatalf("%d media messages for %d packets", i, len(batch))
	}
}

// FuzzRTMPPlayWriter hands the play writer odd tracks and packets decoded
// from the input: codec configurations of garbage or nothing, empty
// payloads, huge and out-of-order timestamps, PTS before DTS, track changes
// on every packet. The chunks it writes must parse back (see
// checkPlayChunks), whatever the tracks hold.
func FuzzRTMPPlayWriter(f *testing.F) {
	f.Add([]byte{0x10}) // a new track and nothing else (once crashed the decoder)
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 40, 2, 0x65, 0x88})
	f.Add([]byte{0x13, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x10, 2, 0x21, 0x00})
	f.Add([]byte{0x22, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x41})
	f.Add(bytes.Repeat([]byte{0x31, 7, 0x80, 0, 0, 0, 0, 0, 0, 1}, 6))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		video, audio, pkts := mediatest.OddPackets(data, fuzzMaxMessages)
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
		pl := &player{rd: rd, log: log}
		// In two batches, as a viewer gets them (the second has no metadata).
		half := len(pkts) / 2
		if half > 0 {
			checkPlayChunks(t, pl.prepare(pkts[:half]), pkts[:half])
		}
		checkPlayChunks(t, pl.prepare(pkts[half:]), pkts[half:])
	})
}
