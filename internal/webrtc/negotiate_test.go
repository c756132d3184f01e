package webrtc

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/minirtc/minirtc/internal/errcode"
)

const offerHead = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

func TestCheckOffer(t *testing.T) {
	cases := []struct {
		name         string
		media        string
		video, audio bool
		status       int
	}{
		{"H.264 + Opus", "m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
			"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n", true, true, 0},
		{"audio only", "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n", false, true, 0},
		{"main profile", "m=video 9 UDP/TLS/RTP/SAVPF 100\r\na=rtpmap:100 H264/90000\r\na=fmtp:100 packetization-mode=1;profile-level-id=4d001f\r\n", true, false, 0},
		{"VP8 only", "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n", false, false, http.StatusNotAcceptable},
		{"H.264 mode 0 only", "m=video 9 UDP/TLS/RTP/SAVPF 104\r\na=rtpmap:104 H264/90000\r\na=fmtp:104 packetization-mode=0;profile-level-id=42e01f\r\n", false, false, http.StatusNotAcceptable},
		{"H.264 high profile only", "m=video 9 UDP/TLS/RTP/SAVPF 108\r\na=rtpmap:108 H264/90000\r\na=fmtp:108 packetization-mode=1;profile-level-id=640c1f\r\n", false, false, http.StatusNotAcceptable},
		{"G.711 audio", "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n", false, false, http.StatusNotAcceptable},
		{"x264 constrained baseline (42c0)", "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42c015;level-asymmetry-allowed=1\r\n", true, false, 0},
		{"bundle-only audio section is checked", "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42c015\r\n" +
			"m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=bundle-only\r\na=rtpmap:111 opus/48000/2\r\n", true, true, 0},
		{"bundle-only G.711 refused", "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n" +
			"m=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=bundle-only\r\na=rtpmap:0 PCMU/8000\r\n", false, false, http.StatusNotAcceptable},
		{"disabled VP8 section ignored", "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n", false, true, 0},
		{"no media", "", false, false, http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := checkOffer(offerHead + c.media)
			if c.status == 0 {
				if err != nil || info.video != c.video || info.audio != c.audio {
					t.Fatalf("info %+v err %v", info, err)
				}
				return
			}
			var e *errcode.Error
			if !errors.As(err, &e) || e.HTTPStatus() != c.status {
				t.Fatalf("err %v, want HTTP %d", err, c.status)
			}
			if c.status == http.StatusNotAcceptable && strings.Contains(c.media, "m=video") && !strings.Contains(c.media, "m=audio") && !strings.Contains(e.Message(), "only decode H.264") {
				t.Fatalf("reason %q does not name H.264 and why", e.Message())
			}
			if strings.Contains(c.media, "profile-level-id=640c1f") && !strings.Contains(e.Message(), "offered: H264 (packetization-mode=1, profile-level-id=640c1f)") {
				t.Fatalf("reason %q does not name the offered profile", e.Message())
			}
		})
	}
}

func FuzzCheckOffer(f *testing.F) {
	f.Add(offerHead + "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n")
	f.Add(offerHead + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n")
	f.Add("v=0\r\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		info, err := checkOffer(sdp)
		if err == nil && !info.video && !info.audio {
			t.Fatal("accepted an offer without media")
		}
		if err != nil {
			if _, ok := errcode.As(err); !ok {
				t.Fatalf("not a catalogue error: %v", err)
			}
		}
	})
}
