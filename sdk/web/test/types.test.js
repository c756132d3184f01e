// The TypeScript declarations: a strict typed usage sample compiles (and its
// misuse lines stay errors), and the demo page's JavaScript type-checks
// against the declarations. Also: the package metadata agrees with the code.

import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as sdk from '../src/minirtc-web-sdk.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

function tsc(project) {
  try {
    execFileSync(process.execPath, [TSC, '-p', project], { cwd: ROOT, stdio: 'pipe' });
    return '';
  } catch (e) {
    return String(e.stdout) + String(e.stderr);
  }
}

test('tsc --noEmit: the typed usage sample', () => {
  assert.equal(tsc('test/types/tsconfig.json'), '');
});

test('tsc --noEmit: the demo page (demo/app.js and demo/whep.js, checkJs)', () => {
  assert.equal(tsc('test/types/tsconfig.demo.json'), '');
});

test('tsc --noEmit --checkJs --strict: the shared protocol core (sdk/core, JSDoc types)', () => {
  assert.equal(tsc('test/types/tsconfig.core.json'), '');
});

test('the declarations name every export of the module', () => {
  const dts = readFileSync(path.join(ROOT, 'src', 'minirtc-web-sdk.d.ts'), 'utf8');
  for (const name of Object.keys(sdk)) {
    assert.match(dts, new RegExp(`export declare (const|class) ${name}\\b`), name);
  }
  const methods = Object.getOwnPropertyNames(sdk.Client.prototype).filter((m) => m !== 'constructor' && !m.startsWith('_'));
  for (const m of methods) assert.match(dts, new RegExp(`\\n  (readonly )?${m}[(:]`), 'Client.' + m);
});

test('package.json, version.js and SDK_VERSION agree', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.equal(sdk.SDK_VERSION, pkg.version);
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.main, 'dist/minirtc-web-sdk.js'); // the esbuild bundle of src/ and ../core/ (test/build.test.js)
  assert.equal(pkg.types, 'src/minirtc-web-sdk.d.ts');
  assert.match(pkg.devDependencies.typescript, /^\d+\.\d+\.\d+$/, 'typescript pinned exactly');
});
