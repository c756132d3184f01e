// Session: one allocation request and one gateway WebSocket, from join to
// close (docs/protocol.md sections 2 and 3), the same protocol as the
// mini program SDK's session (sdk/miniapp/src/session.js) over the browser's
// fetch and WebSocket.
//
// Lifecycle: new -> start() (allocate, connect, join) -> joined -> closed.
// The handlers (onPush, onServerError, onClosed) fire only while the session
// is open; after close() nothing fires.

import { CODES, fail, MiniRTCError } from './errors.js';
import { newSid } from './validate.js';
import { SDK_VERSION } from './version.js';
import { log } from './log.js';

const PROTOCOL_VERSION = '1.1.0';

export class Session {
  /**
   * @param {object} p appId, channel, uid (string), key, role, apUrl,
   *   servers (ws URLs), runtime {fetch, WebSocket}, timing {connectTimeout,
   *   requestTimeout, pingInterval}, random, device, os,
   *   handlers {onPush, onServerError, onClosed}
   */
  constructor(p) {
    this.p = p;
    this.sid = newSid(p.random);
    this.seq = 1; // the first request (join) has seq 2 …
    this.requestId = 2; // … and requestId 3; pings share this counter
    this.pending = new Map();
    this.ws = null;
    this.url = '';
    this.state = 'new'; // new | connecting | open | closed
    this.joined = false;
    this.pingTimer = null;
    this.vid = null;
    this.uid = null;
  }

  isOpen() {
    return this.state === 'open';
  }

  /** Allocates, connects and joins; resolves the uid (number). */
  async start() {
    this.state = 'connecting';
    try {
      const servers = await this.allocate();
      if (this.state === 'closed') throw fail(CODES.DISCONNECTED, 'websocket disconnected');
      await this.connect(servers);
      const p = this.p;
      const res = await this.request({
        action: 'join',
        role: p.role,
        appId: p.appId,
        customAudioCodec: null,
        key_vocs: p.key,
        key_vos: p.key,
        channel_name: p.channel,
        uid: p.uid,
        vid: String(this.vid),
        device: p.device || '',
        os: p.os || '',
        version: SDK_VERSION,
        clientType: 'web',
        audio_only: false,
        uidType: 0
      });
      const uid = res && res.uid !== undefined && res.uid !== null ? Number(res.uid) : Number(p.uid);
      this.uid = Number.isFinite(uid) ? uid : null;
      this.joined = true;
      log.info('joined', p.channel, 'as', this.uid, 'sid', this.sid, 'via', this.url);
      return this.uid;
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** POSTs to the allocation endpoint; resolves the gateway URLs to try. */
  async allocate() {
    const p = this.p;
    const body = {
      command: 'convergeAllocateEdge',
      sid: this.sid,
      appId: p.appId,
      token: p.appId,
      uid: p.uid,
      cname: p.channel,
      ts: Math.floor(Date.now() / 1000),
      version: PROTOCOL_VERSION,
      seq: 0,
      requestId: 1
    };
    let res;
    let text;
    const ctl = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = setTimeout(() => { if (ctl) ctl.abort(); }, p.timing.requestTimeout);
    try {
      res = await p.runtime.fetch(p.apUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ service_name: 'miniapp', json_body: JSON.stringify(body) }),
        signal: ctl ? ctl.signal : undefined
      });
      text = await res.text();
    } catch (e) {
      throw fail(CODES.AP_FAILED, 'allocation failed: ' + (e && e.message ? e.message : String(e)) + ' (' + p.apUrl + ')');
    } finally {
      clearTimeout(timer);
    }
    if (res.status !== 200) {
      throw fail(CODES.AP_FAILED, 'allocation failed: HTTP ' + res.status + ' from ' + p.apUrl);
    }
    let inner = null;
    try {
      const data = JSON.parse(text);
      inner = data && typeof data.json_body === 'string' ? JSON.parse(data.json_body) : null;
    } catch (e) {
      inner = null;
    }
    if (!inner || inner.vid === undefined || inner.vid === null) {
      throw fail(CODES.AP_FAILED, 'allocation failed: malformed answer from ' + p.apUrl);
    }
    this.vid = inner.vid;
    return p.servers.slice();
  }

  /** Opens the first server that answers within connectTimeout (905 otherwise). */
  async connect(servers) {
    for (const url of servers) {
      if (this.state === 'closed') throw fail(CODES.DISCONNECTED, 'websocket disconnected');
      try {
        await this.open(url);
        return;
      } catch (e) {
        log.warn('websocket', url, 'failed:', e && e.message);
      }
    }
    throw fail(CODES.CONNECT_FAILED, 'connect websocket failed', { wsurl: JSON.stringify(servers) });
  }

  open(url) {
    return new Promise((resolve, reject) => {
      let done = false;
      let ws;
      const finish = (err) => {
        if (done) return false;
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
        return true;
      };
      const timer = setTimeout(() => {
        if (finish(new Error('connect timeout'))) {
          try { ws.close(1000, 'close'); } catch (e) { /* ignore */ }
        }
      }, this.p.timing.connectTimeout);
      try {
        ws = new this.p.runtime.WebSocket(url);
      } catch (e) {
        finish(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      ws.onopen = () => {
        if (done || this.state === 'closed') {
          try { ws.close(1000, 'close'); } catch (e) { /* ignore */ }
          finish(new Error('closed'));
          return;
        }
        this.ws = ws;
        this.url = url;
        this.state = 'open';
        this.startPings();
        finish(null);
      };
      ws.onmessage = (ev) => {
        if (this.ws === ws && this.state === 'open') this.onFrame(ev.data);
      };
      ws.onerror = () => {
        finish(new Error('socket error'));
      };
      ws.onclose = (ev) => {
        if (finish(new Error('closed before open (' + (ev && ev.code) + ')'))) return;
        if (this.ws !== ws || this.state !== 'open') return;
        const reason = ev && ev.reason;
        if (reason === 'close') {
          // a terminal close by the server: it pushed its explanation first (3.6)
          log.info('server closed the connection');
          this.shutdown(fail(CODES.DISCONNECTED, 'websocket disconnected: closed by the server'));
          this.p.handlers.onClosed({ abnormal: false, code: ev.code, reason });
        } else {
          log.warn('websocket lost', ev && ev.code, reason || '');
          this.shutdown(fail(CODES.DISCONNECTED, 'websocket disconnected'));
          this.p.handlers.onClosed({ abnormal: true, code: ev && ev.code, reason });
        }
      };
    });
  }

  shutdown(err) {
    this.state = 'closed';
    this.joined = false;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    const pending = this.pending;
    this.pending = new Map();
    for (const entry of pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
  }

  /** Closes the socket with reason "close". Idempotent. */
  close() {
    if (this.state === 'closed') return;
    const ws = this.ws;
    this.shutdown(fail(CODES.DISCONNECTED, 'websocket disconnected: the client closed it'));
    if (ws) {
      try { ws.close(1000, 'close'); } catch (e) { /* ignore */ }
    }
  }

  envelope() {
    return { appId: this.p.appId, cname: this.p.channel, uid: this.p.uid, sid: this.sid, ts: Math.floor(Date.now() / 1000) };
  }

  startPings() {
    this.pingTimer = setInterval(() => {
      if (this.state !== 'open') return;
      const ping = this.envelope();
      ping.command = 'ping';
      ping.requestId = ++this.requestId;
      log.blind('ping', ping.requestId);
      this.send(ping);
    }, this.p.timing.pingInterval);
  }

  send(obj) {
    const text = JSON.stringify(obj);
    try {
      this.ws.send(text);
    } catch (e) {
      log.warn('send failed', e && e.message);
    }
    return text;
  }

  /** Sends one request; resolves serverResponse or rejects a MiniRTCError. */
  request(clientRequest) {
    if (this.state !== 'open') return Promise.reject(fail(CODES.DISCONNECTED, 'websocket disconnected'));
    return new Promise((resolve, reject) => {
      const env = this.envelope();
      env.sdkVersion = PROTOCOL_VERSION;
      env.seq = ++this.seq;
      env.requestId = ++this.requestId;
      env.clientRequest = clientRequest;
      const id = env.requestId;
      const entry = { resolve, reject };
      entry.timer = setTimeout(() => {
        if (this.pending.get(id) !== entry) return;
        this.pending.delete(id);
        log.warn('request', clientRequest.action, id, 'timed out');
        reject(fail(CODES.TIMEOUT, 'time out'));
      }, this.p.timing.requestTimeout);
      this.pending.set(id, entry);
      log.debug('>>', this.send(env));
    });
  }

  onFrame(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      log.warn('dropped a frame that is not JSON');
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    if (msg.command === 'pong') return;
    log.debug('<<', data);
    const id = msg.requestId;
    if (typeof id === 'number' && this.pending.has(id)) {
      const entry = this.pending.get(id);
      this.pending.delete(id);
      clearTimeout(entry.timer);
      // eslint-disable-next-line eqeqeq
      if (msg.code == 200) {
        entry.resolve(msg.serverResponse);
      } else {
        const code = Number(msg.code);
        entry.reject(new MiniRTCError(Number.isFinite(code) ? code : CODES.INTERNAL,
          String(msg.msg || msg.reason || 'server error'), { serverResponse: msg.serverResponse, wsurl: this.url }));
      }
      return;
    }
    if (msg.command !== 'serverStatus') return;
    // eslint-disable-next-line eqeqeq
    if (msg.code !== undefined && msg.code !== null && msg.code != 200) {
      // eslint-disable-next-line eqeqeq
      if (msg.code == 503) return;
      this.p.handlers.onServerError({ code: Number(msg.code), reason: String(msg.reason || 'server error') });
      if (this.state !== 'open') return;
    }
    if (msg.serverStatus && typeof msg.serverStatus === 'object') {
      this.p.handlers.onPush(msg.serverStatus);
    }
  }
}
