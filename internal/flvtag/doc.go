// Package flvtag is the FLV tag encoding shared by the RTMP and HTTP-FLV
// adapters (Adobe Flash Video File Format Specification 10.1, Annex E, and
// the enhanced RTMP/FLV v1 extensions for H.265 and Opus): tag headers and
// bodies, the codec prefix of an audio/video body (which RTMP audio/video
// messages share), sequence headers and onMetaData, each built once per
// packet or track and cached in the hub's wire slots (media.WireFLV); AMF0
// values; and a tag reader used by tests and fuzz targets.
//
// It is codec-level: no I/O, no goroutines. It imports internal/media only
// for packet and track types; internal/rtmp and internal/flv import it, and
// neither imports the other.
package flvtag
