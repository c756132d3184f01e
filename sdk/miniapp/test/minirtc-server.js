'use strict';
// Builds and runs a real `minirtc serve` for the integration tests: the Go
// binary is built once per test process from the repository root, the server
// listens on 127.0.0.1 with OS-chosen ports and a fresh data directory.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { RtcTokenBuilder, RtcRole } = require('agora-token');

const REPO = path.join(__dirname, '..', '..', '..');

let binary = null;
function buildBinary() {
  if (binary) return binary;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minirtc-bin-'));
  const out = path.join(dir, 'minirtc');
  execFileSync('go', ['build', '-o', out, './cmd/minirtc'], { cwd: REPO, stdio: 'pipe', env: Object.assign({}, process.env, { CGO_ENABLED: '0' }) });
  binary = out;
  return out;
}

/**
 * A free TCP port on 127.0.0.1 for the RTMP listener. With --rtmp-addr :0 the
 * server currently hands out push URLs without the bound port (1935), so the
 * test picks the port itself.
 */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `minirtc serve`. Resolves {httpAddr, rtmpAddr, appId, appCertificate,
 * apUrl, wsUrl, token(channel, uid, seconds), stop(), logs()}.
 */
async function startServer() {
  const bin = buildBinary();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'minirtc-data-'));
  const rtmpPort = await freePort();
  const child = spawn(bin, ['serve', '--data-dir', dataDir, '--http-addr', '127.0.0.1:0', '--rtmp-addr', '127.0.0.1:' + rtmpPort, '--log-level', 'debug'], {
    stdio: ['ignore', 'pipe', 'pipe']
  });
  const stderr = [];
  child.stderr.on('data', (d) => { stderr.push(d.toString()); if (stderr.length > 5000) stderr.shift(); });
  const info = await new Promise((resolve, reject) => {
    const got = {};
    const timer = setTimeout(() => reject(new Error('minirtc serve did not start:\n' + stderr.join(''))), 30000);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error('minirtc serve exited with ' + code + ':\n' + stderr.join(''))); });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      let m;
      if ((m = /appId:\s+([0-9a-f]{32})/.exec(line))) got.appId = m[1];
      if ((m = /appCertificate:\s+([0-9a-f]{32})/.exec(line))) got.appCertificate = m[1];
      if ((m = /listening: http (\S+)/.exec(line))) {
        got.httpAddr = m[1];
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
  if (!info.appId || !info.appCertificate) throw new Error('minirtc serve printed no default app');
  const server = {
    appId: info.appId,
    appCertificate: info.appCertificate,
    httpAddr: info.httpAddr,
    rtmpAddr: '127.0.0.1:' + rtmpPort,
    apUrl: `http://${info.httpAddr}/api/v1`,
    wsUrl: `ws://${info.httpAddr}/api`,
    /** A 007 token built with Agora's own builder (agora-token). */
    token(channel, uid, seconds = 3600, account = false) {
      const role = RtcRole.PUBLISHER;
      if (account) return RtcTokenBuilder.buildTokenWithUserAccount(info.appId, info.appCertificate, channel, String(uid), role, seconds, seconds);
      return RtcTokenBuilder.buildTokenWithUid(info.appId, info.appCertificate, channel, Number(uid), role, seconds, seconds);
    },
    logs() { return stderr.join(''); },
    stop() {
      return new Promise((resolve) => {
        if (child.exitCode !== null) { resolve(); return; }
        child.once('exit', () => {
          fs.rmSync(dataDir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGTERM');
      });
    }
  };
  return server;
}

module.exports = { startServer, buildBinary, REPO };
