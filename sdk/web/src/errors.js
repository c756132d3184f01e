// Every failure the SDK reports is a MiniRTCError with a numeric code and a
// reason from minirtc's error catalogue (error-codes.md): the server's
// {code, reason} as sent, and the SDK's own codes for what happens on the
// client (901 allocation, 903 time out, 904 socket lost, 905 connect
// failed, 430/431/433 for calls the server would refuse anyway).

/** Codes raised by the SDK itself. */
export const CODES = Object.freeze({
  VENDOR_KEY: 401,
  BAD_REQUEST: 430,
  BAD_ROLE: 431,
  NOT_PUBLISHING: 432,
  REFUSED: 433,
  INTERNAL: 500,
  SERVICE_LOST: 501,
  AP_FAILED: 901,
  TIMEOUT: 903,
  DISCONNECTED: 904,
  CONNECT_FAILED: 905
});

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
  400: [430, 'bad request'],
  401: [401, 'invalid key'],
  403: [433, 'no authorized'],
  404: [432, 'not found'],
  406: [430, 'codec not acceptable'],
  409: [433, 'conflict'],
  415: [430, 'bad request'],
  429: [429, 'too many requests'],
  503: [501, 'service lost']
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
  const [code, reason] = STATUS_CODES[status] || (status >= 500 ? [CODES.INTERNAL, 'internal error'] : [CODES.BAD_REQUEST, 'bad request']);
  const text = String(bodyText || '').slice(0, 200).trim();
  return fail(code, `${reason}: ${what} answered HTTP ${status}${text ? ' (' + text + ')' : ''}`, { status });
}
