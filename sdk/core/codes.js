// The codes the SDKs use by name, taken from the generated catalogue
// (errors.js, written by go generate ./internal/errcode from the Go
// catalogue). The names are the web SDK's public CODES, which both SDKs
// share: VENDOR_KEY … CONNECT_FAILED.

import { CODE } from './errors.js';

/**
 * Codes raised or checked by the SDKs.
 * @type {Readonly<{VENDOR_KEY: number, BAD_REQUEST: number, BAD_ROLE: number, NOT_PUBLISHING: number,
 *   REFUSED: number, INTERNAL: number, SERVICE_LOST: number, AP_FAILED: number, TIMEOUT: number,
 *   DISCONNECTED: number, CONNECT_FAILED: number}>}
 */
export var CODES = Object.freeze({
  VENDOR_KEY: CODE.VENDOR_KEY,
  BAD_REQUEST: CODE.BAD_REQUEST,
  BAD_ROLE: CODE.BAD_ROLE,
  NOT_PUBLISHING: CODE.NOT_PUBLISHING,
  REFUSED: CODE.REFUSED,
  INTERNAL: CODE.INTERNAL,
  SERVICE_LOST: CODE.SERVICE_LOST,
  AP_FAILED: CODE.ALLOCATION_FAILED,
  TIMEOUT: CODE.REQUEST_TIMEOUT,
  DISCONNECTED: CODE.SOCKET_LOST,
  CONNECT_FAILED: CODE.CONNECT_FAILED
});
