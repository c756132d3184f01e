// Unit tests of the shared core with a scripted transport: the session's
// request/reply/push handling and close semantics, the recovery loop's
// retry rules, and the emitter.

import test from 'node:test';
import assert from 'node:assert/strict';
import { Session } from '../session.js';
import { rejoinLoop, STOPPED, RECOVERABLE, RETRYABLE, backoff } from '../recovery.js';
import { Emitter } from '../emitter.js';
import { CODES } from '../codes.js';
import { CODE } from '../errors.js';
import { LOG } from '../log.js';

LOG.setLogLevel(4);

const quiet = { debug() {}, error() {} };

/** A transport whose allocation answers vid 1 and whose socket the test drives. */
function fakeTransport() {
  const t = { sent: [], socket: null, events: null, closed: 0 };
  t.post = async () => ({ status: 200, body: JSON.stringify({ json_body: JSON.stringify({ vid: 1 }) }) });
  t.connect = (url, ev) => {
    t.events = ev;
    setTimeout(() => ev.onOpen(), 0);
    t.socket = { send: (text) => t.sent.push(JSON.parse(text)), close: () => { t.closed++; } };
    return t.socket;
  };
  /** Answers the last request with code and serverResponse. */
  t.reply = (code, serverResponse, extra = {}) => {
    const req = t.sent.filter((m) => m.clientRequest).at(-1);
    t.events.onMessage(JSON.stringify({ requestId: req.requestId, code, serverResponse, ...extra }));
  };
  return t;
}

const ERRORS = {
  fail: (code, reason, extra) => ({ code, reason, ...extra }),
  server: (code, reason, extra) => ({ code, reason, server: true, ...extra }),
  disconnected: (why) => ({ disconnected: why })
};

function newSession(t, handlers = {}, timing = {}) {
  return new Session({
    transport: t,
    errors: ERRORS,
    apUrl: 'http://127.0.0.1:1/api/v1',
    servers: ['ws://127.0.0.1:1/api'],
    appId: 'app',
    channel: 'ch',
    uid: '7',
    uidType: 0,
    key: 'key',
    role: 'broadcaster',
    audioOnly: false,
    knownSpeakers: null,
    audioCodec: null,
    clientType: 'test',
    version: '0.0.0',
    device: 'd',
    os: 'o',
    logTicket: false,
    timing: { connectTimeout: 1000, requestTimeout: 200, pingInterval: 60000, pongTimeout: 0, ...timing },
    random: Math.random,
    handlers: { onPush() {}, onServerError() {}, onClosed() {}, ...handlers }
  });
}

async function joined(t, handlers, timing) {
  const s = newSession(t, handlers, timing);
  const started = s.start();
  while (!t.sent.length) await new Promise((r) => setTimeout(r, 1));
  t.reply(200, { uid: 7 });
  assert.equal(await started, 7);
  return s;
}

test('join: request fields, then replies resolve and refusals reject through the ErrorFactory', async () => {
  const t = fakeTransport();
  const s = await joined(t);
  const join = t.sent[0];
  assert.equal(join.clientRequest.action, 'join');
  assert.equal(join.seq, 2);
  assert.equal(join.requestId, 3);
  assert.equal(join.clientRequest.vid, '1');
  assert.equal(join.clientRequest.version, '0.0.0');
  assert.equal('logTicket' in join.clientRequest, false);
  const ok = s.request({ action: 'publish' });
  t.reply(200, { url: 'rtmp://x' });
  assert.deepEqual(await ok, { url: 'rtmp://x' });
  const refused = s.request({ action: 'subscribe' });
  t.reply(432, undefined, { reason: 'not publishing: uid 9' });
  await assert.rejects(refused, (e) => e.server && e.code === 432 && e.reason === 'not publishing: uid 9');
  s.close();
});

test('a request without a reply fails with 903 after requestTimeout', async () => {
  const t = fakeTransport();
  const s = await joined(t);
  await assert.rejects(s.request({ action: 'mute' }), (e) => e.code === CODES.TIMEOUT && e.reason === 'time out');
  s.close();
});

test('pushes: serverStatus goes to onPush, error pushes to onServerError, 503 is ignored', async () => {
  const t = fakeTransport();
  const pushes = [];
  const errors = [];
  const s = await joined(t, { onPush: (p) => pushes.push(p), onServerError: (e) => errors.push(e) });
  t.events.onMessage(JSON.stringify({ command: 'serverStatus', serverStatus: { action: 'stream-added', uid: 9 } }));
  t.events.onMessage(JSON.stringify({ command: 'serverStatus', code: 503, reason: 'service exited' }));
  t.events.onMessage(JSON.stringify({ command: 'serverStatus', code: 501, reason: 'service lost' }));
  t.events.onMessage('not json');
  assert.deepEqual(pushes, [{ action: 'stream-added', uid: 9 }]);
  assert.deepEqual(errors.map((e) => e.code), [501]);
  s.close();
});

test('a terminal close (reason "close") is not abnormal; a lost socket is, and rejects pending requests with 904', async () => {
  for (const [reason, abnormal] of [['close', false], ['going away', true]]) {
    const t = fakeTransport();
    const closed = [];
    const s = await joined(t, { onClosed: (i) => closed.push(i) });
    const pending = s.request({ action: 'publish' });
    t.events.onClose(abnormal ? 1006 : 1000, reason);
    assert.equal(closed.length, 1);
    assert.equal(closed[0].abnormal, abnormal);
    const err = await pending.then(() => null, (e) => e);
    if (abnormal) assert.equal(err.code, CODES.DISCONNECTED);
    else assert.deepEqual(err, { disconnected: 'server' });
    assert.equal(s.isOpen(), false);
    await assert.rejects(s.request({ action: 'x' }), (e) => e.disconnected === 'closed');
  }
});

test('no gateway URL answers: 905 with the URLs tried', async () => {
  const t = fakeTransport();
  t.connect = (url, ev) => { setTimeout(() => ev.onError('refused'), 0); return { send() {}, close() {} }; };
  await assert.rejects(newSession(t).start(), (e) => e.code === CODES.CONNECT_FAILED && e.wsurl === '["ws://127.0.0.1:1/api"]');
});

test('an allocation failure is 901', async () => {
  const t = fakeTransport();
  t.post = async () => { throw new Error('ECONNREFUSED'); };
  await assert.rejects(newSession(t).start(), (e) => e.code === CODES.AP_FAILED && /ECONNREFUSED/.test(e.reason));
  t.post = async () => ({ status: 200, body: '{"json_body":"{}"}' });
  await assert.rejects(newSession(t).start(), (e) => e.code === CODES.AP_FAILED && /malformed/.test(e.reason));
});

test('recovery: the codes come from the generated catalogue', () => {
  assert.deepEqual(Object.keys(RECOVERABLE).map(Number), [500, 501, 502, 904]);
  assert.deepEqual(Object.keys(RETRYABLE).map(Number), [429, 500, 501, 502, 503, 901, 903, 904, 905]);
  assert.equal(CODES.DISCONNECTED, CODE.SOCKET_LOST);
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoff({ rejoinDelay: 100, rejoinMaxDelay: 500 }, n)), [100, 200, 400, 500, 500]);
});

test('recovery loop: retries retryable failures, stops on others, on a stop and after rejoinMaxAttempts', async () => {
  const timing = { rejoinDelay: 1, rejoinMaxDelay: 2, rejoinMaxAttempts: 0 };
  const run = (results, opts = {}) => {
    const seen = { attempts: [], retries: 0, recovered: 0 };
    const p = rejoinLoop({
      cause: { code: 904, reason: 'websocket disconnected' },
      timing: { ...timing, ...opts.timing },
      stopped: opts.stopped || (() => false),
      onAttempt: (n, cause) => seen.attempts.push([n, cause.code]),
      attempt: () => {
        const r = results.shift();
        return r === 'ok' ? Promise.resolve() : Promise.reject(r);
      },
      recovered: () => { seen.recovered++; },
      onRetry: () => { seen.retries++; }
    });
    return p.then(() => ({ ok: true, seen }), (err) => ({ err, seen }));
  };
  let r = await run([{ code: 905, reason: 'connect websocket failed' }, { code: 903, reason: 'time out' }, 'ok']);
  assert.equal(r.ok, true);
  assert.deepEqual(r.seen.attempts, [[1, 904], [2, 905], [3, 903]]);
  assert.equal(r.seen.retries, 2);
  assert.equal(r.seen.recovered, 1);
  r = await run([{ code: 401, reason: 'invalid key' }]);
  assert.equal(r.err.code, 401);
  assert.equal(r.seen.recovered, 0);
  r = await run([{ code: 905, reason: 'a' }, { code: 903, reason: 'b' }, 'ok'], { timing: { rejoinMaxAttempts: 2 } });
  assert.deepEqual(r.err, { code: 905, reason: 'a' }, 'the cause the last attempt was made for');
  assert.equal(r.seen.attempts.length, 2);
  r = await run(['ok'], { stopped: () => true });
  assert.equal(r.err, STOPPED);
});

test('emitter: own listeners, then wildcard ones; a throwing listener does not stop the rest; any event name', () => {
  const e = new Emitter(quiet);
  const calls = [];
  e.on('*', (name, p) => calls.push(['*', name, p]));
  e.on('x', () => { throw new Error('app bug'); });
  e.on('x', (p) => calls.push(['x', p]));
  const proto = () => calls.push(['proto']);
  e.on('__proto__', proto);
  e.on('constructor', () => calls.push(['ctor']));
  e.emit('x', 1);
  e.emit('__proto__');
  e.emit('toString');
  e.off('__proto__', proto);
  e.emit('__proto__');
  assert.deepEqual(calls, [['x', 1], ['*', 'x', 1], ['proto'], ['*', '__proto__', undefined], ['*', 'toString', undefined], ['*', '__proto__', undefined]]);
  e.clear();
  e.emit('x', 2);
  assert.equal(calls.length, 6);
});
