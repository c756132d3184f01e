'use strict';
// The wire protocol (docs/protocol.md sections 2-5) against a scripted
// gateway: request shapes and counters, replies, pushes, closes, reports,
// log upload and automatic recovery. The SDK under test is the built file.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startFakeGateway } = require('./fake-gateway');
const { createWx } = require('./wx-sim');
const { loadSDK, record, until, outcome } = require('./helpers');

const sdk = loadSDK();
const APP = 'a'.repeat(32);

let gw;
test.before(async () => { gw = await startFakeGateway(); });
test.after(async () => { await gw.close(); });

const cleanups = [];
test.afterEach(async () => {
  gw.actions = {};
  gw.apStatus = 200;
  gw.logStatus = 200;
  while (cleanups.length) await cleanups.pop()();
});

function newClient(opts = {}) {
  const sim = createWx();
  const client = new sdk.Client(Object.assign({ apUrl: gw.apUrl, servers: [gw.wsUrl], wx: sim.wx }, opts));
  cleanups.push(async () => { await client.destroy().catch(() => {}); sim.closeAll(); });
  return { client, sim, rec: record(client, ['custom-thing']) };
}

async function joined(opts = {}, uid = 1001, role) {
  const c = newClient(opts);
  await c.client.init(APP);
  if (role) await c.client.setRole(role);
  const got = await c.client.join(undefined, 'room-1', uid);
  c.uid = got;
  c.conn = gw.conns[gw.conns.length - 1];
  return c;
}

test('allocation request and join envelope match the protocol', async () => {
  const before = gw.apBodies.length;
  const { client, sim } = newClient();
  await client.init('  ' + APP + ' ');
  const uid = await client.join(null, 'room-1', ' 12 ');
  assert.equal(uid, 12);
  const ap = gw.apBodies[before];
  assert.equal(ap.headers['x-packet-uri'], '61');
  assert.equal(ap.headers['x-packet-service-type'], '0');
  assert.equal(ap.body.service_name, 'miniapp');
  const jb = JSON.parse(ap.body.json_body);
  assert.equal(jb.command, 'convergeAllocateEdge');
  assert.match(jb.sid, /^[0-9A-F]{32}$/);
  assert.deepEqual([jb.appId, jb.token, jb.uid, jb.cname, jb.version, jb.seq, jb.requestId], [APP, APP, '12', 'room-1', '1.1.0', 0, 1]);
  assert.equal(typeof jb.ts, 'number');
  const join = sim.current().sent.find((m) => m.clientRequest && m.clientRequest.action === 'join');
  assert.equal(join.seq, 2);
  assert.equal(join.requestId, 3);
  assert.equal(join.sdkVersion, '1.1.0');
  assert.deepEqual([join.appId, join.cname, join.uid, join.sid], [APP, 'room-1', '12', jb.sid]);
  const cr = join.clientRequest;
  assert.equal(cr.role, 'audience');
  assert.equal(cr.key_vos, APP, 'no token: the appId is the key');
  assert.equal(cr.key_vocs, APP);
  assert.equal(cr.channel_name, 'room-1');
  assert.equal(cr.uid, '12');
  assert.equal(cr.vid, '4242');
  assert.equal(cr.device, 'node-sim');
  assert.equal(cr.version, sdk.SDK_VERSION);
  assert.equal(cr.clientType, 'wechat');
  assert.equal(cr.audio_only, false);
  assert.equal(cr.uidType, 0);
  assert.equal(cr.customAudioCodec, null);
  assert.equal(cr.known_speakers, undefined);
});

test('requestId is shared with pings, seq counts requests only', async () => {
  const c = await joined({ pingInterval: 30 }, 1002, 'broadcaster');
  await until(() => c.conn.pings >= 3, 'pings');
  await c.client.publish();
  await c.client.muteLocal('audio');
  await until(() => c.conn.pings >= 5, 'more pings');
  const frames = c.sim.current().sent;
  const ids = frames.map((m) => m.requestId);
  assert.deepEqual(ids, ids.map((_, i) => 3 + i), 'requestIds 3, 4, 5, … in send order');
  const reqs = frames.filter((m) => m.clientRequest);
  assert.deepEqual(reqs.map((m) => m.seq), reqs.map((_, i) => 2 + i));
  const ping = frames.find((m) => m.command === 'ping');
  assert.deepEqual(Object.keys(ping).sort(), ['appId', 'cname', 'command', 'requestId', 'sid', 'ts', 'uid'].sort());
  assert.equal(ping.uid, '1002');
});

test('requests carry the documented fields', async () => {
  const c = await joined({}, 1003, 'broadcaster');
  const url = await c.client.publish();
  assert.match(url, /^rtmp:\/\//);
  assert.deepEqual(await c.client.subscribe(55), { url: 'rtmp://127.0.0.1/live/play55', rotation: 0 });
  await c.client.subscribe(56, { video: false, flv: true });
  await c.client.unsubscribe(55);
  await c.client.muteLocal('all');
  await c.client.unmuteLocal('video');
  await c.client.mute(56, 'audio');
  await c.client.unmute(56, 'all');
  await c.client.setRemoteVideoStreamType(56, 1);
  await c.client.renewToken('007newtoken');
  assert.equal(await c.client.setRole('audience'), undefined);
  await c.client.unpublish();
  await c.client.leave();
  const crs = c.conn.requests.map((m) => m.clientRequest).slice(1);
  assert.deepEqual(crs, [
    { action: 'publish', uid: 1003 },
    { action: 'subscribe', uid: 55, options: { audio: true, video: true } },
    { action: 'subscribe', uid: 56, options: { audio: true, video: false, flv: true } },
    { action: 'unsubscribe', uid: [55] },
    { action: 'mute_local', uid: 1003, target: 'all', mute: true },
    { action: 'mute_local', uid: 1003, target: 'video', mute: false },
    { action: 'mute', uid: 56, target: 'audio' },
    { action: 'unmute', uid: 56, target: 'all' },
    { action: 'set_remote_stream_type', uid: 56, type: 1 },
    { action: 'update_key', key_vos: '007newtoken' },
    { action: 'set_role', role: 'audience' },
    { action: 'unpublish', uid: 1003 },
    { action: 'leave', uid: 1003 }
  ]);
  await until(() => c.conn.closed, 'close after leave');
  assert.deepEqual(c.conn.closed, { code: 1000, reason: 'close' });
});

test('the server-assigned uid of a string account is used afterwards', async () => {
  gw.actions.join = () => ({ code: 200, serverResponse: { uid: 90001 } });
  const { client } = newClient();
  await client.init(APP);
  await client.setRole('broadcaster');
  assert.equal(await client.join('', 'room-1', 'alice@example', false, 1), 90001);
  const conn = gw.conns[gw.conns.length - 1];
  assert.equal(conn.requests[0].clientRequest.uid, 'alice@example');
  assert.equal(conn.requests[0].clientRequest.uidType, 1);
  await client.publish();
  assert.equal(conn.requests[1].clientRequest.uid, 90001);
  assert.equal(conn.requests[1].uid, 'alice@example', 'the envelope keeps the joined uid');
});

test('error replies reject with code, reason, serverResponse and wsurl', async () => {
  const c = await joined({}, 1004);
  gw.actions.subscribe = (conn, cr) => ({ code: 432, reason: `uid ${cr.uid} is not publishing in this channel` });
  gw.actions.mute = () => ({ code: 430, msg: 'from msg', reason: 'from reason', serverResponse: { x: 1 } });
  const r = await outcome(c.client.subscribe(9));
  assert.deepEqual(r.error, { code: 432, reason: 'uid 9 is not publishing in this channel', serverResponse: undefined, wsurl: gw.wsUrl });
  const m = await outcome(c.client.mute(9, 'audio'));
  assert.equal(m.error.reason, 'from msg');
  assert.deepEqual(m.error.serverResponse, { x: 1 });
  assert.equal(c.rec.of('error').length, 0, 'a refused request is not an error event');
});

test('a join refused by the server rejects and leaves the client reusable', async () => {
  gw.actions.join = () => ({ code: 401, reason: 'invalid key: signature mismatch' });
  const { client, sim } = newClient();
  await client.init(APP);
  const r = await outcome(client.join('007bad', 'room-1', 5));
  assert.equal(r.error.code, 401);
  assert.equal(r.error.reason, 'invalid key: signature mismatch');
  await until(() => sim.active().length === 0, 'socket closed after a refused join');
  delete gw.actions.join;
  assert.equal(await client.join('007good', 'room-1', 5), 5);
});

test('a request without reply times out with 903', async () => {
  const c = await joined({ requestTimeout: 300 }, 1005);
  gw.actions.unsubscribe = () => null;
  const r = await outcome(c.client.unsubscribe(3));
  assert.deepEqual(r.error, { code: 903, reason: 'time out' });
});

test('pushes become the Agora events with the same payloads', async () => {
  const c = await joined({}, 1006);
  const push = (st, extra) => c.conn.push(st, extra);
  push({ action: 'stream-added', uid: 7 });
  push({ action: 'update-url', uid: 7, url: 'rtmp://x/y' });
  push({ action: 'video-rotation', uid: 7, rotation: 90 });
  push({ action: 'audio-mute', uid: 7, mute: true });
  push({ action: 'audio-mute', uid: 7, mute: false });
  push({ action: 'video-mute', uid: 7, mute: true });
  push({ action: 'video-mute', uid: 7, mute: false });
  push({ action: 'key-will-expire' });
  push({ action: 'key-expired' });
  push({ action: 'client-is-banned-by-server' });
  push({ action: 'custom-thing', uid: 7, x: 1 });
  push({ action: 'stream-added', uid: 8 }, { code: 503, reason: 'draining' }); // dropped whole
  push({ action: 'stream-added', uid: 9 }, { code: 502 }); // error, then processed
  push({ action: 'stream-removed', uid: 7 });
  c.conn.send({ command: 'somethingElse', serverStatus: { action: 'stream-added', uid: 10 } }); // ignored
  c.conn.ws.send('not json'); // dropped
  await c.rec.wait('stream-removed');
  const got = c.rec.list.map((e) => [e.name, e.payload]);
  assert.deepEqual(got, [
    ['stream-added', { action: 'stream-added', uid: 7 }],
    ['update-url', { action: 'update-url', uid: 7, url: 'rtmp://x/y' }],
    ['video-rotation', { action: 'video-rotation', uid: 7, rotation: 90 }],
    ['mute-audio', { uid: 7 }],
    ['unmute-audio', { uid: 7 }],
    ['mute-video', { uid: 7 }],
    ['unmute-video', { uid: 7 }],
    ['token-privilege-will-expire', undefined],
    ['token-privilege-did-expire', undefined],
    ['client-banned', undefined],
    ['custom-thing', { action: 'custom-thing', uid: 7, x: 1 }],
    ['error', { code: 502, reason: 'server error' }],
    ['stream-added', { action: 'stream-added', uid: 9 }],
    ['stream-removed', { action: 'stream-removed', uid: 7 }]
  ]);
});

test('a server close with reason "close" is silent; any other close is 904', async () => {
  const a = await joined({}, 1007);
  a.conn.close(1000, 'close');
  await until(() => a.sim.active().length === 0, 'closed');
  const r = await outcome(a.client.publish());
  assert.equal(r.error.message, 'Disconnected from server');
  assert.equal(a.rec.of('error').length, 0);

  const b = await joined({}, 1008);
  b.conn.close(4000, 'going away');
  assert.deepEqual(await b.rec.wait('error'), { code: 904, reason: 'websocket disconnected' });
  assert.equal((await outcome(b.client.publish())).error.message, 'Disconnected from server');

  const c = await joined({}, 1009);
  c.sim.current().kill(); // the TCP connection dies without a close frame
  assert.deepEqual(await c.rec.wait('error'), { code: 904, reason: 'websocket disconnected' });
});

test('a request pending when the socket dies rejects with 904', async () => {
  const c = await joined({}, 1010);
  gw.actions.publish = (conn) => { setTimeout(() => conn.kill(), 20); return null; };
  await c.client.setRole('broadcaster');
  const r = await outcome(c.client.publish());
  assert.deepEqual(r.error, { code: 904, reason: 'websocket disconnected' });
});

test('allocation and connection failures are reported (901, 905)', async () => {
  gw.apStatus = 500;
  const a = newClient();
  await a.client.init(APP);
  const r1 = await outcome(a.client.join(null, 'room-1', 1));
  assert.equal(r1.error.code, 901);
  gw.apStatus = 200;
  const bad = 'ws://127.0.0.1:9/api';
  const b = newClient({ servers: [bad, bad], connectTimeout: 2000 });
  await b.client.init(APP);
  const r2 = await outcome(b.client.join(null, 'room-1', 1));
  assert.deepEqual(r2.error, { code: 905, reason: 'connect websocket failed', wsurl: JSON.stringify([bad, bad]) });
  // without servers the gateway next to apUrl is used
  const c = new sdk.Client({ apUrl: gw.apUrl, wx: b.sim.wx });
  await c.init(APP);
  assert.equal(await c.join(null, 'room-1', 3), 3);
  assert.equal(b.sim.current().url, gw.wsUrl);
  await c.leave();
});

test('legacy callbacks work with both join argument orders', async () => {
  const { client } = newClient();
  await new Promise((resolve, reject) => client.init(APP, resolve, reject));
  const uid = await new Promise((resolve, reject) => client.join(undefined, 'room-1', 1011, resolve, reject));
  assert.equal(uid, 1011);
  const [url, rotation] = await new Promise((resolve, reject) => client.subscribe(5, (u, r) => resolve([u, r]), reject));
  assert.equal(url, 'rtmp://127.0.0.1/live/play5');
  assert.equal(rotation, 0);
  gw.actions.unsubscribe = () => ({ code: 432, reason: 'nope' });
  const err = await new Promise((resolve) => client.unsubscribe(5, () => resolve(null), resolve));
  assert.equal(err.code, 432);
  const { client: c2 } = newClient();
  await c2.init(APP);
  const uid2 = await new Promise((resolve, reject) => c2.join('', 'room-1', 1012, true, 0, resolve, reject));
  assert.equal(uid2, 1012);
  assert.equal(gw.conns[gw.conns.length - 1].requests[0].clientRequest.audio_only, true);
});

test('component reports are batched and a gateway without them is tolerated', async () => {
  const c = await joined({ reportStateDelay: 50, reportNetInterval: 100 }, 1013);
  c.client.updatePusherStateChange({ detail: { code: 1001, message: 'connected' } });
  c.client.updatePusherStateChange({ code: 1002, message: 'push started' });
  for (let i = 0; i < 5; i++) c.client.updatePusherNetStatus({ info: { videoBitrate: 100 + i, netSpeed: 300, bogus: 'x' } });
  c.client.updatePlayerStateChange(7, { code: 2004, message: 'playing' });
  c.client.updatePlayerNetStatus(7, { info: { videoFPS: 15 } });
  c.client.updatePlayerNetStatus(8, { info: { videoFPS: 20 } });
  await gw.until(() => c.conn.requests.some((m) => m.clientRequest.action === 'report_player_net'), 'report_player_net');
  const reqs = () => c.conn.requests.map((m) => m.clientRequest).filter((r) => r.action.startsWith('report_'));
  const ps = reqs().find((r) => r.action === 'report_pusher_state');
  assert.deepEqual(ps.events.map((e) => e.code), [1001, 1002]);
  const pn = reqs().find((r) => r.action === 'report_pusher_net');
  assert.equal(pn.stats.length, 1, 'only the newest sample');
  assert.equal(pn.stats[0].videoBitrate, 104);
  assert.equal(pn.stats[0].bogus, undefined);
  const pln = reqs().find((r) => r.action === 'report_player_net');
  assert.deepEqual(pln.stats.map((s) => [s.uid, s.videoFPS]), [[7, 15], [8, 20]]);
  const n = reqs().length;
  assert.equal(n, 4);
  // every action got "430 unknown action": no more of them, no error event
  c.client.updatePusherStateChange({ code: 1101 });
  c.client.updatePusherNetStatus({ info: { videoBitrate: 1 } });
  c.client.updatePlayerStateChange(7, { code: 2007 });
  c.client.updatePlayerNetStatus(7, { info: { videoFPS: 1 } });
  await new Promise((r) => setTimeout(r, 300));
  await c.client.mute(7, 'audio'); // a round trip after the would-be reports
  assert.equal(reqs().length, n);
  assert.equal(c.rec.of('error').length, 0);
});

test('a gateway that accepts reports keeps getting them', async () => {
  const ok = () => ({ code: 200 });
  gw.actions.report_pusher_state = ok;
  const c = await joined({ reportStateDelay: 20 }, 1014);
  const nth = (i) => gw.until(() => c.conn.requests.filter((m) => m.clientRequest.action === 'report_pusher_state')[i], 'report #' + i);
  c.client.updatePusherStateChange({ code: 1001 });
  await nth(0);
  c.client.updatePusherStateChange({ code: 1002 });
  const second = await nth(1);
  assert.equal(second.clientRequest.events[0].code, 1002);
});

test('LOG.uploadLogs posts to <apUrl origin>/api/v1/logs', async () => {
  const c = await joined({}, 1015);
  sdk.LOG.setLogLevel(4);
  await sdk.LOG.uploadLogs();
  const up = gw.logUploads[gw.logUploads.length - 1];
  assert.equal(up.appId, APP);
  assert.equal(up.channel, 'room-1');
  assert.equal(up.uid, 1015);
  assert.equal(up.sdkVersion, sdk.SDK_VERSION);
  // the ticket of the join reply proves the upload comes from a member
  // (issue #13 item 6); joined with the appId as key, there is no token
  assert.equal(c.conn.requests.find((m) => m.clientRequest.action === 'join').clientRequest.logTicket, true);
  assert.equal(up.ticket, 'ticket-1015');
  assert.equal(up.token, null);
  assert.ok(up.lines.some((l) => l.includes('joined room-1 as 1015')), 'the buffer holds debug lines even at level NONE');
  gw.logStatus = 404;
  const r = await outcome(sdk.LOG.uploadLogs());
  assert.equal(r.error.code, 404);
  const cb = await new Promise((resolve) => sdk.LOG.uploadLogs(() => resolve('ok'), (e) => resolve(e.code)));
  assert.equal(cb, 404);
  void c;
});

test('LOG.onLog receives lines at or above the level', async () => {
  const lines = [];
  sdk.LOG.onLog = (text) => lines.push(text);
  try {
    sdk.LOG.setLogLevel(1);
    await joined({}, 1016);
    assert.ok(lines.some((l) => l.includes('[minirtc INFO] joined room-1 as 1016')));
    assert.ok(!lines.some((l) => l.includes('[minirtc DEBUG]')));
    lines.length = 0;
    sdk.LOG.setLogLevel(0);
    await joined({}, 1017);
    assert.ok(lines.some((l) => l.includes('[minirtc DEBUG]')));
  } finally {
    sdk.LOG.onLog = null;
    sdk.LOG.setLogLevel(4);
  }
});

// ---- automatic recovery ----------------------------------------------------

async function recoveryScene(opts = {}) {
  const c = await joined(Object.assign({ autoRejoin: true, rejoinDelay: 30, rejoinMaxDelay: 200 }, opts), 2001, 'broadcaster');
  const firstUrl = await c.client.publish();
  c.conn.push({ action: 'stream-added', uid: 7 });
  c.conn.push({ action: 'stream-added', uid: 8 });
  c.conn.push({ action: 'stream-added', uid: 9 });
  await c.rec.wait('stream-added', (e) => e.uid === 9);
  await c.client.subscribe(7);
  await c.client.subscribe(8, { audio: false });
  await c.client.mute(8, 'video');
  await c.client.muteLocal('audio');
  return Object.assign(c, { firstUrl });
}

test('autoRejoin: a lost socket is rejoined, republished and resubscribed', async () => {
  const c = await recoveryScene();
  // the new gateway connection: 7 and 9 still publish, 8 is gone
  gw.actions.join = (conn, cr) => ({
    code: 200,
    serverResponse: { uid: Number(cr.uid) },
    after: [
      { action: 'stream-added', uid: 7 },
      { action: 'stream-added', uid: 9 },
      { action: 'stream-added', uid: 10 },
      { action: 'stream-removed', uid: 8 }
    ]
  });
  const oldConn = c.conn;
  c.sim.current().kill();
  const rc = await c.rec.wait('reconnecting');
  assert.deepEqual(rc, { code: 904, reason: 'websocket disconnected', attempt: 1 });
  await c.rec.wait('reconnected');
  const conn = gw.conns[gw.conns.length - 1];
  assert.notEqual(conn, oldConn);
  const crs = conn.requests.map((m) => m.clientRequest);
  const join = crs[0];
  assert.equal(join.action, 'join');
  assert.equal(join.uid, '2001');
  assert.equal(join.role, 'broadcaster');
  assert.deepEqual(join.known_speakers.slice().sort(), ['2001', '7', '8', '9']);
  assert.equal(join.vid, undefined, 'a rejoin carries no vid/device/os/version');
  assert.ok(crs.some((r) => r.action === 'publish'));
  assert.ok(crs.some((r) => r.action === 'mute_local' && r.target === 'audio' && r.mute === true));
  const subs = crs.filter((r) => r.action === 'subscribe');
  assert.deepEqual(subs.map((r) => r.uid), [7], '8 left meanwhile');
  assert.equal(c.rec.of('error').length, 0, 'no 904 for the app');
  const urls = c.rec.of('update-url');
  assert.deepEqual(urls.map((u) => u.uid).sort(), [2001, 7]);
  assert.match(urls.find((u) => u.uid === 2001).url, /^rtmp:\/\/.*stream2001/);
  const added = c.rec.of('stream-added').map((e) => e.uid);
  assert.deepEqual(added, [7, 8, 9, 10], 'only the new stream 10 is announced again');
  assert.deepEqual(c.rec.of('stream-removed').map((e) => e.uid), [8]);
  assert.ok(c.sim.maxConcurrent() <= 1, 'the old socket is closed before the new one opens');
  // the client works as before
  await c.client.unsubscribe(7);
});

test('autoRejoin: 501 from the server recovers once', async () => {
  const c = await recoveryScene();
  const n = gw.conns.length;
  c.conn.push(null, { code: 501, reason: 'node draining: rejoin' });
  c.conn.close(1000, 'close');
  await c.rec.wait('reconnected');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(gw.conns.length, n + 1, 'exactly one new connection');
  assert.deepEqual(c.rec.of('reconnecting')[0], { code: 501, reason: 'node draining: rejoin', attempt: 1 });
  assert.equal(c.rec.of('error').length, 0);
});

test('autoRejoin: retries transient failures, stops at a terminal one', async () => {
  const c = await recoveryScene();
  let joins = 0;
  gw.actions.join = () => {
    joins++;
    if (joins === 1) return { code: 502, reason: 'vendor over load' };
    return { code: 401, reason: 'dynamic key expired: expired at 2026-01-01T00:00:00Z' };
  };
  c.sim.current().kill();
  const err = await c.rec.wait('error');
  assert.deepEqual(err, { code: 401, reason: 'dynamic key expired: expired at 2026-01-01T00:00:00Z' });
  assert.equal(joins, 2);
  assert.deepEqual(c.rec.of('reconnecting').map((e) => [e.code, e.attempt]), [[904, 1], [502, 2]]);
  assert.equal((await outcome(c.client.publish())).error.message, 'Disconnected from server');
});

test('autoRejoin: calls made during the recovery wait for it', async () => {
  const c = await recoveryScene({ rejoinDelay: 150 });
  c.sim.current().kill();
  await c.rec.wait('reconnecting');
  const r = await c.client.subscribe(9);
  assert.equal(r.url, 'rtmp://127.0.0.1/live/play9');
  assert.equal(c.rec.of('reconnected').length, 1, 'the call resolved after the recovery');
});

test('autoRejoin: a silent (half-open) connection is detected by the missing pongs', async () => {
  const c = await recoveryScene({ pingInterval: 30, pongTimeout: 300 });
  // liveness starts once the client has seen a pong
  await until(() => c.sim.current().received.some((f) => f.includes('"pong"')), 'a pong at the client');
  c.sim.current().freeze();
  await c.rec.wait('reconnected');
  assert.equal(c.rec.of('reconnecting')[0].code, 904);
});

test('autoRejoin: leave during the recovery stops it', async () => {
  const c = await recoveryScene({ rejoinDelay: 300 });
  const n = gw.conns.length;
  c.sim.current().kill();
  await c.rec.wait('reconnecting');
  await c.client.leave();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(gw.conns.length, n, 'no rejoin after leave');
  assert.equal(c.rec.of('error').length, 0);
});

test('without autoRejoin nothing reconnects', async () => {
  const c = await joined({}, 2002);
  const n = gw.conns.length;
  c.sim.current().kill();
  await c.rec.wait('error');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(gw.conns.length, n);
});
