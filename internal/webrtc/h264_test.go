package webrtc

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func avcc(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return b
}

func nalu(typ byte, n int, seed byte) []byte {
	b := make([]byte, n)
	b[0] = 0x60 | typ
	for i := 1; i < n; i++ {
		b[i] = byte(i) ^ seed
	}
	return b
}

var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8}
	testPPS = []byte{0x68, 0xce, 0x3c, 0x80}
)

func TestH264PayloadsRoundTrip(t *testing.T) {
	cases := []struct {
		name     string
		au       []byte
		sps, pps [][]byte
		want     []byte // AVCC the depacketizer must return
		idr      bool
		packets  int
	}{
		{"small P frame", avcc(nalu(naluNonIDR, 300, 1)), nil, nil, avcc(nalu(naluNonIDR, 300, 1)), false, 1},
		{"IDR gets track params in STAP-A", avcc(nalu(naluIDR, 1000, 2)), [][]byte{testSPS}, [][]byte{testPPS},
			avcc(nalu(naluIDR, 1000, 2)), true, 2},
		{"IDR with in-band params, AUD dropped", avcc([]byte{0x09, 0xf0}, testSPS, testPPS, nalu(naluIDR, 5000, 3)), nil, nil,
			avcc(nalu(naluIDR, 5000, 3)), true, 1 + 5},
		{"large slice fragments", avcc(nalu(naluNonIDR, 1201, 4), nalu(naluNonIDR, 2500, 5), nalu(naluSEI, 20, 6)), nil, nil,
			avcc(nalu(naluNonIDR, 1201, 4), nalu(naluNonIDR, 2500, 5), nalu(naluSEI, 20, 6)), false, 2 + 3 + 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pl, idr, err := h264Payloads(c.au, c.sps, c.pps, 1200)
			if err != nil {
				t.Fatal(err)
			}
			if idr != c.idr || len(pl) != c.packets {
				t.Fatalf("idr %v, %d packets; want %v, %d", idr, len(pl), c.idr, c.packets)
			}
			var d h264Depacketizer
			var got *h264AU
			for i, p := range pl {
				if len(p) > 1200 {
					t.Fatalf("payload %d is %d bytes", i, len(p))
				}
				au := d.push(p, 9000, i == len(pl)-1, false)
				if au != nil {
					if got != nil {
						t.Fatal("two units")
					}
					got = au
				}
			}
			if got == nil {
				t.Fatal("no unit")
			}
			if !bytes.Equal(got.avcc, c.want) || got.idr != c.idr || got.timestamp != 9000 {
				t.Fatalf("got idr=%v ts=%d avcc %x...", got.idr, got.timestamp, got.avcc[:min(16, len(got.avcc))])
			}
			if c.idr && (!bytes.Equal(got.sps, testSPS) || !bytes.Equal(got.pps, testPPS)) {
				t.Fatalf("params %x %x", got.sps, got.pps)
			}
		})
	}
}

func TestH264PayloadsRejectsBadAVCC(t *testing.T) {
	for _, b := range [][]byte{{0, 0, 0}, {0, 0, 0, 9, 1}, {0xff, 0xff, 0xff, 0xff, 0x65}} {
		if _, _, err := h264Payloads(b, nil, nil, 1200); err == nil {
			t.Errorf("%x accepted", b)
		}
	}
}

func TestH264DepacketizerDropsBrokenUnits(t *testing.T) {
	pl, _, err := h264Payloads(avcc(nalu(naluIDR, 4000, 1)), [][]byte{testSPS}, [][]byte{testPPS}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var d h264Depacketizer
	// Lose the second fragment.
	var got []*h264AU
	for i, p := range pl {
		if i == 2 {
			continue
		}
		if au := d.push(p, 100, i == len(pl)-1, i == 3); au != nil {
			got = append(got, au)
		}
	}
	if len(got) != 0 || d.dropped != 1 {
		t.Fatalf("broken unit delivered (%d) or not counted (%d)", len(got), d.dropped)
	}
	// The marker was lost: the next timestamp closes the unit.
	p1, _, _ := h264Payloads(avcc(nalu(naluNonIDR, 100, 2)), nil, nil, 1000)
	p2, _, _ := h264Payloads(avcc(nalu(naluNonIDR, 120, 3)), nil, nil, 1000)
	if au := d.push(p1[0], 200, false, false); au != nil {
		t.Fatal("unit without end")
	}
	au := d.push(p2[0], 300, true, false)
	if au == nil || au.timestamp != 300 || d.dropped != 2 {
		t.Fatalf("au %+v dropped %d", au, d.dropped)
	}
	// Malformed payloads never panic and mark the unit broken.
	for _, p := range [][]byte{{}, {0x18, 0x00}, {0x18, 0x00, 0x05, 0x65}, {0x1c}, {0x1c, 0x05}, {0x19, 1, 2}} {
		if au := d.push(p, 400, true, false); au != nil {
			t.Fatalf("%x produced a unit", p)
		}
	}
}

func FuzzH264Depacketizer(f *testing.F) {
	pl, _, _ := h264Payloads(avcc(nalu(naluIDR, 3000, 1), nalu(naluSEI, 10, 2)), [][]byte{testSPS}, [][]byte{testPPS}, 1000)
	for _, p := range pl {
		f.Add(p, true)
	}
	f.Add([]byte{0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68}, false)
	f.Add([]byte{0x1c, 0x45, 1, 2, 3}, true)
	f.Fuzz(func(t *testing.T, p []byte, marker bool) {
		var d h264Depacketizer
		for i := 0; i < 3; i++ {
			au := d.push(p, uint32(i), marker, i == 2)
			if au != nil {
				if err := forEachNALU(au.avcc, func([]byte) {}); err != nil {
					t.Fatalf("depacketizer produced bad AVCC: %v", err)
				}
				if _, _, err := h264Payloads(au.avcc, nil, nil, 1200); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func TestReorder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type ev struct {
		seq  uint16
		lost bool
	}
	cases := []struct {
		name string
		in   []uint16
		dt   []time.Duration // arrival offsets (default 1 ms apart)
		want []ev
	}{
		{"in order", []uint16{10, 11, 12}, nil, []ev{{10, false}, {11, false}, {12, false}}},
		{"swap", []uint16{10, 12, 11, 13}, nil, []ev{{10, false}, {11, false}, {12, false}, {13, false}}},
		{"duplicate and late", []uint16{10, 11, 11, 9, 12}, nil, []ev{{10, false}, {11, false}, {12, false}}},
		{"wraparound", []uint16{65534, 65535, 1, 0}, nil, []ev{{65534, false}, {65535, false}, {0, false}, {1, false}}},
		{"loss given up after maxWait", []uint16{10, 12, 13}, []time.Duration{0, time.Millisecond, 200 * time.Millisecond},
			[]ev{{10, false}, {12, true}, {13, false}}},
		{"far jump", []uint16{10, 11, 5000}, nil, []ev{{10, false}, {11, false}, {5000, true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := reorder{maxWait: 50 * time.Millisecond}
			var got []ev
			for i, s := range c.in {
				at := t0.Add(time.Duration(i) * time.Millisecond)
				if c.dt != nil {
					at = t0.Add(c.dt[i])
				}
				r.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: s}}, at, func(p *rtp.Packet, lost bool) {
					got = append(got, ev{p.SequenceNumber, lost})
				})
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}

func TestReorderShuffledStreamLosesNothing(t *testing.T) {
	r := reorder{maxWait: time.Second}
	rng := rand.New(rand.NewPCG(1, 2))
	seqs := make([]uint16, 2000)
	for i := range seqs {
		seqs[i] = uint16(60000 + i)
	}
	// Local shuffles within windows of 8.
	for i := 0; i+8 <= len(seqs); i += 8 {
		rng.Shuffle(8, func(a, b int) { seqs[i+a], seqs[i+b] = seqs[i+b], seqs[i+a] })
	}
	var got []uint16
	now := time.Unix(0, 0)
	for _, s := range seqs {
		r.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: s}}, now, func(p *rtp.Packet, lost bool) {
			if lost {
				t.Fatalf("loss flagged at %d", p.SequenceNumber)
			}
			got = append(got, p.SequenceNumber)
		})
	}
	if len(got) < len(seqs)-8 {
		t.Fatalf("released %d of %d", len(got), len(seqs))
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("out of order at %d: %d after %d", i, got[i], got[i-1])
		}
	}
}

func BenchmarkH264Payloads(b *testing.B) {
	au := avcc(nalu(naluIDR, 30000, 1))
	b.SetBytes(int64(len(au)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := h264Payloads(au, [][]byte{testSPS}, [][]byte{testPPS}, 1200); err != nil {
			b.Fatal(err)
		}
	}
}
