'use strict';
// The SDK (built file) against a real `minirtc serve`, through the simulated
// wx: join/publish/subscribe, events between clients, roles, leave, token
// expiry and renewal, server-side closes, and automatic recovery after the
// socket dies. Tokens come from Agora's own builder (agora-token).

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { createWx } = require('./wx-sim');
const { loadSDK, record, until, outcome } = require('./helpers');
const { startServer } = require('./minirtc-server');

const sdk = loadSDK();

let srv;
test.before(async () => { srv = await startServer(); }, { timeout: 240000 });
test.after(async () => { if (srv) await srv.stop(); });

const cleanups = [];
test.afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

let channelSeq = 0;
function channelName() {
  return 'sdk-test-' + process.pid + '-' + (++channelSeq);
}

function newClient(opts = {}) {
  const sim = createWx();
  const client = new sdk.Client(Object.assign({ apUrl: srv.apUrl, servers: [srv.wsUrl], wx: sim.wx }, opts));
  const rec = record(client);
  cleanups.push(async () => { await client.destroy().catch(() => {}); sim.closeAll(); });
  return { client, sim, rec };
}

/** A joined client: role, uid, channel; opts.publish publishes. */
async function member(channel, uid, role, opts = {}) {
  const c = newClient(opts.client);
  await c.client.init(srv.appId);
  await c.client.setRole(role);
  const tok = opts.token !== undefined ? opts.token : srv.token(channel, uid, opts.expire || 3600);
  c.uid = await c.client.join(tok, channel, uid);
  if (opts.publish) c.pushUrl = await c.client.publish();
  return c;
}

test('join, publish and subscribe between two clients', async () => {
  const ch = channelName();
  const a = await member(ch, 1111, 'broadcaster', { publish: true });
  assert.equal(a.uid, 1111);
  assert.match(a.pushUrl, /^rtmp:\/\/127\.0\.0\.1(:\d+)?\/live\/[^?]+_1111\?/);
  const b = await member(ch, 2222, 'audience');
  assert.deepEqual(await b.rec.wait('stream-added'), { action: 'stream-added', uid: 1111 });
  const sub = await b.client.subscribe(1111);
  assert.match(sub.url, /^(rtmp|http):\/\//);
  assert.equal(typeof sub.rotation, 'number');
  const flv = await b.client.subscribe(1111, { flv: true });
  assert.match(flv.url, /^http:\/\/.*\.flv\?/);
  // the publisher's own uid is not subscribable, nor a silent member
  assert.equal((await outcome(b.client.subscribe(2222))).error.code, 432);
  assert.equal((await outcome(a.client.subscribe(1111))).error.code, 432);
  // an audience member cannot publish
  assert.equal((await outcome(b.client.publish())).error.code, 433);
  await b.client.unsubscribe(1111);
  assert.equal(a.rec.of('error').length + b.rec.of('error').length, 0);
});

test('a string account gets a numeric uid that others subscribe to', async () => {
  const ch = channelName();
  const a = newClient();
  await a.client.init(srv.appId);
  await a.client.setRole('broadcaster');
  const uid = await a.client.join(srv.token(ch, 'alice', 3600, true), ch, 'alice', false, 1);
  assert.equal(typeof uid, 'number');
  await a.client.publish();
  const b = await member(ch, 3333, 'audience');
  const added = await b.rec.wait('stream-added');
  assert.equal(added.uid, uid);
  await b.client.subscribe(uid);
});

test('mute, role change and leave reach the other client', async () => {
  const ch = channelName();
  const a = await member(ch, 4001, 'broadcaster', { publish: true });
  const b = await member(ch, 4002, 'broadcaster', { publish: true });
  await a.rec.wait('stream-added', (e) => e.uid === 4002);
  await b.rec.wait('stream-added', (e) => e.uid === 4001);
  await a.client.muteLocal('audio');
  assert.deepEqual(await b.rec.wait('mute-audio'), { uid: 4001 });
  await a.client.unmuteLocal('audio');
  assert.deepEqual(await b.rec.wait('unmute-audio'), { uid: 4001 });
  await a.client.muteLocal('all');
  assert.deepEqual(await b.rec.wait('mute-video'), { uid: 4001 });
  await b.rec.wait('mute-audio');
  await a.client.unmuteLocal('video');
  assert.deepEqual(await b.rec.wait('unmute-video'), { uid: 4001 });
  // remote mute and stream type are accepted
  await b.client.subscribe(4001);
  await b.client.mute(4001, 'audio');
  await b.client.unmute(4001, 'all');
  await b.client.setRemoteVideoStreamType(4001, 1);
  // broadcaster -> audience: implicit unpublish
  await a.client.setRole('audience');
  assert.deepEqual(await b.rec.wait('stream-removed'), { action: 'stream-removed', uid: 4001 });
  await a.client.setRole('broadcaster');
  await a.client.publish();
  await b.rec.wait('stream-added', (e) => e.uid === 4001);
  await a.client.unpublish();
  await b.rec.wait('stream-removed', (e) => e.uid === 4001);
  await a.client.publish();
  await b.rec.wait('stream-added', (e) => e.uid === 4001);
  // leave: others see the stream go, the socket is closed by the client
  await a.client.leave();
  await b.rec.wait('stream-removed', (e) => e.uid === 4001);
  await until(() => a.sim.active().length === 0, 'closed after leave');
  assert.deepEqual(a.sim.sockets[0].closeInfo, { code: 1000, reason: 'close' });
  assert.equal(a.rec.of('error').length + b.rec.of('error').length, 0);
  // a left client can join again
  await a.client.join(srv.token(ch, 4001), ch, 4001);
});

test('the server refuses bad tokens and names with its codes', async () => {
  const ch = channelName();
  const c = newClient();
  await c.client.init(srv.appId);
  const noToken = await outcome(c.client.join(undefined, ch, 5001));
  assert.equal(noToken.error.code, 401);
  const otherUid = await outcome(c.client.join(srv.token(ch, 5002), ch, 5001));
  assert.equal(otherUid.error.code, 401);
  assert.match(otherUid.error.reason, /^invalid key/);
  const longName = 'x'.repeat(100); // the SDK allows 128 characters, Agora's rules 64 bytes
  const bad = await outcome(c.client.join(srv.token(longName, 5001), longName, 5001));
  assert.equal(bad.error.code, 430);
  assert.match(bad.error.reason, /^invalid channel name/);
  assert.equal(await c.client.join(srv.token(ch, 5001), ch, 5001), 5001, 'the client is reusable after refusals');
  const renew = await outcome(c.client.renewToken(srv.token(ch, 9999)));
  assert.equal(renew.error.code, 401);
});

test('token expiry: will-expire, renewToken, did-expire', { timeout: 120000 }, async () => {
  const ch = channelName();
  const watcher = await member(ch, 6003, 'audience');
  // 40 s tokens: key-will-expire comes about 10 s after join (30 s lead)
  const renewing = await member(ch, 6001, 'broadcaster', { expire: 40, publish: true });
  const expiring = await member(ch, 6002, 'broadcaster', { expire: 40, publish: true });
  await renewing.rec.wait('token-privilege-will-expire', undefined, 40000);
  await renewing.client.renewToken(srv.token(ch, 6001, 3600));
  await expiring.rec.wait('token-privilege-will-expire', undefined, 40000);
  await expiring.rec.wait('token-privilege-did-expire', undefined, 60000);
  assert.deepEqual(await watcher.rec.wait('stream-removed', (e) => e.uid === 6002, 30000), { action: 'stream-removed', uid: 6002 });
  // the server closes the expired member's socket with reason "close": no 904
  await until(() => expiring.sim.active().length === 0, 'expired socket closed', 20000);
  assert.equal((await outcome(expiring.client.publish())).error.message, 'Disconnected from server');
  // it was told why with the catalogue code (the push carries 401), and got no 904
  const errors = expiring.rec.of('error');
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.equal(errors[0].code, 401);
  assert.match(errors[0].reason, /^dynamic key expired/);
  // the renewed member is still there
  assert.equal(renewing.rec.of('token-privilege-did-expire').length, 0);
  await renewing.client.muteLocal('video');
  await watcher.rec.wait('mute-video', (e) => e.uid === 6001);
});

test('the same uid joining elsewhere ends the old connection without 904', async () => {
  const ch = channelName();
  const old = await member(ch, 7001, 'broadcaster', { publish: true, client: { autoRejoin: true } });
  const next = await member(ch, 7001, 'broadcaster');
  assert.equal(next.uid, 7001);
  const err = await old.rec.wait('error');
  assert.equal(err.code, 433);
  assert.match(err.reason, /uid conflict/);
  await until(() => old.sim.active().length === 0, 'old socket closed');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(old.rec.of('reconnecting').length, 0, 'no recovery fight over the uid');
  assert.equal(old.rec.of('error').filter((e) => e.code === 904).length, 0);
});

test('a dropped socket gives 904 without autoRejoin', async () => {
  const ch = channelName();
  const a = await member(ch, 8001, 'broadcaster', { publish: true });
  a.sim.current().kill();
  assert.deepEqual(await a.rec.wait('error'), { code: 904, reason: 'websocket disconnected' });
  assert.equal((await outcome(a.client.publish())).error.message, 'Disconnected from server');
  // the tutorial's way back: destroy, new client, rejoin with the same uid
  await a.client.destroy();
  const again = newClient();
  await again.client.init(srv.appId);
  await again.client.setRole('broadcaster');
  assert.equal(await again.client.rejoin(srv.token(ch, 8001), ch, 8001, ['8001']), 8001);
  assert.match(await again.client.publish(), /_8001\?/);
});

test('autoRejoin restores publishing and subscriptions after the socket dies', async () => {
  const ch = channelName();
  const other = await member(ch, 9002, 'broadcaster', { publish: true });
  const a = await member(ch, 9001, 'broadcaster', { publish: true, client: { autoRejoin: true, rejoinDelay: 200 } });
  await a.rec.wait('stream-added', (e) => e.uid === 9002);
  const before = await a.client.subscribe(9002);
  await a.client.muteLocal('video');
  await other.rec.wait('mute-video', (e) => e.uid === 9001);
  const firstSocket = a.sim.current();

  firstSocket.kill(); // TCP gone, no close frame: the SDK sees 904
  assert.deepEqual(await a.rec.wait('reconnecting'), { code: 904, reason: 'websocket disconnected', attempt: 1 });
  const own = await a.rec.wait('update-url', (e) => e.uid === 9001);
  assert.match(own.url, /_9001\?/);
  const play = await a.rec.wait('update-url', (e) => e.uid === 9002);
  assert.equal(play.url.split('?')[0], before.url.split('?')[0], 'the same stream, freshly signed');
  await a.rec.wait('reconnected');
  assert.notEqual(a.sim.current(), firstSocket);
  assert.ok(a.sim.maxConcurrent() <= 1, 'never two sockets at once');
  assert.equal(a.rec.of('error').length, 0, 'the app saw no 904');
  assert.deepEqual(a.rec.of('stream-added').map((e) => e.uid), [9002], 'a known stream is not announced twice');
  const rejoin = a.sim.current().sent.find((m) => m.clientRequest && m.clientRequest.action === 'join');
  assert.deepEqual(rejoin.clientRequest.known_speakers.slice().sort(), ['9001', '9002']);
  // the other member never lost the stream (grace period) and still sees it work
  assert.equal(other.rec.of('stream-removed').length, 0);
  await a.client.unmuteLocal('video');
  await other.rec.wait('unmute-video', (e) => e.uid === 9001);
  await a.client.unsubscribe(9002);
  // the other side leaves: the recovered client hears it
  await other.client.leave();
  await a.rec.wait('stream-removed', (e) => e.uid === 9002);
});

test('component reports are sent and accepted by the gateway', async () => {
  const ch = channelName();
  const a = await member(ch, 9101, 'broadcaster', { publish: true, client: { reportStateDelay: 20, reportNetInterval: 50 } });
  a.client.updatePusherStateChange({ detail: { code: 1002, message: 'push started' } });
  a.client.updatePusherNetStatus({ detail: { info: { videoBitrate: 500, audioBitrate: 48 } } });
  a.client.updatePlayerStateChange(9102, { detail: { code: 2004, message: 'playing' } });
  a.client.updatePlayerNetStatus(9102, { detail: { info: { videoFPS: 15 } } });
  const sent = () => a.sim.current().sent.filter((m) => m.clientRequest && /^report_/.test(m.clientRequest.action));
  await until(() => sent().length === 4, 'four reports');
  await a.client.muteLocal('audio'); // one more round trip: the report replies are in
  assert.equal(a.rec.of('error').length, 0);
  // every report got a 200 ack (internal/gateway stores them in internal/diag)
  const replies = a.sim.current().received.map((f) => JSON.parse(f)).filter((m) => m.requestId !== undefined);
  for (const r of sent()) {
    const reply = replies.find((m) => m.requestId === r.requestId);
    assert.equal(reply && reply.code, 200, r.clientRequest.action + ': ' + JSON.stringify(reply));
  }
});

test('LOG.uploadLogs posts the log to <apUrl origin>/api/v1/logs', async () => {
  const ch = channelName();
  const a = await member(ch, 9201, 'audience');
  const r = await outcome(sdk.LOG.uploadLogs());
  const req = a.sim.requests.find((x) => x.url.endsWith('/api/v1/logs'));
  assert.equal(req.url, `http://${srv.httpAddr}/api/v1/logs`);
  assert.equal(req.method, 'POST');
  // the server stores it (internal/diag) and answers 200 {"code":0}
  assert.equal(r.error, undefined, JSON.stringify(r.error));
});

// Needs the RTMP ingest wired into `minirtc serve`.
test('a real ffmpeg push to the publish URL plays from the subscribe URL', { timeout: 90000 }, async () => {
  const ch = channelName();
  const a = await member(ch, 9301, 'broadcaster', { publish: true });
  const b = await member(ch, 9302, 'audience');
  await b.rec.wait('stream-added', (e) => e.uid === 9301);
  const ff = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '15', '-bf', '0',
    '-c:a', 'aac', '-ar', '48000', '-ac', '1', '-t', '30', '-f', 'flv', a.pushUrl], { stdio: ['ignore', 'ignore', 'pipe'] });
  let ffErr = '';
  ff.stderr.on('data', (d) => { ffErr += d; });
  cleanups.push(async () => { ff.kill('SIGKILL'); });
  const { url } = await b.client.subscribe(9301, { flv: false });
  const probe = await until(async () => {
    const out = await new Promise((resolve) => {
      const p = spawn('ffprobe', ['-v', 'error', '-rw_timeout', '5000000', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', url]);
      let o = '';
      p.stdout.on('data', (d) => { o += d; });
      p.on('exit', () => resolve(o));
    });
    return /h264/.test(out) && /aac/.test(out) ? out : null;
  }, 'ffprobe to see h264+aac (ffmpeg: ' + ffErr + ')', 60000);
  assert.match(probe, /h264/);
});
