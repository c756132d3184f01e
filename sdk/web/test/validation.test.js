// Local validation: every bad argument is refused before anything reaches
// the network, as a MiniRTCError with a catalogue code and reason.

import test from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { Client, MiniRTCError, CODES } from '../src/minirtc-web-sdk.js';
import { checkJoinUid, checkChannel } from '../src/validate.js';
import { fromHTTP } from '../src/errors.js';
import { startFakeServer, FakePeerConnection, FakeMediaStream, FakeTrack } from './fakes.js';

const APP = '0123456789abcdef0123456789abcdef';

function isErr(code, prefix) {
  return (e) => {
    assert.ok(e instanceof MiniRTCError, 'not a MiniRTCError: ' + e);
    assert.ok(e instanceof Error);
    assert.equal(e.code, code, e.reason);
    assert.ok(e.reason.startsWith(prefix), `reason ${JSON.stringify(e.reason)} does not start with ${JSON.stringify(prefix)}`);
    assert.equal(e.message, code + ' ' + e.reason);
    return true;
  };
}

test('constructor options', () => {
  const cases = [
    [undefined, 'bad request: Client: options.apUrl is required'],
    [{}, 'bad request: Client: options.apUrl is required'],
    [{ apUrl: 'ftp://x/api/v1' }, 'bad request: Client: options.apUrl is required'],
    [{ apUrl: 'https://x/api/v1', servers: 'wss://x/api' }, 'bad request: Client: options.servers'],
    [{ apUrl: 'https://x/api/v1', servers: [] }, 'bad request: Client: options.servers'],
    [{ apUrl: 'https://x/api/v1', servers: ['https://x/api'] }, 'bad request: Client: options.servers'],
    [{ apUrl: 'https://x/api/v1', mediaUrl: 'x' }, 'bad request: Client: options.mediaUrl']
  ];
  for (const [opts, prefix] of cases) assert.throws(() => new Client(opts), isErr(430, prefix), JSON.stringify(opts));
  assert.ok(new Client({ apUrl: 'https://x/api/v1', servers: ['wss://x/api'], mediaUrl: 'https://m.x/' }));
});

test('argument checks (no network)', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  const mk = () => new Client({ apUrl: srv.apUrl, WebSocket, RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream });
  const fresh = mk();
  await assert.rejects(fresh.join('t', 'room', 1), isErr(430, 'bad request: call init(appId) before join()'));
  for (const bad of [undefined, '', '  ', 'null', ' NULL ', 42]) {
    await assert.rejects(mk().init(bad), isErr(430, 'bad request: invalid appId'), String(bad));
  }
  const c = mk();
  await c.init(APP);
  const cases = [
    [() => c.join(42, 'room', 1), 401, 'invalid key:'],
    [() => c.join('null', 'room', 1), 401, 'invalid key:'],
    [() => c.join('t', '', 1), 430, 'invalid channel name:'],
    [() => c.join('t', 'null', 1), 430, 'invalid channel name:'],
    [() => c.join('t', 'x'.repeat(129), 1), 430, 'invalid channel name:'],
    [() => c.join('t', 7, 1), 430, 'invalid channel name:'],
    [() => c.join('t', 'room', -1), 430, 'invalid uid:'],
    [() => c.join('t', 'room', 1.5), 430, 'invalid uid:'],
    [() => c.join('t', 'room', 4294967296), 430, 'invalid uid:'],
    [() => c.join('t', 'room', 'alice'), 430, 'invalid uid:'],
    [() => c.join('t', 'room', '12abc'), 430, 'invalid uid:'],
    [() => c.setRole('host'), 431, 'invalid role:'],
    [() => c.subscribe('7'), 430, 'invalid uid:'],
    [() => c.subscribe(-1), 430, 'invalid uid:'],
    [() => c.subscribe(7, 'video'), 430, 'bad request: subscribe options'],
    [() => c.subscribe(7, { audio: false, video: false }), 430, 'bad request: subscribe options'],
    [() => c.unsubscribe(2 ** 32), 430, 'invalid uid:'],
    [() => c.mute(7, 'screen'), 430, 'bad request: target must be'],
    [() => c.muteLocal('mic'), 430, 'bad request: target must be'],
    [() => c.unmute('7', 'audio'), 430, 'invalid uid:'],
    [() => c.renewToken(''), 401, 'invalid key:'],
    [() => c.publish(null), 430, 'bad request: publish() needs a MediaStream'],
    [() => c.publish(new FakeMediaStream([])), 430, 'bad request: the MediaStream has no live audio or video track'],
    [() => c.muteLocal('audio'), 430, 'bad request: join() a channel first'],
    [() => c.subscribe(7), 430, 'bad request: join() a channel first'],
    [() => c.publish(new FakeMediaStream([new FakeTrack('video')])), 430, 'bad request: join() a channel first']
  ];
  for (const [call, code, prefix] of cases) await assert.rejects(call(), isErr(code, prefix), call.toString());
  assert.equal(srv.requests.length, 0, 'nothing reached the server');
  const ended = new FakeTrack('audio');
  ended.stop();
  await assert.rejects(c.publish(new FakeMediaStream([ended])), isErr(430, 'bad request: the MediaStream has no live'));

  await c.destroy();
  await assert.rejects(c.init(APP), isErr(430, 'bad request: the Client was destroyed'));
});

test('no WebRTC in the runtime: publish and subscribe refuse with 430', async (t) => {
  const srv = await startFakeServer();
  t.after(() => srv.close());
  const c = new Client({ apUrl: srv.apUrl, WebSocket, RTCPeerConnection: null });
  await c.init(APP);
  await c.join('t', 'room', 1);
  await assert.rejects(c.publish(new FakeMediaStream([new FakeTrack('video')])), isErr(430, 'bad request: this browser has no WebRTC'));
  await assert.rejects(c.subscribe(3), isErr(430, 'bad request: this browser has no WebRTC'));
  await c.leave();
});

test('uid and channel rules', () => {
  const rnd = () => 0;
  const ok = [[1, '1'], ['42', '42'], [' 42 ', '42'], [4294967295, '4294967295'], [0, '1'], [null, '1'], ['', '1'], [undefined, '1']];
  for (const [in_, out] of ok) assert.equal(checkJoinUid(in_, rnd), out, String(in_));
  assert.equal(checkChannel('中文 channel!'), '中文 channel!');
});

test('HTTP refusals map onto the catalogue', () => {
  const cases = [
    [401, '{"code":401,"reason":"invalid key: signature mismatch"}', 401, 'invalid key: signature mismatch'],
    [406, '{"code":430,"reason":"codec not acceptable: H.264"}', 430, 'codec not acceptable: H.264'],
    [404, '404 page not found', 432, 'not found: WHEP answered HTTP 404 (404 page not found)'],
    [401, '', 401, 'invalid key: WHEP answered HTTP 401'],
    [503, 'busy', 501, 'service lost: WHEP answered HTTP 503 (busy)'],
    [500, 'x', 500, 'internal error: WHEP answered HTTP 500 (x)'],
    [418, '', 430, 'bad request: WHEP answered HTTP 418']
  ];
  for (const [status, body, code, reason] of cases) {
    const e = fromHTTP(status, body, 'WHEP');
    assert.deepEqual([e.code, e.reason, e.status], [code, reason, status]);
  }
  assert.equal(CODES.DISCONNECTED, 904);
});
