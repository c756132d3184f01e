package webrtc

import (
	"fmt"
	"slices"
	"strings"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"
)

// cvoURI is the coordination-of-video-orientation RTP header extension
// (3GPP TS 26.114 §7.4.5): rotation travels with each video frame.
const cvoURI = "urn:3gpp:video-orientation"

// nackHistory is how many sent packets per WHEP video track can be
// retransmitted on a NACK: ~1 s at 2.5 Mbit/s, ~5 s at 500 kbit/s, beyond
// any useful RTT. Each slot is a sentPacket (40 bytes) referring to a
// payload shared by all the stream's readers.
const nackHistory = 256

// Payload types of the codecs we answer with. They only matter for offers we
// make ourselves (tests); answers reuse the offerer's numbers.
const (
	ptOpus = 111
	ptH264 = 102
)

// h264Profiles are the profile-level-ids we accept (packetization-mode 1):
// constrained baseline, baseline and main. Mini program players decode
// these; high profile streams from browsers are rare and may use B-frames.
// Constrained baseline is signalled three ways (RFC 6184 table 5): 42e0
// (browsers), 42c0 (x264, e.g. GStreamer's x264enc) and 4240. pion matches
// the profile bytes exactly, so each spelling is registered.
var h264Profiles = []string{"42e01f", "42001f", "4d001f", "42c01f", "42401f"}

// newMediaEngine registers exactly the codecs minirtc bridges (H.264 mode 1
// and Opus) plus the CVO header extension, with the interceptors of WHIP
// ingest: NACK generator, RTCP receiver reports, TWCC feedback.
func newMediaEngine() (*pion.MediaEngine, *interceptor.Registry, error) {
	m, err := newCodecs()
	if err != nil {
		return nil, nil, err
	}
	// pion's default set minus the stats interceptor, which costs more per
	// packet than the rest together and feeds nothing minirtc reads, and
	// minus the NACK responder (an ingest sends no media).
	reg := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, nil, fmt.Errorf("webrtc: NACK: %w", err)
	}
	reg.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, nil, fmt.Errorf("webrtc: RTCP receiver reports: %w", err)
	}
	reg.Add(rr)
	if err := pion.ConfigureTWCCSender(m, reg); err != nil {
		return nil, nil, fmt.Errorf("webrtc: TWCC: %w", err)
	}
	return m, reg, nil
}

// newPlayMediaEngine is newMediaEngine for WHEP sessions, which only send,
// with no interceptors: a packet goes from its track straight to SRTP. The
// ingest interceptors would each run a ticker goroutine per connection
// (NACK generator and TWCC feedback every 100 ms, receiver reports every
// second) for streams a WHEP session never receives; sender reports are
// written by the sessions themselves (srInterval), from the hub timeline,
// so that audio sent later than video (it waits for a whole Opus frame)
// still maps to the same instant. No TWCC: WHEP does no congestion control.
//
// NACKs are answered by the sessions too (localTrack.resend): pion's NACK
// responder records every packet in a new record (two allocations and a
// lock per packet, per reader), while a track's own history is a ring of
// plain values written once per frame, and lets every packet reuse one
// header.
func newPlayMediaEngine() (*pion.MediaEngine, *interceptor.Registry, error) {
	m, err := newCodecs()
	if err != nil {
		return nil, nil, err
	}
	return m, &interceptor.Registry{}, nil
}

// newCodecs is a MediaEngine with minirtc's codecs, their RTCP feedback and
// the CVO header extension.
func newCodecs() (*pion.MediaEngine, error) {
	m := &pion.MediaEngine{}
	var err error
	fb := []pion.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	for i, prof := range h264Profiles {
		err = m.RegisterCodec(pion.RTPCodecParameters{
			RTPCodecCapability: pion.RTPCodecCapability{
				MimeType:     pion.MimeTypeH264,
				ClockRate:    90000,
				SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + prof,
				RTCPFeedback: fb,
			},
			PayloadType: pion.PayloadType(ptH264 + 2*i),
		}, pion.RTPCodecTypeVideo)
		if err != nil {
			return nil, fmt.Errorf("webrtc: register H.264: %w", err)
		}
	}
	err = m.RegisterCodec(pion.RTPCodecParameters{
		RTPCodecCapability: pion.RTPCodecCapability{
			MimeType:    pion.MimeTypeOpus,
			ClockRate:   48000,
			Channels:    2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: ptOpus,
	}, pion.RTPCodecTypeAudio)
	if err != nil {
		return nil, fmt.Errorf("webrtc: register Opus: %w", err)
	}
	if err := m.RegisterHeaderExtension(pion.RTPHeaderExtensionCapability{URI: cvoURI}, pion.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("webrtc: register CVO: %w", err)
	}
	return m, nil
}

// offerInfo is what an acceptable offer contains.
type offerInfo struct {
	video, audio bool // the offer has an H.264 video / Opus audio section
}

// errNoH264 is the 406 every mini-program-incompatible video offer gets.
func errNoH264(offered string) *errcode.Error {
	d := "this channel interoperates with mini programs, which only decode H.264; offer H.264 (packetization-mode=1, baseline/main profile)"
	if offered != "" {
		d += " (offered: " + offered + ")"
	}
	return errcode.CodecNotAcceptable(d)
}

// checkOffer applies minirtc's negotiation rules to an SDP offer: every
// video section must offer H.264 in packetization mode 1 with a profile we
// accept, every audio section must offer Opus; audio-only and video-only
// offers are fine, an offer with neither is not. Rejections are catalogue
// errors (406 for codecs, 400 for malformed SDP).
func checkOffer(offer string) (offerInfo, error) {
	var info offerInfo
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return info, errcode.BadRequest("the body is not a valid SDP offer: " + err.Error())
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Port.Value == 0 {
			if _, bundled := md.Attribute("bundle-only"); !bundled {
				continue // rejected / disabled section
			}
			// bundle-only (max-bundle offers): a live section on the
			// bundle's transport, checked like any other.
		}
		switch md.MediaName.Media {
		case "video":
			ok, names := false, map[string]bool{}
			for _, f := range md.MediaName.Formats {
				codec, err := sd.GetCodecForPayloadType(parsePT(f))
				if err != nil {
					continue
				}
				name := codec.Name
				if strings.EqualFold(codec.Name, "H264") {
					if h264FmtpOK(codec.Fmtp) {
						ok = true
					}
					name += " " + h264Params(codec.Fmtp)
				}
				names[name] = true
			}
			if !ok {
				return info, errNoH264(joinNames(names))
			}
			info.video = true
		case "audio":
			ok := false
			for _, f := range md.MediaName.Formats {
				codec, err := sd.GetCodecForPayloadType(parsePT(f))
				if err == nil && strings.EqualFold(codec.Name, "opus") {
					ok = true
				}
			}
			if !ok {
				return info, errcode.CodecNotAcceptable("WebRTC audio must be Opus (it is bridged to AAC for mini programs); offer Opus")
			}
			info.audio = true
		}
	}
	if !info.video && !info.audio {
		return info, errcode.BadRequest("the offer has no audio or video section")
	}
	return info, nil
}

func parsePT(s string) uint8 {
	var v int
	for _, c := range s {
		if c < '0' || c > '9' {
			return 255
		}
		v = v*10 + int(c-'0')
		if v > 127 {
			return 255
		}
	}
	return uint8(v)
}

func joinNames(m map[string]bool) string {
	var s []string
	for k := range m {
		if !strings.EqualFold(k, "rtx") && !strings.EqualFold(k, "red") && !strings.EqualFold(k, "ulpfec") {
			s = append(s, k)
		}
	}
	slices.Sort(s)
	if len(s) > 4 {
		s = s[:4]
	}
	return strings.Join(s, ", ")
}

// h264Params names an H.264 format's packetization mode and profile for a
// refusal, e.g. "(packetization-mode=0, profile-level-id=640c1f)".
func h264Params(fmtp string) string {
	mode, profile := "0", "none"
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch strings.ToLower(k) {
		case "packetization-mode":
			mode = v
		case "profile-level-id":
			profile = v
		}
	}
	if len(profile) > 6 {
		profile = profile[:6]
	}
	if len(mode) > 2 {
		mode = mode[:2]
	}
	return "(packetization-mode=" + mode + ", profile-level-id=" + profile + ")"
}

// h264FmtpOK: packetization-mode=1 and an acceptable profile (the level is
// free: level-asymmetry lets each side send what the other decodes).
func h264FmtpOK(fmtp string) bool {
	mode1, profileOK := false, false
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch strings.ToLower(k) {
		case "packetization-mode":
			mode1 = v == "1"
		case "profile-level-id":
			if len(v) == 6 {
				pf := strings.ToLower(v[:4])
				for _, p := range h264Profiles {
					if pf == p[:4] {
						profileOK = true
					}
				}
			}
		}
	}
	return mode1 && profileOK
}
