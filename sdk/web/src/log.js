// LOG: the SDK's logger, shared by every Client like the mini program SDK's
// (setLogLevel, onLog). Lines go to the console at or above the level and
// to LOG.onLog.

const LEVELS = Object.freeze({ BLIND: -1, DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3, NONE: 4 });
const NAMES = { '-1': 'BLIND', 0: 'DEBUG', 1: 'INFO', 2: 'WARN', 3: 'ERROR' };

const state = { level: LEVELS.INFO };

function text(v) {
  if (typeof v === 'string') return v;
  if (v instanceof Error) return v.name + ': ' + v.message;
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s;
  } catch (e) {
    return String(v);
  }
}

export const LOG = {
  LEVELS,
  /** Called with each formatted line at or above the level (app-provided). */
  onLog: null,
  /** -1 BLIND (pings too), 0 DEBUG, 1 INFO (default), 2 WARN, 3 ERROR, 4 NONE. */
  setLogLevel(level) {
    const n = Number(level);
    if (!Number.isFinite(n)) throw new TypeError('Invalid log level');
    state.level = Math.max(-1, Math.min(4, Math.floor(n)));
  },
  getLogLevel() {
    return state.level;
  }
};

// LOG.onlog (the spelling in the Agora mini program SDK's FAQ) is the same
// hook as onLog.
Object.defineProperty(LOG, 'onlog', {
  get() { return LOG.onLog; },
  set(fn) { LOG.onLog = fn; },
  enumerable: false
});

function write(level, args) {
  if (level < state.level || state.level >= LEVELS.NONE) return;
  const line = new Date().toISOString().slice(11, 23) + ' [minirtc ' + NAMES[level] + '] ' + args.map(text).join(' ');
  if (typeof LOG.onLog === 'function') {
    try {
      LOG.onLog(line);
    } catch (e) {
      // an app's log hook must not break the SDK
    }
  }
  if (typeof console !== 'undefined') {
    const fn = level >= LEVELS.ERROR ? console.error : level >= LEVELS.WARN ? console.warn : console.log;
    fn.call(console, line);
  }
}

export const log = {
  blind: (...a) => write(LEVELS.BLIND, a),
  debug: (...a) => write(LEVELS.DEBUG, a),
  info: (...a) => write(LEVELS.INFO, a),
  warn: (...a) => write(LEVELS.WARN, a),
  error: (...a) => write(LEVELS.ERROR, a)
};
