package rtmp

import (
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/minirtc/minirtc/internal/media"
)

// playAudio is the audio codec an RTMP viewer takes from the hub
// (media.SubscribeOptions.Audio): AAC, the only audio mini program players
// (live-player) and legacy RTMP players decode, made from Opus by the hub
// when the publisher sends Opus; or the source's codec, whatever it is, when
// the viewer's connect command lists Opus in its enhanced-RTMP fourCcList.
func playAudio(fourCCs amf0.StrictArray) media.Codec {
	for _, v := range fourCCs {
		if s, ok := v.(string); ok && s == "Opus" {
			return media.CodecUnknown
		}
	}
	return media.CodecAAC
}
