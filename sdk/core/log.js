// LOG: the SDKs' logger, one per bundle and shared by every Client (the
// Agora SDK exposes it as a module-level object too). Lines go to the
// console (filtered by the level set with setLogLevel), to LOG.onLog (same
// filter) and into a bounded buffer of everything from DEBUG up, whatever
// the console level, which the mini program SDK's LOG.uploadLogs sends to
// minirtc after a problem.

/** Level constants, as numbers (-1 BLIND … 4 NONE). */
export var LEVELS = Object.freeze({ BLIND: -1, DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3, NONE: 4 });
/** @type {Record<string, string>} */
var LEVEL_NAMES = { '-1': 'BLIND', '0': 'DEBUG', '1': 'INFO', '2': 'WARN', '3': 'ERROR' };

// The buffer keeps the newest lines up to both limits: enough for a meeting's
// last minutes, small enough for one upload request body.
var MAX_BUFFER_LINES = 2000;
var MAX_BUFFER_CHARS = 256 * 1024;

/** @param {unknown} v */
function stringify(v) {
  if (typeof v === 'string') return v;
  if (v instanceof Error) return v.name + ': ' + v.message;
  try {
    var s = JSON.stringify(v);
    return s === undefined ? String(v) : s;
  } catch (e) {
    return String(v);
  }
}

/**
 * @param {number} n
 * @param {number} w
 */
function pad(n, w) {
  var s = String(n);
  while (s.length < w) s = '0' + s;
  return s;
}

/** @param {Date} d */
function timestamp(d) {
  return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3);
}

var state = {
  /** @type {number} */
  level: LEVELS.INFO,
  /** @type {string[]} */
  buffer: [],
  bufferChars: 0
};

/**
 * The public logger object (the SDKs export it as LOG).
 * @type {{LEVELS: typeof LEVELS, onLog: ((line: string) => void) | null, onlog?: ((line: string) => void) | null,
 *   setLogLevel: (level: number) => void, getLogLevel: () => number}}
 */
export var LOG = {
  LEVELS: LEVELS,
  /** Called with each formatted line at or above the log level (app-provided). */
  onLog: null,
  /**
   * Sets the console/onLog level: -1 BLIND (everything, including pings),
   * 0 DEBUG, 1 INFO (default), 2 WARN, 3 ERROR, 4 NONE.
   * @param {number} level
   */
  setLogLevel: function (level) {
    var n = Number(level);
    if (!isFinite(n)) throw new TypeError('Invalid log level');
    state.level = Math.max(-1, Math.min(4, Math.floor(n)));
  },
  /** The current level. */
  getLogLevel: function () {
    return state.level;
  }
};

// LOG.onlog is the spelling in the Agora SDK's FAQ: the same hook as onLog.
Object.defineProperty(LOG, 'onlog', {
  get: function () { return LOG.onLog; },
  set: function (fn) { LOG.onLog = fn; },
  enumerable: false
});

/**
 * @param {number} level
 * @param {ArrayLike<unknown>} args
 */
function write(level, args) {
  var parts = [];
  for (var i = 0; i < args.length; i++) parts.push(stringify(args[i]));
  var line = timestamp(new Date()) + ' [minirtc ' + LEVEL_NAMES[level] + '] ' + parts.join(' ');
  if (level >= LEVELS.DEBUG) {
    state.buffer.push(line);
    state.bufferChars += line.length;
    while (state.buffer.length > MAX_BUFFER_LINES || (state.bufferChars > MAX_BUFFER_CHARS && state.buffer.length > 1)) {
      state.bufferChars -= /** @type {string} */ (state.buffer.shift()).length;
    }
  }
  if (level < state.level || state.level >= LEVELS.NONE) return;
  if (typeof LOG.onLog === 'function') {
    try {
      LOG.onLog(line);
    } catch (e) {
      // an app's log hook must not break the SDK
    }
  }
  if (typeof console !== 'undefined') {
    var fn = level >= LEVELS.ERROR ? console.error : level >= LEVELS.WARN ? console.warn : console.log;
    if (typeof fn === 'function') fn.call(console, line);
  }
}

/**
 * The internal logger the SDK modules write to.
 * @type {{blind: (...a: unknown[]) => void, debug: (...a: unknown[]) => void, info: (...a: unknown[]) => void,
 *   warn: (...a: unknown[]) => void, error: (...a: unknown[]) => void, lines: () => string[], clearBuffer: () => void}}
 */
export var log = {
  blind: function () { write(LEVELS.BLIND, arguments); },
  debug: function () { write(LEVELS.DEBUG, arguments); },
  info: function () { write(LEVELS.INFO, arguments); },
  warn: function () { write(LEVELS.WARN, arguments); },
  error: function () { write(LEVELS.ERROR, arguments); },
  /** A copy of the buffered lines, oldest first. */
  lines: function () { return state.buffer.slice(); },
  clearBuffer: function () { state.buffer = []; state.bufferChars = 0; }
};
