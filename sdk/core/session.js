// Session: one allocation request and one gateway WebSocket, from join to
// close (docs/protocol.md sections 2 and 3), for both SDKs. The platform
// (wx.request/wx.connectSocket in a mini program, fetch/WebSocket in a
// browser) comes in as a Transport; the shape of the errors (the mini
// program SDK's plain {code, reason} objects, the web SDK's MiniRTCError)
// comes in as an ErrorFactory. A Client owns at most one open Session;
// recovery replaces it with a new one.
//
// Lifecycle: new -> start() (allocate, connect, join) -> joined -> closed.
// Every handler (onPush, onServerError, onClosed) fires only while this
// Session is open; after close() nothing fires.

import { CODES } from './codes.js';
import { CODE } from './errors.js';
import { defaultServer, newSid, errText } from './util.js';
import { log } from './log.js';

/** The protocol version sent in the allocation and every request. */
export var PROTOCOL_VERSION = '1.1.0';
// Liveness (pongTimeout > 0 only): at least this many pings without any
// frame in between before a connection counts as dead.
var MIN_UNANSWERED_PINGS = 3;
// Frames longer than this are cut in the debug log.
var LOG_FRAME_CHARS = 600;

/**
 * @typedef {object} SocketEvents
 * @property {() => void} onOpen
 * @property {(data: unknown) => void} onMessage
 * @property {(message: string) => void} onError a failure to connect, or an error of the open socket
 * @property {(code: number | undefined, reason: string | undefined) => void} onClose
 */

/**
 * @typedef {object} Socket
 * @property {(text: string) => void} send sends one text frame (failures are logged, not thrown)
 * @property {() => void} close closes with code 1000, reason "close"; never throws
 */

/**
 * @typedef {object} Transport
 * @property {(url: string, body: object, timeoutMs: number) => Promise<{status: number, body: unknown}>} post
 *   POSTs body as JSON; resolves for any HTTP answer (body: parsed JSON or
 *   the text), rejects {message} on a network failure or timeout.
 * @property {(url: string, events: SocketEvents) => Socket} connect
 *   opens a WebSocket; events fire asynchronously. May throw for a bad URL.
 */

/**
 * @typedef {object} ErrorFactory
 * @property {(code: number, reason: string, extra?: object) => any} fail an error raised by the SDK
 * @property {(code: unknown, reason: unknown, extra?: object) => any} server a server's refusal (reply or push)
 * @property {(why: 'server' | 'client' | 'closed') => any} disconnected
 *   the rejection of requests on a socket that was closed by the server
 *   (terminal close), by the client (close()), or that is not open
 */

/**
 * @typedef {object} SessionParams
 * @property {Transport} transport
 * @property {ErrorFactory} errors
 * @property {string} apUrl
 * @property {string[] | null} servers gateway URLs (default: next to apUrl)
 * @property {string} appId
 * @property {string} channel
 * @property {string} uid the uid as sent in join (decimal, or an account)
 * @property {number} uidType
 * @property {string} key
 * @property {string} role
 * @property {boolean} audioOnly
 * @property {string[] | null} knownSpeakers set on a rejoin
 * @property {unknown} audioCodec
 * @property {string} clientType
 * @property {string} version the SDK version
 * @property {string} device
 * @property {string} os
 * @property {boolean} logTicket ask for a log upload ticket in the join reply
 * @property {{connectTimeout: number, requestTimeout: number, pingInterval: number, pongTimeout: number}} timing
 * @property {() => number} random
 * @property {{onPush: (status: any) => void, onServerError: (e: any) => void,
 *   onClosed: (info: {abnormal: boolean, code: number | undefined, reason: string | undefined}) => void}} handlers
 */

/**
 * @constructor
 * @param {SessionParams} params
 */
export function Session(params) {
  this.p = params;
  this.sid = newSid(params.random);
  this.seq = 1; // the first request (join) has seq 2 …
  this.requestId = 2; // … and requestId 3; pings share this counter
  /** @type {Record<number, {resolve: Function, reject: Function, timer: any}>} */
  this.pending = {};
  /** @type {Socket | null} */
  this.sock = null;
  this.url = '';
  this.state = 'new'; // new | connecting | open | closed
  this.joined = false;
  /** @type {any} */
  this.pingTimer = null;
  this.lastFrameAt = 0;
  this.sawPong = false;
  this.unanswered = 0; // pings sent since the last frame from the server
  /** @type {unknown} */
  this.vid = null;
  /** @type {number | null} */
  this.uid = null; // numeric uid from the join reply
  /** @type {string | null} */
  this.logTicket = null;
}

Session.prototype.isOpen = function () {
  return this.state === 'open';
};

/**
 * Allocates, connects and joins; resolves the uid (number).
 * @returns {Promise<number | null>}
 */
Session.prototype.start = function () {
  var self = this;
  var p = self.p;
  self.state = 'connecting';
  return self.allocate().then((servers) => {
    if (self.state === 'closed') throw p.errors.fail(CODES.DISCONNECTED, 'websocket disconnected');
    return self.connect(servers);
  }).then(() => self.request(self.joinRequest())).then((res) => {
    var uid = res && res.uid !== undefined && res.uid !== null ? Number(res.uid) : Number(p.uid);
    self.uid = isFinite(uid) ? uid : null;
    if (res && typeof res.logTicket === 'string') self.logTicket = res.logTicket;
    self.joined = true;
    log.info('joined', p.channel, 'as', self.uid, 'sid', self.sid, 'via', self.url);
    return self.uid;
  }, (err) => {
    self.close();
    throw err;
  });
};

/**
 * The join clientRequest (docs/protocol.md 3.2).
 * @returns {{action: string} & Record<string, unknown>}
 */
Session.prototype.joinRequest = function () {
  var p = this.p;
  /** @type {{action: string} & Record<string, unknown>} */
  var req = {
    action: 'join',
    role: p.role,
    appId: p.appId,
    customAudioCodec: p.audioCodec === undefined ? null : p.audioCodec,
    key_vocs: p.key,
    key_vos: p.key,
    channel_name: p.channel,
    uid: p.uid,
    clientType: p.clientType,
    audio_only: p.audioOnly,
    uidType: p.uidType
  };
  // minirtc answers with a ticket for LOG.uploadLogs (the official SDK
  // never asks, so its join reply stays {uid})
  if (p.logTicket) req.logTicket = true;
  if (p.knownSpeakers) {
    req.known_speakers = p.knownSpeakers;
  } else {
    req.vid = String(this.vid);
    req.device = p.device || '';
    req.os = p.os || '';
    req.version = p.version;
  }
  return req;
};

/**
 * POSTs to the allocation endpoint; resolves the gateway URLs to try.
 * @returns {Promise<string[]>}
 */
Session.prototype.allocate = function () {
  var self = this;
  var p = self.p;
  var body = {
    command: 'convergeAllocateEdge',
    sid: self.sid,
    appId: p.appId,
    token: p.appId,
    uid: p.uid,
    cname: p.channel,
    ts: Math.floor(Date.now() / 1000),
    version: PROTOCOL_VERSION,
    seq: 0,
    requestId: 1
  };
  log.debug('allocate', p.apUrl);
  return p.transport.post(p.apUrl, { service_name: 'miniapp', json_body: JSON.stringify(body) }, p.timing.requestTimeout)
    .then((res) => {
      if (res.status !== 200) {
        throw p.errors.fail(CODES.AP_FAILED, 'allocation failed: HTTP ' + res.status + ' from ' + p.apUrl);
      }
      /** @type {any} */
      var data = res.body;
      if (typeof data === 'string') {
        try { data = JSON.parse(data); } catch (e) { data = null; }
      }
      var inner = null;
      try {
        inner = data && typeof data.json_body === 'string' ? JSON.parse(data.json_body) : null;
      } catch (e) {
        inner = null;
      }
      if (!inner || inner.vid === undefined || inner.vid === null) {
        throw p.errors.fail(CODES.AP_FAILED, 'allocation failed: malformed answer from ' + p.apUrl);
      }
      self.vid = inner.vid;
      if (p.servers && p.servers.length) return p.servers.slice();
      var def = defaultServer(p.apUrl);
      if (!def) throw p.errors.fail(CODES.AP_FAILED, 'allocation failed: no gateway URL (set the servers option)');
      return [def];
    }, (err) => {
      throw p.errors.fail(CODES.AP_FAILED, 'allocation failed: ' + errText(err) + ' (' + p.apUrl + ')');
    });
};

/**
 * Opens the first server that answers within connectTimeout (905 otherwise).
 * @param {string[]} servers
 * @returns {Promise<void>}
 */
Session.prototype.connect = function (servers) {
  var self = this;
  var i = 0;
  /** @returns {Promise<void>} */
  function next() {
    if (self.state === 'closed') return Promise.reject(self.p.errors.fail(CODES.DISCONNECTED, 'websocket disconnected'));
    if (i >= servers.length) {
      return Promise.reject(self.p.errors.fail(CODES.CONNECT_FAILED, 'connect websocket failed', { wsurl: JSON.stringify(servers) }));
    }
    var url = servers[i++];
    return self.open(url).catch((err) => {
      log.warn('websocket', url, 'failed:', errText(err));
      return next();
    });
  }
  return next();
};

/**
 * Opens one gateway URL; resolves when it is open (the Session is then open).
 * @param {string} url
 * @returns {Promise<void>}
 */
Session.prototype.open = function (url) {
  var self = this;
  var p = self.p;
  return new Promise((resolve, reject) => {
    var done = false;
    /** @type {Socket | null} */
    var sock = null;
    /** @param {Error | null} err */
    function finish(err) {
      if (done) return false;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
      return true;
    }
    var timer = setTimeout(() => {
      if (finish(new Error('connect timeout')) && sock) sock.close();
    }, p.timing.connectTimeout);
    log.debug('connect', url);
    try {
      sock = p.transport.connect(url, {
        onOpen: function () {
          if (done || self.state === 'closed') {
            if (sock) sock.close();
            finish(new Error('closed'));
            return;
          }
          self.sock = sock;
          self.url = url;
          self.state = 'open';
          self.lastFrameAt = Date.now();
          self.startPings();
          finish(null);
        },
        onMessage: function (data) {
          if (self.sock === sock && self.state === 'open') self.onFrame(data);
        },
        onError: function (message) {
          if (finish(new Error(message || 'socket error'))) return;
          if (self.sock === sock && self.state === 'open') {
            log.warn('websocket error', message);
            self.lost(1006, message || 'socket error');
          }
        },
        onClose: function (code, reason) {
          if (finish(new Error('closed before open (' + code + ')'))) return;
          if (self.sock !== sock || self.state !== 'open') return;
          if (reason === 'close') {
            // a server's terminal close: it has pushed its explanation first (3.6)
            log.info('server closed the connection');
            self.shutdown(p.errors.disconnected('server'));
            p.handlers.onClosed({ abnormal: false, code: code, reason: reason });
          } else {
            self.lost(code, reason);
          }
        }
      });
    } catch (e) {
      finish(e instanceof Error ? e : new Error(String(e)));
    }
  });
};

/**
 * The socket died: rejects pending requests with 904 and reports it.
 * @param {number | undefined} code
 * @param {string | undefined} reason
 */
Session.prototype.lost = function (code, reason) {
  log.warn('websocket lost', code, reason || '');
  var sock = this.sock;
  this.shutdown(this.p.errors.fail(CODES.DISCONNECTED, 'websocket disconnected'));
  if (sock) sock.close();
  this.p.handlers.onClosed({ abnormal: true, code: code, reason: reason });
};

/** @param {unknown} err what pending requests reject with */
Session.prototype.shutdown = function (err) {
  this.state = 'closed';
  this.joined = false;
  if (this.pingTimer) clearInterval(this.pingTimer);
  this.pingTimer = null;
  var pending = this.pending;
  this.pending = {};
  for (var id in pending) {
    if (Object.prototype.hasOwnProperty.call(pending, id)) {
      clearTimeout(pending[id].timer);
      pending[id].reject(err);
    }
  }
};

/** Closes the socket (reason "close": not an error). Idempotent. */
Session.prototype.close = function () {
  if (this.state === 'closed') return;
  var sock = this.sock;
  this.shutdown(this.p.errors.disconnected('client'));
  if (sock) sock.close();
};

Session.prototype.envelope = function () {
  return {
    appId: this.p.appId,
    cname: this.p.channel,
    uid: this.p.uid,
    sid: this.sid,
    ts: Math.floor(Date.now() / 1000)
  };
};

/** @param {object} obj */
Session.prototype.sendFrame = function (obj) {
  var text = JSON.stringify(obj);
  if (this.sock) this.sock.send(text);
  return text;
};

Session.prototype.startPings = function () {
  var self = this;
  var t = self.p.timing;
  self.pingTimer = setInterval(() => {
    if (self.state !== 'open') return;
    // Dead only after several unanswered pings AND pongTimeout of silence: a
    // mini program frozen in the background resumes with a stale lastFrameAt,
    // and the first ping after it gets its pong at once.
    if (t.pongTimeout > 0 && self.sawPong && self.unanswered >= MIN_UNANSWERED_PINGS && Date.now() - self.lastFrameAt > t.pongTimeout) {
      self.lost(1006, 'no answer from the server for ' + t.pongTimeout + ' ms');
      return;
    }
    /** @type {Record<string, unknown>} */
    var ping = self.envelope();
    ping.command = 'ping';
    ping.requestId = ++self.requestId;
    self.unanswered++;
    log.blind('ping', ping.requestId);
    self.sendFrame(ping);
  }, t.pingInterval);
};

/**
 * Sends one request; resolves the serverResponse or rejects the SDK's error.
 * @param {{action: string} & Record<string, unknown>} clientRequest
 * @returns {Promise<any>}
 */
Session.prototype.request = function (clientRequest) {
  var self = this;
  if (self.state !== 'open') return Promise.reject(self.p.errors.disconnected('closed'));
  return new Promise((resolve, reject) => {
    /** @type {Record<string, unknown>} */
    var env = self.envelope();
    env.sdkVersion = PROTOCOL_VERSION;
    env.seq = ++self.seq;
    env.requestId = ++self.requestId;
    env.clientRequest = clientRequest;
    var id = /** @type {number} */ (env.requestId);
    var entry = { resolve: resolve, reject: reject, timer: /** @type {any} */ (null) };
    entry.timer = setTimeout(() => {
      if (self.pending[id] !== entry) return;
      delete self.pending[id];
      log.warn('request', clientRequest.action, id, 'timed out');
      reject(self.p.errors.fail(CODES.TIMEOUT, 'time out'));
    }, self.p.timing.requestTimeout);
    self.pending[id] = entry;
    var text = self.sendFrame(env);
    log.debug('>>', text.length > LOG_FRAME_CHARS ? text.slice(0, LOG_FRAME_CHARS) + '…' : text);
  });
};

/** @param {unknown} data one text frame from the gateway */
Session.prototype.onFrame = function (data) {
  this.lastFrameAt = Date.now();
  this.unanswered = 0;
  var msg;
  try {
    msg = JSON.parse(/** @type {string} */ (data));
  } catch (e) {
    log.warn('dropped a frame that is not JSON');
    return;
  }
  if (!msg || typeof msg !== 'object') return;
  if (msg.command === 'pong') {
    this.sawPong = true;
    log.blind('pong');
    return;
  }
  log.debug('<<', typeof data === 'string' && data.length > LOG_FRAME_CHARS ? data.slice(0, LOG_FRAME_CHARS) + '…' : data);
  var id = msg.requestId;
  var errors = this.p.errors;
  if (typeof id === 'number' && this.pending[id]) {
    var entry = this.pending[id];
    delete this.pending[id];
    clearTimeout(entry.timer);
    // eslint-disable-next-line eqeqeq
    if (msg.code == CODE.OK) {
      entry.resolve(msg.serverResponse);
    } else {
      entry.reject(errors.server(msg.code, msg.msg || msg.reason, { serverResponse: msg.serverResponse, wsurl: this.url }));
    }
    return;
  }
  if (msg.command !== 'serverStatus') return;
  // eslint-disable-next-line eqeqeq
  if (msg.code !== undefined && msg.code !== null && msg.code != CODE.OK) {
    // the official SDK ignores 503 (service exited) pushes
    // eslint-disable-next-line eqeqeq
    if (msg.code == CODE.SERVICE_EXITED) return;
    this.p.handlers.onServerError(errors.server(msg.code, msg.reason || 'server error'));
    if (this.state !== 'open') return;
  }
  if (msg.serverStatus && typeof msg.serverStatus === 'object') {
    this.p.handlers.onPush(msg.serverStatus);
  }
};
