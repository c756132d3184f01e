package webrtc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
)

// sdpfragType is the media type of PATCH bodies: an SDP fragment with ICE
// credentials and candidates (RFC 8840 §9, RFC 9725 §4.3).
const sdpfragType = "application/trickle-ice-sdpfrag"

// Limits of a PATCH body.
const (
	// maxFragSize bounds a fragment: a browser's restart fragment with a
	// dozen candidates is under 2 KiB.
	maxFragSize = 16 << 10
	// maxFragCandidates bounds the candidates of one fragment: clients
	// gather a few per interface and ICE server, and each one the server
	// accepts costs connectivity checks.
	maxFragCandidates = 64
	// ICE credential lengths in ice-chars (RFC 8839 §5.4): the ufrag has
	// at least 24 bits of randomness, the password at least 128.
	minUfragLen, minPwdLen, maxCredLen = 4, 22, 256
	// maxMidLen bounds an a=mid value (JSEP uses a few characters).
	maxMidLen = 64
)

// sdpFrag is a parsed application/trickle-ice-sdpfrag body. Empty strings
// mean the attribute was absent.
type sdpFrag struct {
	ufrag, pwd string
	options    string // a=ice-options value
	candidates []fragCandidate
	end        bool // a=end-of-candidates
}

// fragCandidate is one a=candidate line and the a=mid of its section.
type fragCandidate struct {
	mid   string
	value string // the attribute value, without "candidate:"
}

// parseSDPFrag parses a PATCH body: lines of <type>=<value> (CRLF or LF),
// with the ICE attributes at session or media level (after m=/a=mid
// lines). Every ICE credential in the fragment must be the same, and every
// candidate must parse (pion's ICE agent would drop candidates of unknown
// types or networks; so do we). Other attributes and line types are
// ignored. Errors are 400s that name the line.
func parseSDPFrag(body string) (sdpFrag, error) {
	var f sdpFrag
	if len(body) > maxFragSize {
		return f, errcode.BadRequest(fmt.Sprintf("the fragment has %d bytes, more than %d", len(body), maxFragSize))
	}
	mid := ""
	for n, line := range strings.Split(body, "\n") {
		n++ // line numbers start at 1
		// Spaces around a line are tolerated (PATCH always trimmed them).
		line = strings.Trim(strings.TrimSuffix(line, "\r"), " \t")
		if line == "" {
			continue
		}
		if len(line) < 2 || line[0] < 'a' || line[0] > 'z' || line[1] != '=' {
			return f, fragError(n, "is not an SDP line (<type>=<value>)")
		}
		for i := 0; i < len(line); i++ {
			if c := line[i]; c < 0x20 && c != '\t' || c == 0x7f {
				return f, fragError(n, fmt.Sprintf("has a control character (0x%02x) at byte %d", c, i+1))
			}
		}
		switch line[0] {
		case 'm':
			mid = "" // a new media section
			continue
		case 'a':
		default:
			continue
		}
		key, val, _ := strings.Cut(line[2:], ":")
		switch key {
		case "ice-ufrag":
			if err := checkCred(n, "ufrag", val, minUfragLen, f.ufrag); err != nil {
				return f, err
			}
			f.ufrag = val
		case "ice-pwd":
			if err := checkCred(n, "pwd", val, minPwdLen, f.pwd); err != nil {
				return f, err
			}
			f.pwd = val
		case "ice-options":
			if strings.TrimSpace(val) == "" {
				return f, fragError(n, "has an empty a=ice-options")
			}
			f.options = val
		case "mid":
			if val == "" || len(val) > maxMidLen || strings.ContainsAny(val, " \t") {
				return f, fragError(n, fmt.Sprintf("has an a=mid that is empty, longer than %d or has spaces", maxMidLen))
			}
			mid = val
		case "candidate":
			if len(f.candidates) == maxFragCandidates {
				return f, fragError(n, fmt.Sprintf("is candidate %d; a fragment may carry %d", maxFragCandidates+1, maxFragCandidates))
			}
			if _, err := ice.UnmarshalCandidate(val); err != nil {
				if errors.Is(err, ice.ErrUnknownCandidateTyp) || errors.Is(err, ice.ErrDetermineNetworkType) {
					continue // not usable here (pion drops these too)
				}
				return f, fragError(n, "has a bad candidate: "+err.Error())
			}
			f.candidates = append(f.candidates, fragCandidate{mid: mid, value: val})
		case "end-of-candidates":
			f.end = true
		}
	}
	return f, nil
}

func fragError(n int, what string) error {
	return errcode.BadRequest(fmt.Sprintf("trickle-ice-sdpfrag line %d %s", n, what))
}

// checkCred checks an ICE ufrag or password: ice-chars (ALPHA / DIGIT /
// "+" / "/") of RFC 8839's lengths, the same as any earlier one (prev).
func checkCred(n int, name, v string, minLen int, prev string) error {
	if len(v) < minLen || len(v) > maxCredLen {
		return fragError(n, fmt.Sprintf("has an ICE %s of %d characters; RFC 8839 allows %d to %d", name, len(v), minLen, maxCredLen))
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return fragError(n, fmt.Sprintf("has an ICE %s with %q, not an ice-char", name, c))
		}
	}
	if prev != "" && prev != v {
		return fragError(n, fmt.Sprintf("has a second, different ICE %s", name))
	}
	return nil
}

// iceCreds returns the ICE ufrag and password of a description: the
// session-level ones, else those of the section ICE runs on.
func iceCreds(sd *sdp.SessionDescription) (ufrag, pwd string) {
	ufrag, _ = sd.Attribute("ice-ufrag")
	pwd, _ = sd.Attribute("ice-pwd")
	if i := iceSection(sd); i >= 0 && ufrag == "" {
		ufrag, _ = sd.MediaDescriptions[i].Attribute("ice-ufrag")
		pwd, _ = sd.MediaDescriptions[i].Attribute("ice-pwd")
	}
	return ufrag, pwd
}

// iceSection is the index of the media section whose transport every
// section uses: the first of the BUNDLE group, else the first section (what
// pion reads candidates from); -1 when there is none.
func iceSection(sd *sdp.SessionDescription) int {
	if len(sd.MediaDescriptions) == 0 {
		return -1
	}
	if g, ok := sd.Attribute("group"); ok {
		if f := strings.Fields(g); len(f) > 1 && f[0] == "BUNDLE" {
			for i, md := range sd.MediaDescriptions {
				if mid, _ := md.Attribute("mid"); mid == f[1] {
					return i
				}
			}
		}
	}
	return 0
}

// restartOffer is the remote offer of an ICE restart: the session's
// current remote description with the fragment's credentials (and ICE
// options) in place of the old ones at every level where they appear, the
// old candidates removed and the fragment's candidates in the ICE section.
func restartOffer(remote string, f sdpFrag) (string, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(remote); err != nil {
		return "", fmt.Errorf("webrtc: parse the remote description: %w", err)
	}
	sd.Attributes = replaceICE(sd.Attributes, f)
	sec := iceSection(&sd)
	for i, md := range sd.MediaDescriptions {
		md.Attributes = replaceICE(md.Attributes, f)
		if i != sec {
			continue
		}
		for _, c := range f.candidates {
			md.Attributes = append(md.Attributes, sdp.NewAttribute("candidate", c.value))
		}
		if f.end {
			md.Attributes = append(md.Attributes, sdp.NewPropertyAttribute("end-of-candidates"))
		}
	}
	b, err := sd.Marshal()
	if err != nil {
		return "", fmt.Errorf("webrtc: marshal the restart offer: %w", err)
	}
	return string(b), nil
}

// replaceICE returns attrs with f's credentials and options and without
// candidates.
func replaceICE(attrs []sdp.Attribute, f sdpFrag) []sdp.Attribute {
	out := attrs[:0]
	for _, a := range attrs {
		switch a.Key {
		case "ice-ufrag":
			a.Value = f.ufrag
		case "ice-pwd":
			a.Value = f.pwd
		case "ice-options":
			if f.options != "" {
				a.Value = f.options
			}
		case "candidate", "end-of-candidates":
			continue
		}
		out = append(out, a)
	}
	return out
}

// answerFrag is the body of a restart's 200: the server's new ICE
// credentials (and a=ice-lite, a=ice-options when the answer has them),
// then the answer's ICE section line with its mid and candidates. Lines end
// in CRLF (some clients match "\r\n").
func answerFrag(local string) (string, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(local); err != nil {
		return "", fmt.Errorf("webrtc: parse the local description: %w", err)
	}
	var b strings.Builder
	if _, ok := sd.Attribute("ice-lite"); ok {
		b.WriteString("a=ice-lite\r\n")
	}
	ufrag, pwd := iceCreds(&sd)
	if ufrag == "" || pwd == "" {
		return "", errors.New("webrtc: the answer has no ICE credentials")
	}
	i := iceSection(&sd)
	opts, ok := sd.Attribute("ice-options")
	if !ok && i >= 0 {
		opts, ok = sd.MediaDescriptions[i].Attribute("ice-options")
	}
	if ok && opts != "" {
		b.WriteString("a=ice-options:" + opts + "\r\n")
	}
	b.WriteString("a=ice-ufrag:" + ufrag + "\r\na=ice-pwd:" + pwd + "\r\n")
	if i < 0 {
		return b.String(), nil
	}
	md := sd.MediaDescriptions[i]
	b.WriteString("m=" + md.MediaName.String() + "\r\n")
	if mid, ok := md.Attribute("mid"); ok {
		b.WriteString("a=mid:" + mid + "\r\n")
	}
	for _, a := range md.Attributes {
		switch a.Key {
		case "candidate":
			// RTCP is muxed (WebRTC requires it), so component 2 copies
			// are noise; some clients (whip-whep-js 1.2.0) also mangle
			// answers with several candidates, so send only what is used.
			if f := strings.Fields(a.Value); len(f) > 1 && f[1] != "1" {
				continue
			}
			b.WriteString("a=candidate:" + a.Value + "\r\n")
		case "end-of-candidates":
			b.WriteString("a=end-of-candidates\r\n")
		}
	}
	return b.String(), nil
}
