'use strict';
// examples/miniapp: every page is complete, the JavaScript parses, WXML
// handlers exist, and the pages' calls into the SDK and wx type-check
// against lib/minirtc-miniapp-sdk.d.ts (the check is shown to bite).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const EXAMPLE = path.join(__dirname, '..', '..', '..', 'examples', 'miniapp');
const TSC = path.join(__dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc');

function files(dir, ext) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p, ext));
    else if (p.endsWith(ext)) out.push(p);
  }
  return out;
}

test('app.json lists pages that have js, json, wxml and wxss', () => {
  const appJson = JSON.parse(fs.readFileSync(path.join(EXAMPLE, 'app.json'), 'utf8'));
  assert.deepEqual(appJson.pages, ['pages/index/index', 'pages/meeting/meeting']);
  for (const page of appJson.pages) {
    for (const ext of ['.js', '.json', '.wxml', '.wxss']) {
      assert.ok(fs.existsSync(path.join(EXAMPLE, page + ext)), page + ext);
    }
  }
  for (const f of ['app.js', 'app.wxss', 'project.config.json', 'sitemap.json', 'README.md', 'config.js']) {
    assert.ok(fs.existsSync(path.join(EXAMPLE, f)), f);
  }
});

test('every JSON file parses', () => {
  for (const f of files(EXAMPLE, '.json')) JSON.parse(fs.readFileSync(f, 'utf8'));
});

test('every JavaScript file passes node --check', () => {
  const js = files(EXAMPLE, '.js');
  assert.ok(js.length >= 7);
  for (const f of js) execFileSync(process.execPath, ['--check', f], { stdio: 'pipe' });
});

test('every WXML event handler is a method of its page', () => {
  for (const wxml of files(path.join(EXAMPLE, 'pages'), '.wxml')) {
    const js = fs.readFileSync(wxml.replace(/\.wxml$/, '.js'), 'utf8');
    const handlers = [...fs.readFileSync(wxml, 'utf8').matchAll(/\b(?:bind|catch)[a-z]+="([A-Za-z]+)"/g)].map((m) => m[1]);
    assert.ok(handlers.length > 0);
    for (const h of handlers) assert.match(js, new RegExp('\\n  (async )?' + h + '\\('), `${path.basename(wxml)}: ${h}`);
  }
});

test('the meeting page uses one live-pusher with waiting-image and up to six live-players', () => {
  const wxml = fs.readFileSync(path.join(EXAMPLE, 'pages', 'meeting', 'meeting.wxml'), 'utf8');
  assert.equal((wxml.match(/<live-pusher\b/g) || []).length, 1);
  assert.match(wxml, /waiting-image="\{\{waitingImage\}\}"/);
  assert.match(wxml, /<live-player\b[^>]*/);
  const js = fs.readFileSync(path.join(EXAMPLE, 'pages', 'meeting', 'meeting.js'), 'utf8');
  assert.match(js, /MAX_PLAYERS = 6/);
  assert.match(js, /autoRejoin: true/);
});

function tsc(dir) {
  try {
    execFileSync(process.execPath, [TSC, '-p', path.join(dir, 'jsconfig.json')], { encoding: 'utf8', stdio: 'pipe' });
    return { ok: true, out: '' };
  } catch (e) {
    return { ok: false, out: String(e.stdout) + String(e.stderr) };
  }
}

test('the pages type-check against the SDK declarations', () => {
  const r = tsc(EXAMPLE);
  assert.ok(r.ok, r.out);
});

test('the type check catches a wrong SDK call', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minirtc-example-'));
  try {
    fs.cpSync(EXAMPLE, tmp, { recursive: true });
    const page = path.join(tmp, 'pages', 'meeting', 'meeting.js');
    const src = fs.readFileSync(page, 'utf8');
    const bad = src.replace('await client.subscribe(uid);', 'await client.subscribe(String(uid));')
      .replace("client.muteLocal('audio')", "client.muteLocal('mic')");
    assert.notEqual(bad, src);
    fs.writeFileSync(page, bad);
    const r = tsc(tmp);
    assert.equal(r.ok, false);
    assert.match(r.out, /meeting\.js\(\d+,\d+\): error TS2769/);
    assert.match(r.out, /meeting\.js\(\d+,\d+\): error TS2345: Argument of type '"mic"'/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
