// The web demo: join a channel with minirtc-web-sdk, publish the camera and
// microphone, play every other publisher (browsers and mini programs), mute,
// leave. window.demo holds the page state (read by the end-to-end test and
// handy in the console). With pub/play in the URL the page runs the bare
// WHIP/WHEP test mode instead (whep.js).

import { Client, SDK_VERSION } from 'minirtc-web-sdk';
import { isBareMode, runBareMode } from './whep.js';

/** @param {string} id @returns {any} */
const $ = (id) => document.getElementById(id);

/**
 * @typedef {{framesDecoded: number, totalAudioEnergy: number, muted: {audio: boolean, video: boolean}, rotation: number}} Remote
 */
const demo = {
  sdkVersion: SDK_VERSION,
  joined: false,
  published: false,
  /** the codec the browser sends video with, from its stats (video/H264) */
  sentVideoCodec: '',
  uid: /** @type {number | null} */ (null),
  /** @type {Record<string, Remote>} */
  remotes: {},
  /** @type {string[]} */
  events: [],
  error: ''
};
// @ts-ignore: exposed for the console and the tests
window.demo = demo;

const query = new URLSearchParams(location.search);
/** @type {Client | null} */
let client = null;
/** @type {MediaStream | null} */
let local = null;
let statsTimer = 0;
const muted = { audio: false, video: false };

function log(line) {
  const text = new Date().toISOString().slice(11, 23) + ' ' + line;
  demo.events.push(line);
  const el = $('log');
  el.textContent = text + '\n' + el.textContent;
}

function status(text, isError) {
  const el = $('status');
  el.textContent = text;
  el.className = isError ? 'error' : '';
  if (isError) demo.error = text;
}

/** @param {any} e */
function describe(e) {
  return e && e.code ? `${e.code} ${e.reason}` : String(e && e.message || e);
}

// ---- remote tiles -------------------------------------------------------

/** @param {number} uid */
function tile(uid) {
  let fig = $('tile-' + uid);
  if (!fig) {
    fig = document.createElement('figure');
    fig.className = 'tile';
    fig.id = 'tile-' + uid;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    const cap = document.createElement('figcaption');
    cap.textContent = 'uid ' + uid;
    fig.append(video, cap);
    $('videos').append(fig);
  }
  return fig;
}

/** @param {number} uid */
function caption(uid) {
  const r = demo.remotes[uid];
  const fig = $('tile-' + uid);
  if (!r || !fig) return;
  const marks = [];
  if (r.muted.audio) marks.push('mic off');
  if (r.muted.video) marks.push('camera off');
  const cap = fig.querySelector('figcaption');
  cap.textContent = 'uid ' + uid + (marks.length ? ' (' + marks.join(', ') + ')' : '');
  cap.className = marks.length ? 'muted' : '';
}

/** @param {number} uid */
function remote(uid) {
  if (!demo.remotes[uid]) demo.remotes[uid] = { framesDecoded: 0, totalAudioEnergy: 0, muted: { audio: false, video: false }, rotation: 0 };
  return demo.remotes[uid];
}

/** @param {number} uid */
async function play(uid) {
  if (!client) return;
  remote(uid);
  try {
    const stream = await client.subscribe(uid);
    const video = tile(uid).querySelector('video');
    video.srcObject = stream;
    video.play().catch(() => {});
    caption(uid);
    log('playing uid ' + uid);
  } catch (e) {
    log('subscribe ' + uid + ' failed: ' + describe(e));
  }
}

/** @param {number} uid */
function drop(uid) {
  delete demo.remotes[uid];
  const fig = $('tile-' + uid);
  if (fig) fig.remove();
}

async function pollStats() {
  if (!client) return;
  if (demo.published) {
    const own = await client.getStats().catch(() => null);
    if (own) {
      own.forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video' && s.codecId && own.get(s.codecId)) {
          demo.sentVideoCodec = own.get(s.codecId).mimeType;
        }
      });
    }
  }
  for (const key of Object.keys(demo.remotes)) {
    const uid = Number(key);
    const stats = await client.getStats(uid).catch(() => null);
    if (!stats || !demo.remotes[key]) continue;
    stats.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') demo.remotes[key].framesDecoded = s.framesDecoded || 0;
      if (s.kind === 'audio') demo.remotes[key].totalAudioEnergy = s.totalAudioEnergy || 0;
    });
  }
}

// ---- join / leave ----------------------------------------------------------

function videoSize() {
  const m = /^(\d+)x(\d+)$/.exec(query.get('video') || '640x360');
  return m ? { width: Number(m[1]), height: Number(m[2]) } : { width: 640, height: 360 };
}

/**
 * Asks the node's token server (the tokenServer section of its configuration;
 * on with `minirtc serve --dev`) for a token. A node without one answers 404:
 * the page then joins with the appId as key, which development apps accept.
 * @param {string} channel
 * @param {number} uid
 * @returns {Promise<{token: string, appId: string} | null>}
 */
async function fetchToken(channel, uid) {
  try {
    const r = await fetch('/token?channel=' + encodeURIComponent(channel) + '&uid=' + uid);
    if (!r.ok) return null;
    return await r.json();
  } catch (e) {
    return null;
  }
}

async function join() {
  let appId = $('appId').value.trim();
  const channel = $('channel').value.trim();
  const uidText = $('uid').value.trim();
  let token = $('token').value.trim();
  let uid = uidText ? Number(uidText) : null;
  if (!token) {
    if (uid === null) uid = 1 + Math.floor(Math.random() * 0x7fffffff);
    const got = await fetchToken(channel, uid);
    if (got && (!appId || got.appId === appId)) {
      appId = got.appId;
      token = got.token;
      log('token from the token server');
    }
  }
  const publish = $('publish').checked;
  $('join').disabled = true;
  status('joining ' + channel + ' …');
  const c = new Client({ apUrl: location.origin + '/api/v1' });
  client = c;
  c.on('stream-added', (e) => { log('stream-added ' + e.uid); play(e.uid); });
  c.on('stream-removed', (e) => { log('stream-removed ' + e.uid); drop(e.uid); });
  for (const ev of /** @type {const} */ (['mute-audio', 'unmute-audio', 'mute-video', 'unmute-video'])) {
    c.on(ev, (e) => {
      log(ev + ' ' + e.uid);
      const r = remote(e.uid);
      r.muted[ev.endsWith('audio') ? 'audio' : 'video'] = ev.startsWith('mute');
      caption(e.uid);
    });
  }
  // WHEP carries the rotation in every frame (CVO) and the browser turns
  // the picture itself: the event is only shown here.
  c.on('video-rotation', (e) => {
    log('video-rotation ' + e.uid + ' ' + e.rotation);
    remote(e.uid).rotation = e.rotation;
  });
  c.on('error', (e) => { log('error ' + e.code + ' ' + e.reason); status(`${e.code} ${e.reason}`, true); });
  c.on('token-privilege-will-expire', () => log('token-privilege-will-expire'));
  c.on('token-privilege-did-expire', () => { log('token-privilege-did-expire'); status('the token expired: join again with a new one', true); });
  c.on('client-banned', () => { log('client-banned'); status('removed from the channel by the server', true); });
  try {
    await c.init(appId);
    uid = await c.join(token, channel, uid);
    demo.uid = uid;
    demo.joined = true;
    $('whoami').textContent = `uid ${uid} in "${channel}"`;
    $('controls').hidden = false;
    $('join-form').hidden = true;
    log('joined as ' + uid);
    status('joined "' + channel + '" as ' + uid);
    statsTimer = window.setInterval(pollStats, 500);
    if (publish) {
      local = await navigator.mediaDevices.getUserMedia({ audio: true, video: videoSize() });
      $('local').srcObject = local;
      $('local-tile').hidden = false;
      await c.publish(local);
      demo.published = true;
      log('publishing');
      status('joined "' + channel + '" as ' + uid + ', publishing');
    }
  } catch (e) {
    log('failed: ' + describe(e));
    status(describe(e), true);
    $('join').disabled = false;
  }
}

async function leave() {
  const c = client;
  client = null;
  window.clearInterval(statsTimer);
  if (c) await c.leave().catch((e) => log('leave: ' + describe(e)));
  if (local) for (const t of local.getTracks()) t.stop();
  local = null;
  for (const uid of Object.keys(demo.remotes)) drop(Number(uid));
  demo.joined = false;
  demo.published = false;
  $('local-tile').hidden = true;
  $('controls').hidden = true;
  $('join-form').hidden = false;
  $('join').disabled = false;
  muted.audio = muted.video = false;
  $('mute-audio').textContent = 'Mute microphone';
  $('mute-video').textContent = 'Turn camera off';
  log('left');
  status('left the channel');
}

/** @param {'audio' | 'video'} kind */
async function toggle(kind) {
  if (!client) return;
  const mute = !muted[kind];
  try {
    if (mute) await client.muteLocal(kind);
    else await client.unmuteLocal(kind);
    muted[kind] = mute;
    if (kind === 'audio') $('mute-audio').textContent = mute ? 'Unmute microphone' : 'Mute microphone';
    else $('mute-video').textContent = mute ? 'Turn camera on' : 'Turn camera off';
    log((mute ? 'muted ' : 'unmuted ') + kind);
  } catch (e) {
    log('mute failed: ' + describe(e));
  }
}

// ---- wiring -----------------------------------------------------------------

// The bare WHIP/WHEP test mode (whep.js): its own section, no join form.
function bare() {
  $('join-form').hidden = true;
  $('status').hidden = true;
  $('bare').hidden = false;
  runBareMode(query, { local: $('bare-local'), remote: $('bare-remote'), status: $('bare-status') });
}

for (const name of ['appId', 'channel', 'uid', 'token']) {
  const v = query.get(name) || (name === 'appId' ? query.get('app') : null);
  if (v) $(name).value = v;
}
if (query.get('publish') === '0') $('publish').checked = false;
$('join-form').addEventListener('submit', (/** @type {Event} */ e) => { e.preventDefault(); join(); });
$('leave').addEventListener('click', () => { leave(); });
$('mute-audio').addEventListener('click', () => { toggle('audio'); });
$('mute-video').addEventListener('click', () => { toggle('video'); });
window.addEventListener('pagehide', () => { if (client) client.leave(); });
if (isBareMode(query)) bare();
else if (query.get('autojoin') === '1' && $('appId').value) join();
