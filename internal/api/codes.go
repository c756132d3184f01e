package api

// Meanings of the state codes that <live-pusher> and <live-player> report
// with bindstatechange and binderror (WeChat's live-pusher/live-player documentation),
// which the mini program SDK forwards as report_pusher_state and
// report_player_state. The console shows them in words in a member's
// diagnostics timeline.

// CodeInfo says what one state code means.
type CodeInfo struct {
	Meaning  string `json:"meaning"`
	Severity string `json:"severity"` // info, warning or error
	// Fix says what to check, for warnings and errors.
	Fix string `json:"fix,omitempty"`
}

const (
	sevInfo    = "info"
	sevWarning = "warning"
	sevError   = "error"
)

const fixRTMP = "the push or play URL is wrong, expired or refused: get a fresh URL from publish/subscribe (check the node's public RTMP address and that the token is valid)"

var pusherCodes = map[int]CodeInfo{
	1001:  {"connected to the RTMP server", sevInfo, ""},
	1002:  {"push started: media is flowing", sevInfo, ""},
	1003:  {"camera started", sevInfo, ""},
	1004:  {"screen capture started", sevInfo, ""},
	1005:  {"encoder resolution changed", sevInfo, ""},
	1006:  {"encoder bitrate changed", sevInfo, ""},
	1007:  {"first frame captured", sevInfo, ""},
	1008:  {"encoder started", sevInfo, ""},
	1018:  {"entered the room", sevInfo, ""},
	1019:  {"left the room", sevInfo, ""},
	1101:  {"uplink busy: the network is too slow for the bitrate", sevWarning, "lower max-bitrate or move to a better network"},
	1102:  {"reconnecting after a network drop", sevWarning, "the network dropped; the pusher retries on its own"},
	3001:  {"RTMP DNS lookup failed", sevError, "the push URL's host does not resolve from the phone"},
	3002:  {"RTMP connect failed", sevError, "the node's RTMP port is not reachable from the phone (firewall, public address)"},
	3003:  {"RTMP handshake failed", sevError, fixRTMP},
	3004:  {"RTMP server closed the connection", sevError, fixRTMP},
	3005:  {"RTMP read/write failed", sevError, "the connection broke; the pusher retries"},
	5000:  {"suspended: the mini program went to the background", sevWarning, "the app is in the background; WeChat pushes the waiting image and may cut the connection (904)"},
	5001:  {"interrupted (a call or another app took the camera or microphone)", sevWarning, "the pusher resumes when the interruption ends"},
	-1301: {"could not open the camera", sevError, "the user denied the camera, or another app holds it"},
	-1302: {"could not open the microphone", sevError, "the user denied the microphone, or another app holds it"},
	-1303: {"video encoder failed", sevError, "lower the resolution or remount the live-pusher"},
	-1304: {"audio encoder failed", sevError, "remount the live-pusher"},
	-1305: {"unsupported video resolution", sevError, "choose another live-pusher mode"},
	-1306: {"unsupported audio sample rate", sevError, "choose another audio-quality"},
	-1307: {"network lost after every retry (fatal)", sevError, "remount the live-pusher and get a new URL with publish"},
	10001: {"camera permission denied", sevError, "ask the user to allow the camera (wx.authorize scope.camera)"},
	10002: {"microphone permission denied", sevError, "ask the user to allow the microphone (wx.authorize scope.record)"},
	10003: {"background music failed", sevWarning, ""},
	10004: {"waiting image failed to load", sevWarning, "check the waiting-image URL"},
}

var playerCodes = map[int]CodeInfo{
	2001:  {"connected to the server", sevInfo, ""},
	2002:  {"play started", sevInfo, ""},
	2003:  {"first keyframe received", sevInfo, ""},
	2004:  {"playing: video is shown", sevInfo, ""},
	2005:  {"play progress", sevInfo, ""},
	2006:  {"play ended", sevInfo, ""},
	2007:  {"loading (buffering)", sevWarning, "the network or the publisher is too slow"},
	2008:  {"decoder started", sevInfo, ""},
	2009:  {"video resolution changed", sevInfo, ""},
	2101:  {"video decoding failed", sevWarning, "the stream may not be H.264/H.265"},
	2102:  {"audio decoding failed", sevWarning, "the stream's audio must be AAC for mini programs"},
	2103:  {"reconnecting after a network drop", sevWarning, "the network dropped; the player retries on its own"},
	2104:  {"unstable stream: the publisher's upload is too slow", sevWarning, "look at the publisher's network"},
	2105:  {"video stutter", sevWarning, ""},
	2106:  {"hardware decoding failed, software decoding used", sevInfo, ""},
	2107:  {"the current video frame is not continuous", sevWarning, ""},
	2108:  {"hardware decoding of the first frame failed", sevWarning, ""},
	3001:  {"RTMP DNS lookup failed", sevError, "the play URL's host does not resolve from the phone"},
	3002:  {"RTMP connect failed", sevError, "the node's RTMP port is not reachable from the phone"},
	3003:  {"RTMP handshake failed", sevError, fixRTMP},
	3004:  {"server closed the connection", sevError, fixRTMP},
	3005:  {"RTMP read/write failed", sevError, "the connection broke; the player retries"},
	-2301: {"disconnected after every retry (fatal)", sevError, "subscribe again for a new URL and remount the live-player"},
	-2302: {"could not get the play URL", sevError, "subscribe again; check the node's public address"},
}

// DescribeCode returns the meaning of a pusher (player false) or player
// state code, and false when the code is not in the table.
func DescribeCode(player bool, code int) (CodeInfo, bool) {
	t := pusherCodes
	if player {
		t = playerCodes
	}
	c, ok := t[code]
	if !ok || c.Meaning == "" {
		return CodeInfo{Meaning: "unknown code", Severity: sevInfo}, false
	}
	return c, true
}
