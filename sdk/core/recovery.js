// Automatic recovery (the mini program SDK's autoRejoin): which failures
// start one, which failures of an attempt are worth another, and the
// backoff loop. What an attempt does (rejoin with the same uid, publish and
// subscribe again) belongs to the Client; this module only decides when and
// how often (error-codes.md: destroy, new client, rejoin).

import { CODE } from './errors.js';
import { sleep } from './util.js';
import { log } from './log.js';

/**
 * @param {number[]} codes
 * @returns {Readonly<Record<number, boolean>>}
 */
function set(codes) {
  /** @type {Record<number, boolean>} */
  var s = {};
  for (var i = 0; i < codes.length; i++) s[codes[i]] = true;
  return Object.freeze(s);
}

/** Codes after which a recovery is attempted (a server error or a lost socket). */
export var RECOVERABLE = set([CODE.INTERNAL, CODE.SERVICE_LOST, CODE.OVERLOADED, CODE.SOCKET_LOST]);

/**
 * Failures of a rejoin attempt worth another try (network, timeouts,
 * overload); any other code (401 expired token, 433 ban, …) ends recovery.
 */
export var RETRYABLE = set([
  CODE.TOO_MANY_REQUESTS, CODE.INTERNAL, CODE.SERVICE_LOST, CODE.OVERLOADED, CODE.SERVICE_EXITED,
  CODE.ALLOCATION_FAILED, CODE.REQUEST_TIMEOUT, CODE.SOCKET_LOST, CODE.CONNECT_FAILED
]);

/**
 * The wait before attempt n (1, 2, …): rejoinDelay doubled per attempt, at
 * most rejoinMaxDelay.
 * @param {{rejoinDelay: number, rejoinMaxDelay: number}} timing
 * @param {number} attempt
 */
export function backoff(timing, attempt) {
  return Math.min(timing.rejoinMaxDelay, timing.rejoinDelay * Math.pow(2, attempt - 1));
}

/** What the loop rejects with when it was told to stop (leave, destroy). */
export var STOPPED = Object.freeze({ stopped: true });

/**
 * @typedef {object} RecoveryOptions
 * @property {{code: number, reason: string}} cause what started the recovery
 * @property {{rejoinDelay: number, rejoinMaxDelay: number, rejoinMaxAttempts: number}} timing
 *   rejoinMaxAttempts 0: until it works, a terminal error or a stop
 * @property {() => boolean} stopped whether to give up (leave or destroy was called)
 * @property {(attempt: number, cause: {code: number, reason: string}) => void} onAttempt before each wait
 * @property {() => Promise<unknown>} attempt one rejoin; resolves when the client is back
 * @property {() => void} recovered after a successful attempt (not when stopped meanwhile); may
 *   throw to count the attempt as failed
 * @property {() => void} onRetry after a failed attempt, before the next (close what it left open)
 */

/**
 * Runs attempts with backoff until one succeeds. Resolves then; rejects
 * STOPPED when stopped, the last cause when rejoinMaxAttempts ran out, or
 * the attempt's error when it is not RETRYABLE.
 * @param {RecoveryOptions} o
 * @returns {Promise<void>}
 */
export function rejoinLoop(o) {
  var attempt = 0;
  var cause = o.cause;
  /** @returns {Promise<void>} */
  function attemptOnce() {
    attempt++;
    o.onAttempt(attempt, cause);
    return sleep(backoff(o.timing, attempt)).then(() => {
      if (o.stopped()) throw STOPPED;
      return o.attempt();
    }).then(() => {
      if (o.stopped()) throw STOPPED;
      o.recovered();
    }).catch((err) => {
      if (err === STOPPED) throw err;
      if (o.stopped()) throw STOPPED;
      var code = err && err.code;
      log.warn('rejoin attempt', attempt, 'failed:', err && (err.reason || err.message));
      if (typeof code !== 'number' || !RETRYABLE[code]) throw err;
      if (o.timing.rejoinMaxAttempts > 0 && attempt >= o.timing.rejoinMaxAttempts) throw cause;
      cause = { code: code, reason: err.reason };
      o.onRetry();
      return attemptOnce();
    });
  }
  return attemptOnce();
}
