'use strict';
// Runs the example's meeting page (examples/miniapp/pages/meeting) for two
// participants against a real `minirtc serve`: a minimal Page()/getApp()
// host, the simulated wx (plus the UI calls the page makes) and a token
// service for utils/token.js. Checks what the page shows: the own pusher
// URL, the other speaker's tile, mute badges, recovery after the socket dies
// (new pusher URL and key, status line), and leave.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { createWx } = require('./wx-sim');
const { until } = require('./helpers');
const { startServer } = require('./minirtc-server');

const EXAMPLE = path.join(__dirname, '..', '..', '..', 'examples', 'miniapp');

let srv;
let tokenServer;
let dir;
const sim = createWx();
const ui = { toasts: [], modals: [], navigations: [], playerPlays: [] };

test.before(async () => {
  srv = await startServer();
  // the app's token service (utils/token.js calls it)
  tokenServer = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const token = srv.token(u.searchParams.get('channel'), Number(u.searchParams.get('uid')));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token }));
  });
  await new Promise((r) => tokenServer.listen(0, '127.0.0.1', r));
  // a copy of the example with config.js pointing at the test server
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minirtc-example-run-'));
  fs.cpSync(EXAMPLE, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.js'), 'module.exports = ' + JSON.stringify({
    APP_ID: srv.appId,
    AP_URL: srv.apUrl,
    SERVERS: [srv.wsUrl],
    TOKEN_URL: `http://127.0.0.1:${tokenServer.address().port}/token`,
    WAITING_IMAGE: 'https://example.invalid/waiting.png',
    FLV: false
  }) + ';\n');
  global.wx = Object.assign({}, sim.wx, {
    setNavigationBarTitle() {},
    setKeepScreenOn() {},
    showToast(o) { ui.toasts.push(o.title); },
    showModal(o) { ui.modals.push(o.content); if (o.complete) o.complete({ errMsg: 'showModal:ok' }); },
    navigateBack() { ui.navigations.push('back'); },
    navigateTo(o) { ui.navigations.push(o.url); },
    redirectTo(o) { ui.navigations.push(o.url); },
    createLivePusherContext() { return { switchCamera() {} }; },
    createLivePlayerContext(id) { return { play() { ui.playerPlays.push(id); } }; },
    getSystemInfoSync() { return { model: 'node-sim', system: 'Node', platform: 'devtools', SDKVersion: '3.0.0', windowWidth: 375, windowHeight: 667, pixelRatio: 2 }; }
  });
}, { timeout: 240000 });

test.after(async () => {
  sim.closeAll();
  delete global.wx;
  delete global.Page;
  delete global.getApp;
  if (tokenServer) await new Promise((r) => tokenServer.close(r));
  if (srv) await srv.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Loads a fresh copy of the meeting page module for one participant. */
function openMeeting(uid, channel, role) {
  const file = path.join(dir, 'pages', 'meeting', 'meeting.js');
  for (const k of Object.keys(require.cache)) {
    if (k.startsWith(path.join(dir, 'pages'))) delete require.cache[k];
  }
  let def = null;
  global.Page = (d) => { def = d; };
  global.getApp = () => ({ globalData: { systemInfo: global.wx.getSystemInfoSync(), uid } });
  require(file);
  assert.ok(def, 'the module called Page()');
  // the page sets INFO; keep the test output quiet
  require(path.join(dir, 'lib', 'minirtc-miniapp-sdk.js')).LOG.setLogLevel(4);
  const page = Object.assign({}, def);
  page.data = JSON.parse(JSON.stringify(def.data));
  page.setData = function (changes, cb) { Object.assign(this.data, changes); if (cb) cb(); };
  page.onLoad({ channel: encodeURIComponent(channel), role });
  page.onReady();
  return page;
}

/** The simulated socket that joined as uid. */
function socketOf(uid) {
  return sim.sockets.filter((t) => !t.closed && t.sent.some((m) => m.clientRequest && m.clientRequest.action === 'join' && m.clientRequest.uid === String(uid))).pop();
}

test('two participants meet, mute, recover and leave through the example page', async () => {
  const channel = 'example room';
  const a = openMeeting(1001, channel, 'broadcaster');
  await until(() => a.data.pusher && a.data.pusher.url, 'A publishes');
  assert.match(a.data.pusher.url, /^rtmp:\/\/.*_1001\?/);
  assert.equal(a.data.pushers.length, 1);
  const b = openMeeting(1002, channel, 'broadcaster');
  await until(() => b.data.pusher && b.data.pusher.url, 'B publishes');
  await until(() => a.data.players.some((p) => p.uid === 1002), 'A shows B');
  await until(() => b.data.players.some((p) => p.uid === 1001), 'B shows A');
  const tileB = a.data.players.find((p) => p.uid === 1002);
  assert.match(tileB.url, /^rtmp:\/\/.*_1002\?/);
  assert.ok(tileB.width > 0 && tileB.height > 0, 'tiles are laid out');
  // an audience member sees both speakers and shows no pusher
  const c = openMeeting(1003, channel, 'audience');
  await until(() => c.data.players.length === 2, 'C shows A and B');
  assert.equal(c.data.pusher, null);

  await b.onMute();
  assert.equal(b.data.muted, true);
  await until(() => a.data.players.find((p) => p.uid === 1002).audioMuted, 'A shows B muted');
  await b.onCamera();
  await until(() => a.data.players.find((p) => p.uid === 1002).videoMuted, 'A shows B camera off');

  // A's connection dies: the SDK recovers, the page gets a new pusher URL
  const before = a.data.pusher;
  socketOf(1001).kill();
  await until(() => a.data.status.startsWith('Reconnecting'), 'status line');
  await until(() => a.data.pusher.key !== before.key && a.data.status === '', 'new pusher after recovery');
  assert.match(a.data.pusher.url, /^rtmp:\/\/.*_1001\?/);
  assert.ok(ui.toasts.includes('Reconnected'));
  assert.ok(b.data.players.some((p) => p.uid === 1001), 'B kept A throughout');
  assert.deepEqual(ui.modals, []);

  // background and back: players are restarted
  a.onHide();
  a.onShow();
  assert.ok(ui.playerPlays.includes('player-1002'));

  // B leaves: the page navigates back, unloads, and the others drop B's tile
  b.onLeave();
  assert.deepEqual(ui.navigations, ['back']);
  b.onUnload();
  await until(() => !a.data.players.some((p) => p.uid === 1002), 'A drops B');
  await until(() => c.data.players.length === 1, 'C drops B');
  a.onUnload();
  c.onUnload();
  await until(() => sim.active().length === 0, 'every socket closed');
  assert.deepEqual(ui.modals, []);
});
