'use strict';
// Every local validation error (docs/protocol.md section 8): the same
// messages as the Agora SDK, raised before anything touches the network.

const test = require('node:test');
const assert = require('node:assert/strict');
const { loadSDK, outcome } = require('./helpers');

const sdk = loadSDK();
const APP = 'b'.repeat(32);

/** A wx that records any use: validation must not reach it. */
function silentWx() {
  const used = [];
  return {
    used,
    wx: {
      request(o) { used.push(['request', o.url]); o.fail && o.fail({ errMsg: 'request:fail offline' }); },
      connectSocket(o) { used.push(['connectSocket', o.url]); throw new Error('no sockets here'); },
      getSystemInfoSync() { return {}; }
    }
  };
}

function client(opts = {}) {
  const s = silentWx();
  const c = new sdk.Client(Object.assign({ apUrl: 'https://rtc.example.com/api/v1', wx: s.wx }, opts));
  return { c, used: s.used };
}

async function rejects(p, message) {
  const r = await outcome(p);
  assert.ok(r.error instanceof Error, `expected an Error "${message}", got ${JSON.stringify(r)}`);
  assert.equal(r.error.message, message);
}

test('constructor needs apUrl and a valid servers list', () => {
  assert.throws(() => new sdk.Client(), /apUrl is required/);
  assert.throws(() => new sdk.Client({}), /apUrl is required/);
  assert.throws(() => new sdk.Client({ apUrl: 'rtc.example.com' }), /apUrl is required/);
  assert.throws(() => new sdk.Client({ apUrl: 'https://x/api/v1', servers: 'wss://x/api' }), /servers must be/);
  assert.throws(() => new sdk.Client({ apUrl: 'https://x/api/v1', servers: [''] }), /servers must be/);
});

test('init: appId must be a non-empty string other than "null"', async () => {
  const cases = [undefined, null, '', '   ', 'null', 'NULL', ' Null ', 42, {}];
  for (const appId of cases) {
    const { c } = client();
    await rejects(c.init(appId), 'Invalid appId');
  }
  const { c } = client();
  await c.init(' ' + APP + ' ');
});

test('setRole: exactly "broadcaster" or "audience"', async () => {
  const { c, used } = client();
  for (const role of ['host', 'Broadcaster', '', undefined, 1, 'audience ']) {
    await rejects(c.setRole(role), 'Invalid role');
  }
  await c.setRole('broadcaster');
  await c.setRole('audience');
  assert.deepEqual(used, [], 'setRole before join is local');
});

test('join and rejoin validate key, channel, uid and isAudioOnly before any request', async () => {
  const { c, used } = client();
  await rejects(c.join(null, 'room', 1), 'Client is not initialized: call init(appId) first');
  await c.init(APP);
  const table = [
    [['null', 'room', 1], 'Invalid channelKey'],
    [[123, 'room', 1], 'Invalid channelKey'],
    [[{}, 'room', 1], 'Invalid channelKey'],
    [[null, '', 1], 'Invalid channel name'],
    [[null, 'null', 1], 'Invalid channel name'],
    [[null, 'x'.repeat(129), 1], 'Invalid channel name'],
    [[null, undefined, 1], 'Invalid channel name'],
    [[null, 12, 1], 'Invalid channel name'],
    [[null, 'room', 'abc'], 'Invalid uid type'],
    [[null, 'room', -1], 'Invalid uid type'],
    [[null, 'room', 4294967296], 'Invalid uid type'],
    [[null, 'room', {}], 'Invalid uid type'],
    // Not parseInt()ed as the Agora SDK does (issue #13 item 7): refused here.
    [[null, 'room', 1.5], 'Invalid uid type'],
    [[null, 'room', '1.5'], 'Invalid uid type'],
    [[null, 'room', '12abc'], 'Invalid uid type'],
    [[null, 'room', '0'], 'Invalid uid type'],
    [[null, 'room', 1, 'yes'], 'Invalid isAudioOnly'],
    [[null, 'room', 1, 0], 'Invalid isAudioOnly'],
    [[null, 'room', '', false, 1], 'uid empty'],
    [[null, 'room', '   ', false, 1], 'uid empty'],
    [[null, 'room', 5, false, '1'], 'uid empty']
  ];
  for (const [args, message] of table) {
    await rejects(c.join(...args), message);
    await rejects(c.rejoin(args[0], args[1], args[2], ['1'], ...args.slice(3)), message);
  }
  assert.deepEqual(used, [], 'nothing was sent');
  // accepted edge cases reach the network (and fail there: no server)
  for (const args of [[null, 'x'.repeat(128), 1], [null, '中文 channel!', '12'], [null, 'room', 4294967295], [null, 'room', 0], [undefined, 'room', undefined]]) {
    const r = await outcome(c.join(...args));
    assert.equal(r.error.code, 901, `${JSON.stringify(args)} passes validation`);
  }
  assert.equal(used.length, 5);
});

test('a join uid like 1.5 is refused locally with the catalogue\'s code and reason', async () => {
  const { c, used } = client();
  await c.init(APP);
  for (const [uid, shown] of [[1.5, '1.5'], ['1.5', '"1.5"'], ['12abc', '"12abc"'], [-1, '-1'], [4294967296, '4294967296']]) {
    const r = await outcome(c.join(null, 'room', uid));
    assert.ok(r.error instanceof Error, JSON.stringify(r));
    assert.equal(r.error.code, 430);
    assert.equal(r.error.reason, 'invalid uid: a whole number in 1..4294967295 (got ' + shown + ')');
  }
  assert.deepEqual(used, [], 'nothing was sent');
});

test('remote uids must be numbers in uint32 range; targets and stream types are checked', async () => {
  const { c, used } = client();
  await c.init(APP);
  const badUids = ['7', -1, 1.5, 4294967296, NaN, null, undefined, Infinity];
  for (const uid of badUids) {
    await rejects(c.subscribe(uid), 'Invalid uid type');
    await rejects(c.unsubscribe(uid), 'Invalid uid type');
    await rejects(c.mute(uid, 'audio'), 'Invalid uid type');
    await rejects(c.unmute(uid, 'video'), 'Invalid uid type');
    await rejects(c.setRemoteVideoStreamType(uid, 0), 'Invalid uid type');
  }
  for (const target of ['both', '', undefined, 'AUDIO']) {
    await rejects(c.mute(1, target), 'Invalid target');
    await rejects(c.unmute(1, target), 'Invalid target');
    await rejects(c.muteLocal(target), 'Invalid target');
    await rejects(c.unmuteLocal(target), 'Invalid target');
  }
  for (const t of [2, '0', -1, undefined]) await rejects(c.setRemoteVideoStreamType(1, t), 'Invalid stream type');
  await rejects(c.subscribe(1, 'audio'), 'Invalid subscribe options');
  for (const tok of ['', null, 'null', 5]) await rejects(c.renewToken(tok), 'Invalid token');
  assert.deepEqual(used, []);
});

test('calls that need a connection fail with "Disconnected from server"', async () => {
  const { c, used } = client();
  await c.init(APP);
  for (const p of [c.publish(), c.unpublish(), c.subscribe(1), c.unsubscribe(1), c.muteLocal('audio'),
    c.unmuteLocal('all'), c.mute(1, 'audio'), c.unmute(1, 'audio'), c.setRemoteVideoStreamType(1, 1), c.renewToken('t')]) {
    await rejects(p, 'Disconnected from server');
  }
  // leave and destroy without a connection resolve without a request
  await c.leave();
  await c.destroy();
  await rejects(c.join(null, 'room', 1), 'Client destroyed');
  await rejects(c.init(APP), 'Client destroyed');
  assert.deepEqual(used, []);
});

test('legacy onFailure callbacks receive the same errors', async () => {
  const { c } = client();
  const err = await new Promise((resolve) => c.init('', () => resolve(null), resolve));
  assert.equal(err.message, 'Invalid appId');
  await c.init(APP);
  const e2 = await new Promise((resolve) => c.join('null', 'room', 1, () => resolve(null), resolve));
  assert.equal(e2.message, 'Invalid channelKey');
  const e3 = await new Promise((resolve) => c.subscribe('1', {}, () => resolve(null), resolve));
  assert.equal(e3.message, 'Invalid uid type');
});

test('LOG.setLogLevel checks its argument', () => {
  const before = sdk.LOG.getLogLevel();
  assert.throws(() => sdk.LOG.setLogLevel('loud'), /Invalid log level/);
  sdk.LOG.setLogLevel(-5);
  assert.equal(sdk.LOG.getLogLevel(), -1);
  sdk.LOG.setLogLevel(before);
});

test('on/off take any event name, "__proto__" and "constructor" included, without throwing', async () => {
  const { c } = client();
  const got = [];
  const fn = () => got.push('proto');
  assert.doesNotThrow(() => c.on('__proto__', fn));
  assert.doesNotThrow(() => c.on('constructor', fn));
  assert.doesNotThrow(() => c.off('__proto__', fn));
  assert.doesNotThrow(() => c.off('toString'));
  // the listeners of ordinary events still work
  c.on('error', (e) => got.push(e.code));
  c.on('__proto__', fn);
  await outcome(c.init(APP));
  assert.deepEqual(got, []);
  await c.destroy();
});
