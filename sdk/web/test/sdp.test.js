// H.264 forcing: offers rewritten so that VP8 (Chrome's first choice) and
// every other non-H.264 video codec cannot be negotiated, and audio is Opus.

import test from 'node:test';
import assert from 'node:assert/strict';
import { forceCodecs, h264Rank, h264Preferences, negotiated } from '../src/sdp.js';
import { MiniRTCError } from '../src/errors.js';
import { chromeOffer, capabilities } from './fakes.js';

function section(sdp, kind) {
  const lines = sdp.split('\r\n');
  const start = lines.findIndex((l) => l.startsWith('m=' + kind));
  const end = lines.findIndex((l, i) => i > start && l.startsWith('m='));
  return lines.slice(start, end < 0 ? undefined : end).filter(Boolean);
}

test('h264Rank: constrained baseline, baseline, main; nothing else', () => {
  const cases = [
    ['level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f', 0],
    ['packetization-mode=1;profile-level-id=42c01f', 0],
    ['level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f', 1],
    ['packetization-mode=1', 1],
    ['level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f', 2],
    ['level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f', -1],
    ['level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f', -1],
    ['profile-level-id=42e01f', -1],
    ['', -1]
  ];
  for (const [fmtp, want] of cases) assert.equal(h264Rank(fmtp), want, fmtp);
});

test('forceCodecs keeps only H.264 mode 1 (best profile first) and Opus', () => {
  const offer = chromeOffer([{ kind: 'audio', direction: 'sendonly' }, { kind: 'video', direction: 'sendonly' }]);
  assert.match(offer, /VP8/);
  const out = forceCodecs(offer);
  const video = section(out, 'video');
  assert.equal(video[0], 'm=video 9 UDP/TLS/RTP/SAVPF 106 102 116');
  assert.doesNotMatch(out, /VP8|VP9|AV1|rtx|red\/|ulpfec|G722|PCMU|PCMA|telephone-event|CN\//);
  for (const l of video) {
    const m = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)/.exec(l);
    if (m) assert.ok(['106', '102', '116'].includes(m[1]), 'leftover attribute ' + l);
  }
  assert.ok(video.includes('a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f'));
  assert.ok(video.includes('a=rtcp-fb:102 nack pli'));
  const audio = section(out, 'audio');
  assert.equal(audio[0], 'm=audio 9 UDP/TLS/RTP/SAVPF 111');
  assert.ok(audio.includes('a=fmtp:111 minptime=10;useinbandfec=1'));
  // everything else survives: ICE, DTLS, mid, direction, candidates
  for (const l of ['a=mid:1', 'a=sendonly', 'a=setup:actpass', 'a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', 'a=group:BUNDLE 0 1']) {
    assert.ok(out.includes(l + '\r\n'), l);
  }
  assert.equal(forceCodecs(out), out, 'idempotent');
  assert.deepEqual(negotiated(out), { audio: 'opus', video: 'h264' });
});

test('forceCodecs refuses an offer without acceptable H.264 (430 codec not acceptable)', () => {
  const vp8only = chromeOffer([{ kind: 'video', direction: 'sendonly', prefs: [{ mimeType: 'video/VP8' }] }]);
  assert.throws(() => forceCodecs(vp8only), (e) => e instanceof MiniRTCError && e.code === 430 && /^codec not acceptable: .*H\.264/.test(e.reason));
  const high = chromeOffer([{ kind: 'video', direction: 'sendonly', prefs: [{ mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f' }] }]);
  assert.throws(() => forceCodecs(high), (e) => e.code === 430);
  const noOpus = chromeOffer([{ kind: 'audio', direction: 'sendonly', prefs: [{ mimeType: 'audio/PCMU' }] }]);
  assert.throws(() => forceCodecs(noOpus), (e) => e.code === 430 && /Opus/.test(e.reason));
});

test('forceCodecs leaves rejected sections and LF-only SDP alone', () => {
  const offer = chromeOffer([{ kind: 'video', direction: 'sendonly' }]).replace('m=video 9 ', 'm=video 0 ');
  assert.match(forceCodecs(offer), /VP8/);
  const lf = chromeOffer([{ kind: 'video', direction: 'sendonly' }]).replace(/\r\n/g, '\n');
  assert.match(forceCodecs(lf), /^m=video 9 UDP\/TLS\/RTP\/SAVPF 106 102 116\r$/m);
});

test('h264Preferences: the setCodecPreferences list has only acceptable H.264, best first', () => {
  const prefs = h264Preferences(capabilities('video').codecs);
  assert.deepEqual(prefs.map((c) => c.sdpFmtpLine.match(/profile-level-id=(\w+)/)[1]), ['42e01f', '42001f', '4d001f']);
  assert.ok(prefs.every((c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine)));
  assert.deepEqual(h264Preferences(undefined), []);
});

test('negotiated reads the first payload type of each live section', () => {
  const ans = 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n';
  assert.deepEqual(negotiated(ans), { audio: 'opus', video: 'vp8' });
  assert.deepEqual(negotiated('v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\n'), {});
});
