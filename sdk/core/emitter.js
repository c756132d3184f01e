// Emitter: the SDKs' event listeners (on, off, emit), as the Agora Miniapp
// SDK has them: listeners of an event run in the order they were added, then
// the wildcard listeners (on('*', fn)) get (name, payload). A listener that
// throws is logged and does not stop the others.

/**
 * @typedef {{debug: Function, error: Function}} EventLog
 */

/** The event name whose listeners get every event. */
export var WILDCARD = '*';

/**
 * @constructor
 * @param {EventLog} log
 */
export function Emitter(log) {
  this._log = log;
  /** @type {Record<string, Function[]>} */
  this._listeners = Object.create(null);
}

/**
 * @param {string} event
 * @param {Function} callback
 */
Emitter.prototype.on = function (event, callback) {
  if (typeof event !== 'string' || typeof callback !== 'function') return;
  (this._listeners[event] = this._listeners[event] || []).push(callback);
};

/**
 * Removes callback from event, or every listener of event without one.
 * @param {string} event
 * @param {Function} [callback]
 */
Emitter.prototype.off = function (event, callback) {
  if (!this._listeners[event]) return;
  if (typeof callback !== 'function') {
    delete this._listeners[event];
    return;
  }
  this._listeners[event] = this._listeners[event].filter((fn) => fn !== callback);
};

/** Removes every listener. */
Emitter.prototype.clear = function () {
  this._listeners = Object.create(null);
};

/**
 * Calls the listeners of event with payload (none when undefined).
 * @param {string} event
 * @param {unknown} [payload]
 */
Emitter.prototype.emit = function (event, payload) {
  var log = this._log;
  var list = (this._listeners[event] || []).slice();
  var any = event === WILDCARD ? [] : (this._listeners[WILDCARD] || []).slice();
  log.debug('event', event, payload === undefined ? '' : payload);
  for (var i = 0; i < list.length; i++) {
    try {
      if (payload === undefined) list[i]();
      else list[i](payload);
    } catch (e) {
      log.error('the app\'s', event, 'handler threw:', e);
    }
  }
  for (var j = 0; j < any.length; j++) {
    try {
      any[j](event, payload);
    } catch (e) {
      log.error('the app\'s "*" handler threw on', event + ':', e);
    }
  }
};
