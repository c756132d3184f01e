// The SDK against a real `minirtc serve` (built from this repository,
// listening on 127.0.0.1 with OS-chosen ports): two web clients in one
// channel see each other's mute events; a WHIP publish as the joined uid
// attaches to the member (the other client gets stream-added, and
// stream-removed on unpublish and on leave); WHEP answers the other client
// with H.264 + Opus; a subscribe to a uid that does not publish ends with
// the server's 432; a bad token gets the gateway's 401 reason. Media do not flow (the RTCPeerConnection is a fake
// that only writes a Chrome-like offer); the browser end to end test is
// TestWebDemo in test/e2e.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { Client, LOG } from '../src/minirtc-web-sdk.js';
import { FakePeerConnection, FakeMediaStream, FakeTrack, fakeSender, fakeReceiver, peers } from './fakes.js';
import { negotiated } from '../src/sdp.js';

LOG.setLogLevel(4);
const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

async function startServer(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minirtc-websdk-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'minirtc');
  execFileSync('go', ['build', '-o', bin, './cmd/minirtc'], { cwd: REPO, stdio: 'pipe', env: { ...process.env, CGO_ENABLED: '0' } });
  const child = spawn(bin, ['serve', '--data-dir', path.join(dir, 'data'), '--http-addr', '127.0.0.1:0', '--rtmp-addr', '127.0.0.1:0'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = [];
  child.stderr.on('data', (d) => { stderr.push(String(d)); if (stderr.length > 2000) stderr.shift(); });
  t.after(() => new Promise((resolve) => {
    if (child.exitCode !== null) { resolve(); return; }
    child.once('exit', resolve);
    child.kill('SIGTERM');
  }));
  const info = await new Promise((resolve, reject) => {
    const got = {};
    const timer = setTimeout(() => reject(new Error('minirtc serve did not start:\n' + stderr.join(''))), 30000);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error('minirtc serve exited with ' + code + ':\n' + stderr.join(''))); });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      let m;
      if ((m = /appId:\s+([0-9a-f]{32})/.exec(line))) got.appId = m[1];
      if ((m = /appCertificate:\s+([0-9a-f]{32})/.exec(line))) got.cert = m[1];
      if ((m = /listening: http (\S+)/.exec(line))) {
        got.http = m[1];
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
  return {
    ...info,
    apUrl: `http://${info.http}/api/v1`,
    token(channel, uid) {
      return execFileSync(bin, ['token', 'build', '--app-id', info.appId, '--app-cert', info.cert, '--channel', channel,
        '--uid', String(uid), '--role', 'publisher'], { encoding: 'utf8' }).trim().split(/\s+/).pop();
    }
  };
}

function client(srv, extra) {
  return new Client({
    apUrl: srv.apUrl, WebSocket, RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream,
    RTCRtpSender: fakeSender, RTCRtpReceiver: fakeReceiver, ...extra
  });
}

function events(c, names) {
  const got = [];
  for (const n of names) c.on(n, (p) => got.push(n + ' ' + (p && p.uid !== undefined ? p.uid : '')));
  return got;
}

async function until(cond, what) {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail('timed out waiting for ' + what);
}

test('two web clients on a real minirtc', async (t) => {
  const srv = await startServer(t);
  const a = client(srv);
  const b = client(srv, { subscribeTimeout: 1500 });
  const seenB = events(b, ['stream-added', 'stream-removed', 'mute-audio', 'unmute-audio', 'error']);
  await a.init(srv.appId);
  await b.init(srv.appId);

  await assert.rejects(a.join(srv.token('room', 12), 'room', 11), (e) => e.code === 401 && /^invalid key: /.test(e.reason));
  assert.equal(await a.join(srv.token('room', 11), 'room', 11), 11);
  assert.equal(await b.join(srv.token('room', 12), 'room', 12), 12);

  await a.muteLocal('audio');
  await until(() => seenB.includes('mute-audio 11'), 'mute-audio 11 at b');

  // WHIP as the joined uid attaches to the member: b gets stream-added.
  await a.publish(new FakeMediaStream([new FakeTrack('audio'), new FakeTrack('video')]));
  await until(() => seenB.includes('stream-added 11'), 'stream-added 11 at b');
  // b plays a over WHEP: the server answers the (fake) offer with H.264 and Opus.
  peers.length = 0;
  const stream = await b.subscribe(11);
  assert.deepEqual(stream.getTracks().map((tr) => tr.kind).sort(), ['audio', 'video']);
  assert.deepEqual(negotiated(peers[0].remoteDescription.sdp), { video: 'h264', audio: 'opus' });
  assert.ok(await b.getStats(11));
  // A uid that never published: the server's 432 once b stops retrying.
  await assert.rejects(b.subscribe(99), (e) => e.code === 432 && e.status === 404 && /not publishing/.test(e.reason));

  await a.unpublish();
  await until(() => seenB.includes('stream-removed 11'), 'stream-removed 11 at b');
  assert.equal(await b.getStats(11), null, 'stream-removed ended the subscription');
  assert.ok(peers[0].closed);
  await a.unmuteLocal('audio');
  await until(() => seenB.includes('unmute-audio 11'), 'unmute-audio 11 at b');

  // Publish again, then leave: the WHIP session ends and so does the stream.
  await a.publish(new FakeMediaStream([new FakeTrack('video')]));
  await until(() => seenB.filter((e) => e === 'stream-added 11').length === 2, 'second stream-added 11');
  await a.leave();
  await until(() => seenB.filter((e) => e === 'stream-removed 11').length === 2, 'second stream-removed 11');
  await b.leave();
  assert.ok(!seenB.some((e) => e.startsWith('error')), 'no error events: ' + seenB);
});
