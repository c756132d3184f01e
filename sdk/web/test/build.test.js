// The shipped bundle: dist/minirtc-web-sdk.js (what the node serves at
// /sdk/ and the npm package exports) equals a fresh esbuild build of src/
// and the shared core, is one self-contained ES module, and exports what
// the source entry exports.

import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { build, OUT, DTS, OUT_DTS } from '../scripts/build.js';
import * as src from '../src/minirtc-web-sdk.js';
import { CODE } from '../../core/errors.js';

const built = readFileSync(OUT, 'utf8');

test('the committed dist file equals a fresh build', () => {
  assert.ok(built === build(), 'dist/minirtc-web-sdk.js is stale: run `npm run build` and commit it');
});

test('dist/ carries the same declarations as src/', () => {
  assert.ok(readFileSync(OUT_DTS, 'utf8') === readFileSync(DTS, 'utf8'), 'dist/minirtc-web-sdk.d.ts is stale: run `npm run build`');
});

test('the dist file is one ES module with no imports, built from the shared core', () => {
  assert.doesNotMatch(built, /^\s*import\b/m);
  assert.doesNotMatch(built, /\bimport\s*\(/);
  assert.match(built, /\n\/\/ \.\.\/core\/session\.js\n/);
  assert.match(built, /\n\/\/ \.\.\/core\/errors\.js\n/);
});

test('the dist module exports what src/minirtc-web-sdk.js exports', async () => {
  const dist = await import('../dist/minirtc-web-sdk.js');
  assert.deepEqual(Object.keys(dist).sort(), Object.keys(src).sort());
  assert.deepEqual({ ...dist.CODES }, { ...src.CODES });
  assert.equal(dist.SDK_VERSION, src.SDK_VERSION);
  assert.equal(typeof dist.Client, 'function');
  assert.throws(() => new dist.Client({}), (e) => e instanceof dist.MiniRTCError && e.code === 430);
});

test('CODES come from the generated catalogue', () => {
  assert.equal(src.CODES.VENDOR_KEY, CODE.VENDOR_KEY);
  assert.equal(src.CODES.DISCONNECTED, CODE.SOCKET_LOST);
  assert.equal(src.CODES.TIMEOUT, CODE.REQUEST_TIMEOUT);
  assert.equal(src.CODES.AP_FAILED, CODE.ALLOCATION_FAILED);
  assert.equal(Object.keys(src.CODES).length, 11);
});
