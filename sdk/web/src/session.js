// The gateway session in a browser: the protocol core shared with the mini
// program SDK (sdk/core/session.js: allocation, WebSocket, join, requests,
// pushes) over fetch and WebSocket, with every failure a MiniRTCError.
//
// Lifecycle: new -> start() (allocate, connect, join) -> joined -> closed.
// The handlers (onPush, onServerError, onClosed) fire only while the session
// is open; after close() nothing fires.

import { Session as CoreSession } from '../../core/session.js';
import { CODES, fail, MiniRTCError } from './errors.js';
import { SDK_VERSION } from './version.js';
import { log } from './log.js';

const ERRORS = {
  fail,
  server(code, reason, extra) {
    const n = Number(code);
    return new MiniRTCError(Number.isFinite(n) ? n : CODES.INTERNAL, String(reason || 'server error'), extra);
  },
  disconnected(why) {
    if (why === 'server') return fail(CODES.DISCONNECTED, 'websocket disconnected: closed by the server');
    if (why === 'client') return fail(CODES.DISCONNECTED, 'websocket disconnected: the client closed it');
    return fail(CODES.DISCONNECTED, 'websocket disconnected');
  }
};

/** The core's transport over the runtime's fetch and WebSocket. */
function transport(runtime) {
  return {
    async post(url, body, timeoutMs) {
      const ctl = typeof AbortController === 'function' ? new AbortController() : null;
      const timer = setTimeout(() => { if (ctl) ctl.abort(); }, timeoutMs);
      try {
        const res = await runtime.fetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
          signal: ctl ? ctl.signal : undefined
        });
        return { status: res.status, body: await res.text() };
      } finally {
        clearTimeout(timer);
      }
    },
    connect(url, ev) {
      const ws = new runtime.WebSocket(url);
      ws.onopen = () => ev.onOpen();
      ws.onmessage = (e) => ev.onMessage(e.data);
      ws.onerror = () => ev.onError('socket error');
      ws.onclose = (e) => ev.onClose(e && e.code, e && e.reason);
      return {
        send(text) {
          try {
            ws.send(text);
          } catch (e) {
            log.warn('send failed', e && e.message);
          }
        },
        close() {
          try { ws.close(1000, 'close'); } catch (e) { /* ignore */ }
        }
      };
    }
  };
}

/**
 * A new session.
 * @param {object} p appId, channel, uid (string), key, role, apUrl,
 *   servers (ws URLs), runtime {fetch, WebSocket}, timing {connectTimeout,
 *   requestTimeout, pingInterval}, random, device, os,
 *   handlers {onPush, onServerError, onClosed}
 */
export function createSession(p) {
  return new CoreSession({
    transport: transport(p.runtime),
    errors: ERRORS,
    apUrl: p.apUrl,
    servers: p.servers,
    appId: p.appId,
    channel: p.channel,
    uid: p.uid,
    uidType: 0,
    key: p.key,
    role: p.role,
    audioOnly: false,
    knownSpeakers: null,
    audioCodec: null,
    clientType: 'web',
    version: SDK_VERSION,
    device: p.device || '',
    os: p.os || '',
    logTicket: false,
    timing: {
      connectTimeout: p.timing.connectTimeout,
      requestTimeout: p.timing.requestTimeout,
      pingInterval: p.timing.pingInterval,
      pongTimeout: 0
    },
    random: p.random,
    handlers: p.handlers
  });
}
