// Small helpers both SDKs share.

/** The largest uid (uint32). */
export var MAX_UID = 4294967295;

/**
 * "https://h:1/x" -> "https://h:1" ("" when url is not an http(s) URL).
 * @param {unknown} url
 * @returns {string}
 */
export function origin(url) {
  var m = /^(https?:\/\/[^/?#]+)/i.exec(String(url || ''));
  return m ? m[1] : '';
}

/**
 * The gateway WebSocket next to an allocation URL: http(s) -> ws(s), path /api
 * ("" when apUrl is not an http(s) URL).
 * @param {string} apUrl
 * @returns {string}
 */
export function defaultServer(apUrl) {
  var o = origin(apUrl);
  return o ? o.replace(/^http/i, 'ws') + '/api' : '';
}

/**
 * 32 upper-case hex characters (the SDK session id).
 * @param {() => number} random
 * @returns {string}
 */
export function newSid(random) {
  var hex = '0123456789ABCDEF';
  var s = '';
  for (var i = 0; i < 32; i++) s += hex.charAt(Math.floor(random() * 16));
  return s;
}

/**
 * @param {number} ms
 * @returns {Promise<void>}
 */
export function sleep(ms) {
  return new Promise((resolve) => { setTimeout(resolve, ms); });
}

/**
 * Runs fn on each item in turn, each after the previous one's promise.
 * @template T
 * @param {T[]} items
 * @param {(item: T) => unknown} fn
 * @returns {Promise<unknown>}
 */
export function sequence(items, fn) {
  /** @type {Promise<unknown>} */
  var start = Promise.resolve();
  return items.reduce((p, item) => p.then(() => fn(item)), start);
}

/**
 * The text of anything thrown or rejected.
 * @param {unknown} e
 * @returns {string}
 */
export function errText(e) {
  var m = e && /** @type {{message?: unknown}} */ (e).message;
  return m ? String(m) : String(e);
}
