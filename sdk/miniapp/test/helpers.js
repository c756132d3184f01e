'use strict';
// Shared test helpers: the built SDK, event recording and bounded waits.

const path = require('node:path');

const DIST = path.join(__dirname, '..', 'dist', 'minirtc-miniapp-sdk.js');

/** The built SDK file (what developers copy), with logging quiet. */
function loadSDK() {
  const sdk = require(DIST);
  sdk.LOG.setLogLevel(process.env.MINIRTC_SDK_LOG ? Number(process.env.MINIRTC_SDK_LOG) : 4);
  return sdk;
}

const EVENTS = [
  'stream-added', 'stream-removed', 'update-url', 'video-rotation', 'mute-audio', 'unmute-audio',
  'mute-video', 'unmute-video', 'error', 'token-privilege-will-expire', 'token-privilege-did-expire',
  'client-banned', 'reconnecting', 'reconnected'
];

/** Records every event of a client: rec.list [{name, payload}], rec.wait(name, pred). */
function record(client, extra = []) {
  const rec = { list: [], waiters: [] };
  for (const name of EVENTS.concat(extra)) {
    client.on(name, (payload) => {
      rec.list.push({ name, payload });
      rec.waiters = rec.waiters.filter((w) => !w());
    });
  }
  rec.of = (name) => rec.list.filter((e) => e.name === name).map((e) => e.payload);
  rec.wait = (name, pred = () => true, ms = 20000) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for event ${name}; got ${JSON.stringify(rec.list.map((e) => e.name))}`)), ms);
    const check = () => {
      const hit = rec.list.find((e) => e.name === name && !e.taken && pred(e.payload));
      if (!hit) return false;
      hit.taken = true;
      clearTimeout(timer);
      resolve(hit.payload);
      return true;
    };
    if (!check()) rec.waiters.push(check);
  });
  return rec;
}

/** Polls pred until it is truthy (bounded; no timing assertions). */
async function until(pred, what = 'condition', ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves {value} or {error} without throwing. */
async function outcome(p) {
  try {
    return { value: await p };
  } catch (error) {
    return { error };
  }
}

module.exports = { loadSDK, record, until, outcome, DIST };
