// The Client against a fake minirtc: the allocation request, the gateway
// protocol (envelope, join fields, requestIds, pings, replies, pushes and
// the events they become, refusals, time outs, a lost socket), WHIP publish
// with H.264 forced and the joined uid and token, WHEP subscribe with the
// retry while a stream is announced but not live, and leave (DELETEs, leave
// request, close).

import test from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { Client, MiniRTCError, SDK_VERSION, LOG } from '../src/minirtc-web-sdk.js';
import {
  startFakeServer, FakePeerConnection, FakeMediaStream, FakeTrack, fakeSender, fakeReceiver, peers
} from './fakes.js';

LOG.setLogLevel(4);

const APP = '0123456789abcdef0123456789abcdef';

function newClient(srv, extra) {
  return new Client(Object.assign({
    apUrl: srv.apUrl,
    WebSocket,
    RTCPeerConnection: FakePeerConnection,
    MediaStream: FakeMediaStream,
    RTCRtpSender: fakeSender,
    RTCRtpReceiver: fakeReceiver
  }, extra));
}

async function until(cond, what) {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail('timed out waiting for ' + what);
}

function camera() {
  return new FakeMediaStream([new FakeTrack('audio'), new FakeTrack('video')]);
}

test('join: allocation, then the join request over the gateway WebSocket', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  const c = newClient(srv, { pingInterval: 50 });
  await c.init(' ' + APP + ' ');
  const uid = await c.join('tok-123', 'room 1', 42);
  assert.equal(uid, 42);
  assert.equal(c.uid, 42);

  const ap = srv.requests.find((r) => r.path === '/api/v1');
  assert.equal(ap.method, 'POST');
  assert.match(ap.headers['content-type'], /application\/json/);
  const outer = JSON.parse(ap.body);
  assert.equal(outer.service_name, 'miniapp');
  const inner = JSON.parse(outer.json_body);
  assert.equal(inner.command, 'convergeAllocateEdge');
  assert.equal(inner.appId, APP);
  assert.equal(inner.token, APP, 'the token is not sent to the allocation endpoint');
  assert.equal(inner.uid, '42');
  assert.equal(inner.cname, 'room 1');
  assert.match(inner.sid, /^[0-9A-F]{32}$/);

  const join = srv.frames[0];
  assert.equal(join.requestId, 3);
  assert.equal(join.seq, 2);
  assert.equal(join.sdkVersion, '1.1.0');
  assert.equal(join.appId, APP);
  assert.equal(join.cname, 'room 1');
  assert.equal(join.uid, '42');
  assert.equal(join.sid, inner.sid);
  const r = join.clientRequest;
  assert.deepEqual(
    { action: r.action, role: r.role, key_vos: r.key_vos, key_vocs: r.key_vocs, channel_name: r.channel_name, uid: r.uid, vid: r.vid, version: r.version, clientType: r.clientType, uidType: r.uidType, audio_only: r.audio_only },
    { action: 'join', role: 'broadcaster', key_vos: 'tok-123', key_vocs: 'tok-123', channel_name: 'room 1', uid: '42', vid: '77', version: SDK_VERSION, clientType: 'web', uidType: 0, audio_only: false });

  await until(() => srv.pings >= 2, 'pings');
  await c.muteLocal('audio');
  const mute = srv.frames[1];
  assert.ok(mute.requestId > 3 + srv.pings - 1, 'pings share the requestId counter');
  assert.equal(mute.seq, 3, 'pings do not advance seq');
  assert.deepEqual(mute.clientRequest, { action: 'mute_local', uid: 42, target: 'audio', mute: true });

  await c.leave();
  assert.deepEqual(srv.actions(), ['join', 'mute_local', 'leave']);
  assert.equal(c.uid, 42);
});

test('join without a token sends the appId; a falsy uid becomes a random one', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  const c = newClient(srv, { random: () => 0.5 });
  await c.init(APP);
  const uid = await c.join('', 'room', null);
  assert.equal(uid, 1 + Math.floor(0.5 * 9999998));
  assert.equal(srv.frames[0].clientRequest.key_vos, APP);
  await c.leave();
});

test('pushes become the mini program SDK events with the same payloads', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  const c = newClient(srv);
  const got = [];
  for (const ev of ['stream-added', 'stream-removed', 'update-url', 'video-rotation', 'mute-audio', 'unmute-audio', 'mute-video',
    'unmute-video', 'token-privilege-will-expire', 'token-privilege-did-expire', 'client-banned', 'error', 'custom-thing']) {
    c.on(ev, (p) => got.push([ev, p]));
  }
  const dropped = () => got.push(['dropped']);
  c.on('stream-added', dropped);
  c.off('stream-added', dropped);
  await c.init(APP);
  await c.join('t', 'room', 1);
  const pushes = [
    { serverStatus: { action: 'stream-added', uid: 7 } },
    { serverStatus: { action: 'audio-mute', uid: 7, mute: true } },
    { serverStatus: { action: 'audio-mute', uid: 7, mute: false } },
    { serverStatus: { action: 'video-mute', uid: 7, mute: true } },
    { serverStatus: { action: 'video-mute', uid: 7, mute: false } },
    { serverStatus: { action: 'video-rotation', uid: 7, rotation: 90 } },
    { serverStatus: { action: 'update-url', uid: 7, url: 'rtmp://x' } },
    { serverStatus: { action: 'key-will-expire' } },
    { serverStatus: { action: 'key-expired' } },
    { serverStatus: { action: 'client-is-banned-by-server' } },
    { serverStatus: { action: 'custom-thing', uid: 7, x: 1 } },
    { code: 503, reason: 'draining', serverStatus: { action: 'stream-added', uid: 99 } },
    { code: 501, reason: 'node draining: rejoin' },
    { serverStatus: { action: 'stream-removed', uid: 7 } }
  ];
  for (const p of pushes) srv.push(Object.assign({ command: 'serverStatus' }, p));
  srv.push({ command: 'somethingElse', serverStatus: { action: 'stream-added', uid: 98 } });
  await until(() => got.length >= 13, 'events');
  assert.deepEqual(got, [
    ['stream-added', { action: 'stream-added', uid: 7 }],
    ['mute-audio', { uid: 7 }],
    ['unmute-audio', { uid: 7 }],
    ['mute-video', { uid: 7 }],
    ['unmute-video', { uid: 7 }],
    ['video-rotation', { action: 'video-rotation', uid: 7, rotation: 90 }],
    ['update-url', { action: 'update-url', uid: 7, url: 'rtmp://x' }],
    ['token-privilege-will-expire', undefined],
    ['token-privilege-did-expire', undefined],
    ['client-banned', undefined],
    ['custom-thing', { action: 'custom-thing', uid: 7, x: 1 }],
    ['error', { code: 501, reason: 'node draining: rejoin' }],
    ['stream-removed', { action: 'stream-removed', uid: 7 }]
  ]);
  await c.leave();
});

test('a refused join rejects with the server code and reason; the client can join again', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  let refuse = true;
  srv.onRequest = (msg, reply) => {
    if (msg.clientRequest.action === 'join' && refuse) {
      reply(401, undefined, 'invalid key: token is for another uid');
      return true;
    }
    return false;
  };
  const c = newClient(srv);
  await c.init(APP);
  await assert.rejects(c.join('bad', 'room', 3), (e) => e instanceof MiniRTCError && e.code === 401 &&
    e.reason === 'invalid key: token is for another uid' && /\/api$/.test(e.wsurl));
  await assert.rejects(c.publish(camera()), (e) => e.code === 430 && /join\(\) a channel first/.test(e.reason));
  refuse = false;
  assert.equal(await c.join('good', 'room', 3), 3);
  await c.leave();
});

test('no reply within requestTimeout: 903; allocation failures: 901; no gateway: 905', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  srv.onRequest = (msg) => msg.clientRequest.action === 'set_role';
  const c = newClient(srv, { requestTimeout: 200 });
  await c.init(APP);
  await c.join('t', 'room', 3);
  await assert.rejects(c.setRole('audience'), (e) => e.code === 903 && e.reason === 'time out');
  await c.leave();

  srv.apStatus = 500;
  const c2 = newClient(srv);
  await c2.init(APP);
  await assert.rejects(c2.join('t', 'room', 4), (e) => e.code === 901 && /HTTP 500/.test(e.reason));
  srv.apStatus = 200;

  const c3 = newClient(srv, { servers: ['ws://127.0.0.1:9/api', srv.url.replace('http', 'ws') + '/nope'], connectTimeout: 300 });
  await c3.init(APP);
  await assert.rejects(c3.join('t', 'room', 5), (e) => e.code === 905 && e.reason === 'connect websocket failed' && JSON.parse(e.wsurl).length === 2);
});

test('a lost socket: error 904, pending requests reject with 904; a server close with reason "close" is silent', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  srv.onRequest = (msg) => msg.clientRequest.action === 'mute_local';
  const c = newClient(srv);
  const errors = [];
  c.on('error', (e) => errors.push(e));
  await c.init(APP);
  await c.join('t', 'room', 3);
  const pending = c.muteLocal('video');
  await until(() => srv.frames.length === 2, 'mute request');
  srv.sockets[0].terminate();
  await assert.rejects(pending, (e) => e.code === 904);
  await until(() => errors.length === 1, 'error event');
  assert.deepEqual(errors, [{ code: 904, reason: 'websocket disconnected' }]);
  await assert.rejects(c.muteLocal('video'), (e) => e.code === 904);
  await c.leave();

  const c2 = newClient(srv);
  const errors2 = [];
  c2.on('error', (e) => errors2.push(e));
  await c2.init(APP);
  await c2.join('t', 'room', 4);
  srv.sockets[1].close(1000, 'close');
  await until(() => srv.sockets[1].readyState === WebSocket.CLOSED, 'close');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(errors2, []);
  await assert.rejects(c2.unmuteLocal('audio'), (e) => e.code === 904);
});

test('publish: WHIP as the joined uid with its token, H.264 forced, Opus; mute toggles the tracks; leave DELETEs', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  const c = newClient(srv);
  await c.init(APP);
  await c.join('tok-9', 'my room', 9);
  peers.length = 0;
  const stream = camera();
  await c.publish(stream);
  const whip = srv.requests.find((r) => r.path.startsWith('/whip/'));
  assert.equal(whip.path, `/whip/${APP}/my%20room/9`);
  assert.equal(whip.headers.authorization, 'Bearer tok-9');
  assert.equal(whip.headers['content-type'], 'application/sdp');
  assert.doesNotMatch(whip.body, /VP8|VP9|AV1/);
  assert.match(whip.body, /^m=video 9 UDP\/TLS\/RTP\/SAVPF 106 102 116\r$/m);
  assert.match(whip.body, /^m=audio 9 UDP\/TLS\/RTP\/SAVPF 111\r$/m);
  const pc = peers[0];
  assert.deepEqual(pc.transceivers.map((tr) => [tr.kind, tr.direction]), [['audio', 'sendonly'], ['video', 'sendonly']]);
  assert.ok(pc.transceivers[1].prefs.every((p) => p.mimeType === 'video/H264'), 'setCodecPreferences: H.264 only');
  assert.ok(pc.remoteDescription, 'answer applied');
  assert.deepEqual(srv.actions(), ['join'], 'no gateway publish: the WHIP session attaches to the member');
  assert.ok(await c.getStats());

  await c.muteLocal('video');
  assert.equal(stream.getTracks()[1].enabled, false);
  assert.equal(stream.getTracks()[0].enabled, true);
  await c.unmuteLocal('all');
  assert.ok(stream.getTracks().every((tr) => tr.enabled));

  await c.unpublish();
  assert.ok(pc.closed);
  assert.equal(srv.requests.filter((r) => r.method === 'DELETE').map((r) => r.path).join(), '/webrtc/session/s1');
  await c.publish(stream);
  await c.leave();
  assert.deepEqual(srv.requests.filter((r) => r.method === 'DELETE').map((r) => r.path), ['/webrtc/session/s1', '/webrtc/session/s2']);
  assert.equal(srv.requests.filter((r) => r.method === 'DELETE')[1].headers.authorization, 'Bearer tok-9');
  assert.deepEqual(srv.actions(), ['join', 'mute_local', 'mute_local', 'leave']);
});

test('publish refusals carry the server code and reason; audience cannot publish', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  srv.onMedia = () => ({ status: 403, body: JSON.stringify({ code: 433, reason: 'no authorized: token lacks publish privilege' }) });
  const c = newClient(srv);
  await c.init(APP);
  await c.setRole('audience');
  await c.join('t', 'room', 9);
  assert.equal(srv.frames[0].clientRequest.role, 'audience');
  await assert.rejects(c.publish(camera()), (e) => e.code === 433 && /^no authorized: audience cannot publish/.test(e.reason));
  await c.setRole('broadcaster');
  await assert.rejects(c.publish(camera()), (e) => e instanceof MiniRTCError && e.code === 433 && e.status === 403 &&
    e.reason === 'no authorized: token lacks publish privilege');
  srv.onMedia = () => ({ status: 502, headers: { 'Content-Type': 'text/plain' }, body: 'bad gateway' });
  await assert.rejects(c.publish(camera()), (e) => e.code === 500 && /WHIP answered HTTP 502 \(bad gateway\)/.test(e.reason));
  await c.leave();
});

test('subscribe: WHEP for the uid, retried while not live (432), resolves a MediaStream; stream-removed ends it', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  let notLive = 2;
  srv.onMedia = (req) => {
    if (req.path.startsWith('/whep/') && notLive > 0) {
      notLive--;
      return { status: 404, body: JSON.stringify({ code: 432, reason: 'not found: uid 7 is not publishing in this channel' }) };
    }
    return null;
  };
  const c = newClient(srv);
  await c.init(APP);
  await c.join('tok-1', 'room', 1);
  peers.length = 0;
  const stream = await c.subscribe(7);
  const wheps = srv.requests.filter((r) => r.path.startsWith('/whep/'));
  assert.equal(wheps.length, 3);
  assert.equal(wheps[2].path, `/whep/${APP}/room/7?uid=1`);
  assert.equal(wheps[2].headers.authorization, 'Bearer tok-1');
  assert.deepEqual(stream.getTracks().map((tr) => tr.kind).sort(), ['audio', 'video']);
  const pc = peers[peers.length - 1];
  assert.deepEqual(pc.transceivers.map((tr) => [tr.kind, tr.direction]), [['video', 'recvonly'], ['audio', 'recvonly']]);
  assert.ok(peers.slice(0, -1).every((p) => p.closed), 'failed attempts are closed');

  await c.mute(7, 'audio');
  assert.equal(stream.getTracks().find((tr) => tr.kind === 'audio').enabled, false);
  assert.deepEqual(srv.frames[1].clientRequest, { action: 'mute', uid: 7, target: 'audio' });

  const removed = new Promise((resolve) => c.on('stream-removed', resolve));
  srv.push({ command: 'serverStatus', serverStatus: { action: 'stream-removed', uid: 7 } });
  await removed;
  await until(() => srv.requests.some((r) => r.method === 'DELETE'), 'DELETE');
  assert.ok(pc.closed);
  assert.equal(await c.getStats(7), null);
  await c.leave();
});

test('subscribe gives up with 432 after subscribeTimeout; unsubscribe during the retries ends it', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  srv.onMedia = () => ({ status: 404, body: JSON.stringify({ code: 432, reason: 'not found: uid 7 is not publishing in this channel' }) });
  const c = newClient(srv, { subscribeTimeout: 400 });
  await c.init(APP);
  await c.join('t', 'room', 1);
  await assert.rejects(c.subscribe(7), (e) => e.code === 432 && /not publishing/.test(e.reason));
  const c2 = newClient(srv, { subscribeTimeout: 5000 });
  await c2.init(APP);
  await c2.join('t', 'room', 2);
  const p = c2.subscribe(8, { audio: false });
  await new Promise((r) => setTimeout(r, 100));
  await c2.unsubscribe(8);
  await assert.rejects(p, (e) => e.code === 432 && /ended/.test(e.reason));
  await c.leave();
  await c2.leave();
});

test('join again after a lost socket ends the old WHIP/WHEP sessions first', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  const c = newClient(srv);
  c.on('error', () => {});
  await c.init(APP);
  await c.join('old', 'room', 5);
  await c.publish(camera());
  await c.subscribe(8);
  srv.sockets[0].terminate();
  await assert.rejects(c.muteLocal('audio'), (e) => e.code === 904);
  assert.equal(await c.join('new', 'room', 5), 5);
  const deletes = srv.requests.filter((r) => r.method === 'DELETE');
  assert.deepEqual(deletes.map((r) => r.path).sort(), ['/webrtc/session/s1', '/webrtc/session/s2']);
  assert.ok(deletes.every((r) => r.headers.authorization === 'Bearer old'));
  assert.equal(await c.getStats(), null);
  assert.equal(await c.getStats(8), null);
  await c.publish(camera());
  assert.equal(srv.requests.filter((r) => r.path.startsWith('/whip/')).pop().headers.authorization, 'Bearer new');
  await c.leave();
});

// The mini program SDK's drop-in additions, mirrored here: isConnected(), a
// wildcard listener that gets every event with its name first, and the
// LOG.onlog spelling of LOG.onLog.
test('isConnected and on("*") follow the mini program SDK', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  const c = newClient(srv);
  const all = [];
  const own = [];
  c.on('*', (type, payload) => all.push([type, payload]));
  c.on('stream-added', (p) => own.push(p));
  assert.equal(c.isConnected(), false, 'before join');
  await c.init(APP);
  await c.join('t', 'room', 1);
  assert.equal(c.isConnected(), true, 'after join');
  srv.push({ command: 'serverStatus', serverStatus: { action: 'stream-added', uid: 7 } });
  srv.push({ command: 'serverStatus', serverStatus: { action: 'audio-mute', uid: 7, mute: true } });
  srv.push({ command: 'serverStatus', serverStatus: { action: 'key-will-expire' } });
  await until(() => all.length >= 3, 'wildcard events');
  assert.deepEqual(all, [
    ['stream-added', { action: 'stream-added', uid: 7 }],
    ['mute-audio', { uid: 7 }],
    ['token-privilege-will-expire', undefined]
  ]);
  assert.deepEqual(own, [{ action: 'stream-added', uid: 7 }]);
  c.off('*');
  const removed = [];
  c.on('stream-removed', (p) => removed.push(p));
  srv.push({ command: 'serverStatus', serverStatus: { action: 'stream-removed', uid: 7 } });
  await until(() => removed.length === 1, 'stream-removed');
  await c.leave();
  assert.equal(c.isConnected(), false, 'after leave');
  assert.equal(all.length, 3, 'a removed wildcard listener was called');
});

test('LOG.onlog is LOG.onLog', () => {
  const lines = [];
  const level = LOG.getLogLevel();
  LOG.setLogLevel(1);
  const consoleLog = console.log;
  console.log = () => {};
  try {
    LOG.onlog = (line) => lines.push(line);
    assert.equal(LOG.onLog, LOG.onlog);
    new Client({ apUrl: 'http://127.0.0.1:9/api/v1' });
    assert.ok(lines.some((l) => l.includes('client created')));
  } finally {
    console.log = consoleLog;
    LOG.onlog = null;
    LOG.setLogLevel(level);
  }
  assert.equal(LOG.onLog, null);
});
