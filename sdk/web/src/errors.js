// Every failure the SDK reports is a MiniRTCError with a numeric code and a
// reason from minirtc's error catalogue (error-codes.md): the server's
// {code, reason} as sent, and the SDK's own codes for what happens on the
// client (901 allocation, 903 time out, 904 socket lost, 905 connect
// failed, 430/431/433 for calls the server would refuse anyway).

import { CODES } from '../../core/codes.js';
import { CODE, REASON } from '../../core/errors.js';

/**
 * Codes raised by the SDK itself: the shared core's table, taken from the
 * catalogue that go generate writes from the Go source (sdk/core/errors.js).
 */
export { CODES };

export class MiniRTCError extends Error {
  /**
   * @param {number} code catalogue code
   * @param {string} reason catalogue reason, "reason" or "reason: detail"
   * @param {object} [extra] more fields (serverResponse, wsurl, uid, status)
   */
  constructor(code, reason, extra) {
    super(code + ' ' + reason);
    this.name = 'MiniRTCError';
    this.code = code;
    this.reason = reason;
    if (extra) {
      for (const k of Object.keys(extra)) {
        if (extra[k] !== undefined) this[k] = extra[k];
      }
    }
  }
}

export function fail(code, reason, extra) {
  return new MiniRTCError(code, reason, extra);
}

export function badRequest(detail) {
  return fail(CODES.BAD_REQUEST, 'bad request: ' + detail);
}

/** Turns anything thrown into a MiniRTCError (unknown failures are 500). */
export function asError(e) {
  if (e instanceof MiniRTCError) return e;
  if (e && typeof e.code === 'number' && typeof e.reason === 'string') return fail(e.code, e.reason, e);
  return fail(CODES.INTERNAL, 'internal error: ' + (e && e.message ? e.message : String(e)));
}

// HTTP statuses of WHIP/WHEP answers without a JSON body, mapped onto the
// catalogue the way the server maps the other direction.
const STATUS_CODES = {
  400: [CODE.BAD_REQUEST, REASON.BAD_REQUEST],
  401: [CODE.VENDOR_KEY, REASON.INVALID_KEY],
  403: [CODE.REFUSED, REASON.NO_AUTHORIZED],
  404: [CODE.NOT_PUBLISHING, REASON.NOT_FOUND],
  406: [CODE.BAD_REQUEST, REASON.CODEC_REJECTED],
  409: [CODE.REFUSED, REASON.CONFLICT],
  415: [CODE.BAD_REQUEST, REASON.BAD_REQUEST],
  429: [CODE.TOO_MANY_REQUESTS, REASON.TOO_MANY_REQUESTS],
  503: [CODE.SERVICE_LOST, REASON.SERVICE_LOST]
};

/** The catalogue error of a failed WHIP/WHEP/HTTP answer. */
export function fromHTTP(status, bodyText, what) {
  let body = null;
  try {
    body = JSON.parse(bodyText);
  } catch (e) {
    body = null;
  }
  if (body && typeof body.code === 'number' && typeof body.reason === 'string') {
    return fail(body.code, body.reason, { status });
  }
  const [code, reason] = STATUS_CODES[status] || (status >= 500 ? [CODES.INTERNAL, REASON.INTERNAL] : [CODES.BAD_REQUEST, REASON.BAD_REQUEST]);
  const text = String(bodyText || '').slice(0, 200).trim();
  return fail(code, `${reason}: ${what} answered HTTP ${status}${text ? ' (' + text + ')' : ''}`, { status });
}
