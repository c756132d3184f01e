// SDP rules for minirtc's WebRTC bridge: video must be H.264 with
// packetization-mode 1 in a profile mini program players decode (constrained
// baseline, baseline, main), audio must be Opus. forceCodecs rewrites an
// offer so nothing else can be negotiated (the "VP8 mistake": Chrome's
// default VP8 reaches no mini program); h264Preferences does the same
// through RTCRtpTransceiver.setCodecPreferences where the browser has it.

import { CODES, fail } from './errors.js';

/**
 * Rank of an H.264 fmtp line, lower is better: 0 constrained baseline
 * (profile_idc 42 with constraint_set1), 1 baseline, 2 main; -1 when not
 * acceptable (another profile, or not packetization-mode 1).
 */
export function h264Rank(fmtp) {
  const f = String(fmtp || '').toLowerCase();
  if (!/(^|;)\s*packetization-mode=1\s*(;|$)/.test(f)) return -1;
  const m = /profile-level-id=([0-9a-f]{6})/.exec(f);
  // No profile-level-id means baseline 42 00 1f (RFC 6184).
  const idc = m ? m[1].slice(0, 2) : '42';
  const constraints = m ? parseInt(m[1].slice(2, 4), 16) : 0;
  if (idc === '42') return constraints & 0x40 ? 0 : 1;
  if (idc === '4d') return 2;
  return -1;
}

/**
 * The codec list for setCodecPreferences: only acceptable H.264 entries of
 * RTCRtp{Sender,Receiver}.getCapabilities('video').codecs, best first.
 */
export function h264Preferences(codecs) {
  return (codecs || [])
    .filter((c) => String(c.mimeType).toLowerCase() === 'video/h264' && h264Rank(c.sdpFmtpLine) >= 0)
    .map((c, i) => ({ c, i, r: h264Rank(c.sdpFmtpLine) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.c);
}

function splitLines(sdp) {
  return String(sdp).split(/\r?\n/).filter((l, i, all) => l !== '' || i < all.length - 1);
}

/** Splits an SDP into the session part and its media sections (arrays of lines). */
function sections(sdp) {
  const lines = splitLines(sdp).filter((l) => l !== '');
  const out = [[]];
  for (const l of lines) {
    if (l.startsWith('m=')) out.push([]);
    out[out.length - 1].push(l);
  }
  return out;
}

/** Payload types of a media section: pt -> {codec, clock, fmtp}. */
function payloads(section) {
  const map = new Map();
  const get = (pt) => {
    if (!map.has(pt)) map.set(pt, { codec: '', fmtp: '' });
    return map.get(pt);
  };
  for (const l of section) {
    let m = /^a=rtpmap:(\d+) ([^/\s]+)/.exec(l);
    if (m) get(m[1]).codec = m[2].toLowerCase();
    m = /^a=fmtp:(\d+) (.*)$/.exec(l);
    if (m) get(m[1]).fmtp = m[2];
  }
  return map;
}

function acceptable(kind, p) {
  if (kind === 'video') return p.codec === 'h264' && h264Rank(p.fmtp) >= 0;
  if (kind === 'audio') return p.codec === 'opus';
  return true;
}

/**
 * Rewrites an SDP offer so that video sections offer only acceptable H.264
 * payload types (best profile first) and audio sections only Opus; rtx, red,
 * ulpfec and the rest are dropped with their attributes. Rejected sections
 * (port 0) stay as they are. Throws MiniRTCError 430 "codec not acceptable"
 * when a section would be left without a codec.
 */
export function forceCodecs(sdp) {
  const secs = sections(sdp);
  const out = [];
  for (let s = 0; s < secs.length; s++) {
    const sec = secs[s];
    const m = s === 0 ? null : /^m=(\w+) (\d+) (\S+) (.*)$/.exec(sec[0]);
    if (!m || (m[1] !== 'video' && m[1] !== 'audio') || m[2] === '0') {
      out.push(...sec);
      continue;
    }
    const kind = m[1];
    const map = payloads(sec);
    const offered = m[4].trim().split(/\s+/);
    let keep = offered.filter((pt) => map.has(pt) && acceptable(kind, map.get(pt)));
    if (kind === 'video') {
      keep = keep.map((pt, i) => ({ pt, i, r: h264Rank(map.get(pt).fmtp) }))
        .sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.pt);
    }
    if (keep.length === 0) {
      throw fail(CODES.BAD_REQUEST, kind === 'video'
        ? 'codec not acceptable: this browser offers no H.264 (packetization-mode 1, baseline or main profile); mini program players decode only H.264'
        : 'codec not acceptable: this browser offers no Opus audio');
    }
    const kept = new Set(keep);
    out.push(`m=${kind} ${m[2]} ${m[3]} ${keep.join(' ')}`);
    for (const l of sec.slice(1)) {
      const a = /^a=(rtpmap|fmtp|rtcp-fb):(\d+|\*)[\s]/.exec(l);
      if (a && a[2] !== '*' && !kept.has(a[2])) continue;
      out.push(l);
    }
  }
  return out.join('\r\n') + '\r\n';
}

/**
 * The codecs an SDP (an answer) uses per media kind: the first payload type
 * of each non-rejected section, e.g. {video: "h264", audio: "opus"}.
 */
export function negotiated(sdp) {
  const res = {};
  const secs = sections(sdp);
  for (let s = 1; s < secs.length; s++) {
    const m = /^m=(\w+) (\d+) \S+ (.*)$/.exec(secs[s][0]);
    if (!m || m[2] === '0' || res[m[1]] !== undefined) continue;
    const first = m[3].trim().split(/\s+/)[0];
    const p = payloads(secs[s]).get(first);
    res[m[1]] = p ? p.codec : '';
  }
  return res;
}
