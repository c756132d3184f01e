'use strict';
// The official Agora Miniapp SDK's public surface, listed, and checked one
// by one against the built SDK: an app written against the official SDK must
// find every method, get every event under the same name with the same
// payload shape, and may register a wildcard listener ('*', called with the
// event name first).
//
// Where the list comes from (see the report of the change): the official
// SDK's Client class as shipped in AgoraIO/Agora-Miniapp-Tutorial
// (lib/agora-miniapp-sdk.js) — its methods, its event emitter (on/off, '*'
// listeners get (type, payload)) and the events its worker emits; the
// protocol doc (docs/protocol.md section 5) for the push ->
// event mapping; Agora's FAQ for LOG.onlog.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startFakeGateway } = require('./fake-gateway');
const { createWx } = require('./wx-sim');
const { loadSDK, until, outcome } = require('./helpers');

const sdk = loadSDK();
const APP = 'b'.repeat(32);

// Every public method of the official Client.
const OFFICIAL_METHODS = [
  'init', 'setRole', 'join', 'rejoin', 'leave', 'destroy',
  'publish', 'unpublish', 'subscribe', 'unsubscribe',
  'mute', 'unmute', 'muteLocal', 'unmuteLocal', 'setRemoteVideoStreamType', 'renewToken',
  'isConnected', 'updatePushUrl', 'send', 'setAudioCodec',
  'updatePusherStateChange', 'updatePusherNetStatus', 'updatePlayerStateChange', 'updatePlayerNetStatus',
  'startChannelMediaRelay', 'updateChannelMediaRelay', 'stopChannelMediaRelay',
  'on', 'off'
];

// Server pushes and the event (name, payload) the official SDK emits for each.
const PUSHED_EVENTS = [
  { push: { action: 'stream-added', uid: 7 }, name: 'stream-added', payload: { action: 'stream-added', uid: 7 } },
  { push: { action: 'stream-removed', uid: 7 }, name: 'stream-removed', payload: { action: 'stream-removed', uid: 7 } },
  { push: { action: 'update-url', uid: 7, url: 'rtmp://h/live/x' }, name: 'update-url', payload: { action: 'update-url', uid: 7, url: 'rtmp://h/live/x' } },
  { push: { action: 'video-rotation', uid: 7, rotation: 90 }, name: 'video-rotation', payload: { action: 'video-rotation', uid: 7, rotation: 90 } },
  { push: { action: 'audio-mute', uid: 7, mute: true }, name: 'mute-audio', payload: { uid: 7 } },
  { push: { action: 'audio-mute', uid: 7, mute: false }, name: 'unmute-audio', payload: { uid: 7 } },
  { push: { action: 'video-mute', uid: 7, mute: true }, name: 'mute-video', payload: { uid: 7 } },
  { push: { action: 'video-mute', uid: 7, mute: false }, name: 'unmute-video', payload: { uid: 7 } },
  { push: { action: 'key-will-expire' }, name: 'token-privilege-will-expire', payload: undefined },
  { push: { action: 'custom-action', uid: 7, x: 1 }, name: 'custom-action', payload: { action: 'custom-action', uid: 7, x: 1 } }
];

let gw;
test.before(async () => { gw = await startFakeGateway(); });
test.after(async () => { await gw.close(); });

const cleanups = [];
test.afterEach(async () => {
  gw.actions = {};
  while (cleanups.length) await cleanups.pop()();
});

function newClient() {
  const sim = createWx();
  const client = new sdk.Client({ apUrl: gw.apUrl, servers: [gw.wsUrl], wx: sim.wx });
  cleanups.push(async () => { await client.destroy().catch(() => {}); sim.closeAll(); });
  return client;
}

test('every public method of the official Client exists', () => {
  const client = newClient();
  const missing = OFFICIAL_METHODS.filter((m) => typeof client[m] !== 'function');
  assert.deepEqual(missing, [], 'methods missing from Client');
});

test('isConnected follows the gateway connection', async () => {
  const client = newClient();
  assert.equal(client.isConnected(), false, 'before join');
  await client.init(APP);
  await client.join(undefined, 'room-s', 3001);
  assert.equal(client.isConnected(), true, 'after join');
  await client.leave();
  assert.equal(client.isConnected(), false, 'after leave');
});

test('a wildcard listener gets every event, name first, with the official payloads', async () => {
  const client = newClient();
  const seen = [];
  const own = [];
  client.on('*', (type, payload) => seen.push({ type, payload }));
  for (const e of PUSHED_EVENTS) client.on(e.name, (p) => own.push({ type: e.name, payload: p }));
  await client.init(APP);
  await client.join(undefined, 'room-s', 3002);
  const conn = gw.conns[gw.conns.length - 1];
  for (const e of PUSHED_EVENTS) conn.push(e.push);
  await until(() => seen.length >= PUSHED_EVENTS.length, 'every pushed event');
  assert.deepEqual(seen.map((e) => e.type), PUSHED_EVENTS.map((e) => e.name));
  for (let i = 0; i < PUSHED_EVENTS.length; i++) {
    assert.deepEqual(seen[i].payload, PUSHED_EVENTS[i].payload, PUSHED_EVENTS[i].name + ' payload (wildcard)');
  }
  // The event's own listeners got the same payloads.
  assert.deepEqual(own, seen);

  // Errors too: a server error push is an "error" {code, reason}.
  conn.push(null, { code: 502, reason: 'vendor over load' });
  await until(() => seen.some((e) => e.type === 'error'), 'error event');
  assert.deepEqual(seen.find((e) => e.type === 'error').payload, { code: 502, reason: 'vendor over load' });

  // off('*', fn) removes it; a throwing wildcard listener does not break others.
  const before = seen.length;
  client.off('*');
  client.on('*', () => { throw new Error('app bug'); });
  const after = [];
  client.on('stream-added', (p) => after.push(p));
  conn.push({ action: 'stream-added', uid: 9 });
  await until(() => after.length === 1, 'stream-added after off');
  assert.equal(seen.length, before, 'removed wildcard listener still called');
});

test('token expiry and ban events have no payload', async () => {
  const client = newClient();
  const seen = [];
  client.on('*', (type, payload) => seen.push({ type, payload }));
  await client.init(APP);
  await client.join(undefined, 'room-s', 3003);
  const conn = gw.conns[gw.conns.length - 1];
  conn.push({ action: 'key-expired' });
  conn.push({ action: 'client-is-banned-by-server' });
  await until(() => seen.length >= 2, 'expiry and ban');
  assert.deepEqual(seen.slice(0, 2).map((e) => [e.type, e.payload]), [['token-privilege-did-expire', undefined], ['client-banned', undefined]]);
});

test('updatePushUrl, send and setAudioCodec speak the official requests', async () => {
  const client = newClient();
  client.setAudioCodec('aac');
  await client.init(APP);
  await client.join(undefined, 'room-s', 3004);
  const conn = gw.conns[gw.conns.length - 1];
  const join = conn.requests.find((m) => m.clientRequest.action === 'join');
  assert.equal(join.clientRequest.customAudioCodec, 'aac');

  gw.actions.update_url = (c, cr) => ({ code: 200, serverResponse: { url: 'rtmp://h/live/new?' + cr.role + '&' + cr.uid } });
  const res = await client.updatePushUrl();
  assert.deepEqual(res, { url: 'rtmp://h/live/new?publish&3004' });

  gw.actions.my_action = (c, cr) => ({ code: 200, serverResponse: { echo: cr.value } });
  assert.deepEqual(await client.send({ action: 'my_action', value: 5 }), { echo: 5 });
  gw.actions.my_action = () => ({ code: 433, reason: 'no authorized: nope' });
  const refused = await outcome(client.send({ action: 'my_action' }));
  assert.equal(refused.error.code, 433);
  const bad = await outcome(client.send('not an object'));
  assert.match(bad.error.message, /clientRequest/);
});

test('channel media relay reports at once that minirtc has none', async () => {
  const client = newClient();
  for (const call of [
    (cb) => client.startChannelMediaRelay({}, cb),
    (cb) => client.updateChannelMediaRelay({}, cb),
    (cb) => client.stopChannelMediaRelay(cb)
  ]) {
    const err = await new Promise((resolve) => call(resolve));
    assert.equal(err.code, 430);
    assert.match(err.reason, /not supported by minirtc/);
  }
});

test('LOG.onlog is an alias of LOG.onLog (the FAQ spelling)', () => {
  const lines = [];
  const level = sdk.LOG.getLogLevel();
  sdk.LOG.setLogLevel(1);
  const consoleLog = console.log;
  console.log = () => {};
  try {
    sdk.LOG.onlog = (text) => lines.push(text);
    assert.equal(typeof sdk.LOG.onLog, 'function');
    newClient(); // logs "client created" at INFO
    assert.ok(lines.some((l) => l.includes('client created')), 'onlog did not receive lines');
    assert.equal(sdk.LOG.onlog, sdk.LOG.onLog);
  } finally {
    console.log = consoleLog;
    sdk.LOG.onlog = null;
    sdk.LOG.setLogLevel(level);
  }
  assert.equal(sdk.LOG.onLog, null);
});
