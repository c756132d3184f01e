'use strict';
// The shipped file: committed build == fresh build, one self-contained ES2017
// CommonJS file that uses only wx.* for I/O, the example's copy is identical,
// and the TypeScript declarations compile (and reject misuse).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const acorn = require('acorn');
const { build, OUT } = require('../scripts/build');

const ROOT = path.join(__dirname, '..');
const EXAMPLE = path.join(ROOT, '..', '..', 'examples', 'miniapp');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const built = fs.readFileSync(OUT, 'utf8');

test('the committed dist file equals a fresh build', () => {
  assert.ok(built === build(), 'dist/minirtc-miniapp-sdk.js is stale: run `npm run build` and commit it');
});

test('version.js, package.json and SDK_VERSION agree', () => {
  const pkg = require('../package.json');
  assert.equal(require('../src/version'), pkg.version);
  assert.equal(require(OUT).SDK_VERSION, pkg.version);
  assert.equal(pkg.main, 'dist/minirtc-miniapp-sdk.js');
  assert.equal(pkg.types, 'index.d.ts');
});

// Identifiers of Node or browsers that WeChat's runtime does not have.
const FORBIDDEN_GLOBALS = ['require', 'process', 'Buffer', 'global', 'globalThis', 'window', 'document', 'self',
  'setImmediate', 'TextEncoder', 'TextDecoder', 'URL', 'URLSearchParams', 'fetch', 'WebSocket', 'XMLHttpRequest',
  'localStorage', 'navigator', 'queueMicrotask', 'structuredClone', 'AbortController'];
// Built-in members newer than ES2017.
const FORBIDDEN_MEMBERS = ['finally', 'fromEntries', 'flat', 'flatMap', 'matchAll', 'replaceAll', 'allSettled',
  'any', 'trimStart', 'trimEnd', 'at', 'hasOwn', 'findLast', 'findLastIndex'];

function walk(node, visit, parent) {
  if (!node || typeof node.type !== 'string') return;
  visit(node, parent);
  for (const key of Object.keys(node)) {
    const v = node[key];
    if (Array.isArray(v)) v.forEach((c) => walk(c, visit, node));
    else if (v && typeof v.type === 'string') walk(v, visit, node);
  }
}

test('the dist file is ES2017 script syntax with no require and no Node/browser globals', () => {
  const ast = acorn.parse(built, { ecmaVersion: 2017, sourceType: 'script' });
  const globals = new Set();
  const members = new Set();
  const declared = new Set();
  walk(ast, (node) => {
    if (node.type === 'VariableDeclarator' && node.id.type === 'Identifier') declared.add(node.id.name);
    if (/Function/.test(node.type)) {
      if (node.id) declared.add(node.id.name);
      for (const p of node.params) if (p.type === 'Identifier') declared.add(p.name);
    }
    if (node.type === 'CatchClause' && node.param) declared.add(node.param.name);
  });
  walk(ast, (node, parent) => {
    if (node.type === 'Identifier') {
      const isProp = parent && ((parent.type === 'MemberExpression' && parent.property === node && !parent.computed) ||
        (parent.type === 'Property' && parent.key === node && !parent.computed));
      if (isProp) {
        if (parent.type === 'MemberExpression') members.add(node.name);
      } else {
        globals.add(node.name);
      }
    }
  });
  assert.deepEqual(FORBIDDEN_GLOBALS.filter((g) => globals.has(g) && !declared.has(g)), []);
  assert.ok(globals.has('wx') && !declared.has('wx'), 'the SDK reaches the runtime through the global wx');
  assert.deepEqual(FORBIDDEN_MEMBERS.filter((m) => members.has(m)), []);
  // newer syntax is rejected by the parser itself (sanity check of the check)
  assert.throws(() => acorn.parse('var a = b?.c;', { ecmaVersion: 2017 }));
  assert.throws(() => acorn.parse('var a = {...b};', { ecmaVersion: 2017 }));
  // the only top-level statements: directive, the bundle, module.exports
  assert.equal(ast.body.length, 3);
  assert.match(built, /\nmodule\.exports = \{ Client: __minirtc\.Client, LOG: __minirtc\.LOG, SDK_VERSION: __minirtc\.SDK_VERSION \};\n$/);
});

test('the dist file is ES5 syntax (esbuild lowers the shared core; no ES2015+ left for the base library to transpile)', () => {
  acorn.parse(built, { ecmaVersion: 5, sourceType: 'script' });
  assert.throws(() => acorn.parse('let a = 1;', { ecmaVersion: 5 }));
  assert.throws(() => acorn.parse('var f = () => 1;', { ecmaVersion: 5 }));
});

test('the dist file is built from the shared protocol core (sdk/core) with the generated error catalogue', () => {
  assert.match(built, /\/\/ \.\.\/core\/session\.js\n/);
  assert.match(built, /\/\/ \.\.\/core\/errors\.js\n/);
  assert.match(built, /SOCKET_LOST: 904/);
});

test('the dist file loads with nothing but module/exports in scope', () => {
  const vm = require('node:vm');
  const module = { exports: {} };
  const sandbox = { module, exports: module.exports, setTimeout, clearTimeout, setInterval, clearInterval, console, Promise, Date, Math, JSON };
  vm.runInNewContext(built, sandbox, { filename: 'minirtc-miniapp-sdk.js' });
  assert.deepEqual(Object.keys(module.exports), ['Client', 'LOG', 'SDK_VERSION']);
  assert.equal(typeof module.exports.Client, 'function');
  assert.equal(typeof module.exports.LOG.setLogLevel, 'function');
});

test('the example mini program ships the same SDK file and declarations', () => {
  const lib = path.join(EXAMPLE, 'lib');
  assert.ok(fs.readFileSync(path.join(lib, 'minirtc-miniapp-sdk.js'), 'utf8') === built,
    'examples/miniapp/lib/minirtc-miniapp-sdk.js differs from the build: copy dist/minirtc-miniapp-sdk.js there');
  assert.ok(fs.readFileSync(path.join(lib, 'minirtc-miniapp-sdk.d.ts'), 'utf8') === fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8'),
    'examples/miniapp/lib/minirtc-miniapp-sdk.d.ts differs from index.d.ts');
});

function tsc(args) {
  try {
    execFileSync(process.execPath, [TSC, ...args], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
    return { ok: true, out: '' };
  } catch (e) {
    return { ok: false, out: String(e.stdout) + String(e.stderr) };
  }
}

const TS_FLAGS = ['--noEmit', '--strict', '--target', 'es2017', '--lib', 'es2017', '--moduleResolution', 'node', '--module', 'commonjs'];

test('index.d.ts compiles and describes the API as apps use it', () => {
  const r = tsc([...TS_FLAGS, 'index.d.ts', 'test/types/usage.ts']);
  assert.ok(r.ok, r.out);
});

test('index.d.ts rejects misuse', () => {
  const r = tsc([...TS_FLAGS, 'test/types/bad.ts']);
  assert.equal(r.ok, false);
  const lines = r.out.split('\n').filter((l) => l.includes('error TS'));
  assert.equal(lines.length, 5, r.out);
});
