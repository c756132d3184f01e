'use strict';
// Session: one allocation request and one gateway WebSocket, from join to
// close (docs/protocol.md sections 2 and 3). A Client owns at most one
// open Session; automatic recovery replaces it with a new one.
//
// Lifecycle: new -> start() (AP, connect, join) -> joined -> closed. Every
// callback (onPush, onServerError, onClosed) fires only while this Session is
// the one that is open; after close() nothing fires.

var util = require('./util');
var platform = require('./platform');
var log = require('./log').logger;
var SDK_VERSION = require('./version');

var PROTOCOL_VERSION = '1.1.0';
// Liveness (autoRejoin only): at least this many pings without any frame in
// between before a connection counts as dead.
var MIN_UNANSWERED_PINGS = 3;

function Session(params) {
  // params: api, apUrl, servers, appId, channel, uid (string), uidType, key,
  // role, audioOnly, knownSpeakers (rejoin), audioCodec, clientType, timing, random,
  // handlers {onPush, onServerError, onClosed}
  this.p = params;
  this.sid = util.newSid(params.random);
  this.seq = 1; // the first request (join) has seq 2
  this.requestId = 2; // … and requestId 3; pings share this counter
  this.pending = {};
  this.task = null;
  this.url = '';
  this.state = 'new'; // new | connecting | open | closed
  this.joined = false;
  this.pingTimer = null;
  this.lastFrameAt = 0;
  this.sawPong = false;
  this.unanswered = 0; // pings sent since the last frame from the server
  this.uid = null; // numeric uid from the join reply
}

Session.prototype.isOpen = function () {
  return this.state === 'open';
};

/** Runs AP, connect and join; resolves the uid (number). */
Session.prototype.start = function () {
  var self = this;
  self.state = 'connecting';
  return self.allocate().then(function (servers) {
    if (self.state === 'closed') throw util.fail(util.CODES.DISCONNECTED, 'websocket disconnected');
    return self.connect(servers);
  }).then(function () {
    var p = self.p;
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
      uidType: p.uidType,
      // minirtc answers with a ticket for LOG.uploadLogs (the official
      // SDK never asks, so its join reply stays {uid})
      logTicket: true
    };
    if (p.knownSpeakers) {
      req.known_speakers = p.knownSpeakers;
    } else {
      var sys = platform.systemInfo(p.api);
      req.vid = String(self.vid);
      req.device = sys.device;
      req.os = sys.os;
      req.version = SDK_VERSION;
    }
    return self.request(req);
  }).then(function (res) {
    var uid = res && res.uid !== undefined && res.uid !== null ? Number(res.uid) : Number(self.p.uid);
    self.uid = isFinite(uid) ? uid : null;
    if (res && typeof res.logTicket === 'string') self.logTicket = res.logTicket;
    self.joined = true;
    log.info('joined', self.p.channel, 'as', self.uid, 'sid', self.sid, 'via', self.url);
    return self.uid;
  }, function (err) {
    self.close();
    throw err;
  });
};

/** POSTs to the allocation endpoint; resolves the list of gateway URLs. */
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
  var headers = { 'X-Packet-URI': '61', 'X-Packet-Service-Type': '0' };
  log.debug('allocate', p.apUrl);
  return platform.postJSON(p.api, p.apUrl, { service_name: 'miniapp', json_body: JSON.stringify(body) }, headers, p.timing.requestTimeout)
    .then(function (res) {
      if (res.statusCode !== 200) {
        throw util.fail(util.CODES.AP_FAILED, 'allocation failed: HTTP ' + res.statusCode + ' from ' + p.apUrl);
      }
      var data = res.data;
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
        throw util.fail(util.CODES.AP_FAILED, 'allocation failed: malformed answer from ' + p.apUrl);
      }
      self.vid = inner.vid;
      if (p.servers && p.servers.length) return p.servers.slice();
      var def = util.defaultServer(p.apUrl);
      if (!def) throw util.fail(util.CODES.AP_FAILED, 'allocation failed: no gateway URL (set the servers option)');
      return [def];
    }, function (err) {
      throw util.fail(util.CODES.AP_FAILED, 'allocation failed: ' + (err && err.errMsg) + ' (' + p.apUrl + ')');
    });
};

/** Opens the first server that answers within connectTimeout. */
Session.prototype.connect = function (servers) {
  var self = this;
  var i = 0;
  function next() {
    if (self.state === 'closed') return Promise.reject(util.fail(util.CODES.DISCONNECTED, 'websocket disconnected'));
    if (i >= servers.length) {
      return Promise.reject(util.fail(util.CODES.CONNECT_FAILED, 'connect websocket failed', { wsurl: JSON.stringify(servers) }));
    }
    var url = servers[i++];
    return self.open(url).catch(function (err) {
      log.warn('websocket', url, 'failed:', err && err.errMsg);
      return next();
    });
  }
  return next();
};

Session.prototype.open = function (url) {
  var self = this;
  var api = self.p.api;
  return new Promise(function (resolve, reject) {
    var done = false;
    var task;
    var timer = setTimeout(function () {
      if (done) return;
      done = true;
      try { task.close({ code: 1000, reason: 'close' }); } catch (e) { /* ignore */ }
      reject({ errMsg: 'connect timeout' });
    }, self.p.timing.connectTimeout);
    log.debug('connect', url);
    task = api.connectSocket({ url: url, fail: function (err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject({ errMsg: (err && err.errMsg) || 'connectSocket:fail' });
    } });
    task.onOpen(function () {
      if (done) {
        try { task.close({ code: 1000, reason: 'close' }); } catch (e) { /* ignore */ }
        return;
      }
      done = true;
      clearTimeout(timer);
      if (self.state === 'closed') {
        try { task.close({ code: 1000, reason: 'close' }); } catch (e) { /* ignore */ }
        reject({ errMsg: 'closed' });
        return;
      }
      self.task = task;
      self.url = url;
      self.state = 'open';
      self.lastFrameAt = Date.now();
      self.startPings();
      resolve();
    });
    task.onMessage(function (res) {
      if (self.task === task && self.state === 'open') self.onFrame(res && res.data);
    });
    task.onError(function (err) {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject({ errMsg: (err && err.errMsg) || 'socket error' });
        return;
      }
      if (self.task === task && self.state === 'open') {
        log.warn('websocket error', err && err.errMsg);
        self.lost(1006, (err && err.errMsg) || 'socket error');
      }
    });
    task.onClose(function (res) {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject({ errMsg: 'closed before open (' + (res && res.code) + ')' });
        return;
      }
      if (self.task !== task || self.state !== 'open') return;
      var reason = res && res.reason;
      if (reason === 'close') {
        // a server's terminal close: it has pushed its explanation first (3.6)
        log.info('server closed the connection');
        self.shutdown(new Error('Disconnected from server'));
        self.p.handlers.onClosed({ abnormal: false, code: res && res.code, reason: reason });
      } else {
        self.lost(res && res.code, reason);
      }
    });
  });
};

/** The socket died: reject pending requests with 904 and report it. */
Session.prototype.lost = function (code, reason) {
  log.warn('websocket lost', code, reason || '');
  this.shutdown(util.fail(util.CODES.DISCONNECTED, 'websocket disconnected'));
  try { this.task.close({ code: 1000, reason: 'close' }); } catch (e) { /* ignore */ }
  this.p.handlers.onClosed({ abnormal: true, code: code, reason: reason });
};

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
  var task = this.task;
  this.shutdown(new Error('Disconnected from server'));
  if (task) {
    try { task.close({ code: 1000, reason: 'close' }); } catch (e) { /* ignore */ }
  }
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

Session.prototype.sendFrame = function (obj) {
  var text = JSON.stringify(obj);
  this.task.send({ data: text, fail: function (err) { log.warn('send failed', err && err.errMsg); } });
  return text;
};

Session.prototype.startPings = function () {
  var self = this;
  var t = self.p.timing;
  self.pingTimer = setInterval(function () {
    if (self.state !== 'open') return;
    // Dead only after several unanswered pings AND pongTimeout of silence: a
    // mini program frozen in the background resumes with a stale lastFrameAt,
    // and the first ping after it gets its pong at once.
    if (t.pongTimeout > 0 && self.sawPong && self.unanswered >= MIN_UNANSWERED_PINGS && Date.now() - self.lastFrameAt > t.pongTimeout) {
      self.lost(1006, 'no answer from the server for ' + t.pongTimeout + ' ms');
      return;
    }
    var ping = self.envelope();
    ping.command = 'ping';
    ping.requestId = ++self.requestId;
    self.unanswered++;
    log.blind('ping', ping.requestId);
    self.sendFrame(ping);
  }, t.pingInterval);
};

/** Sends one request; resolves serverResponse or rejects {code, reason, …}. */
Session.prototype.request = function (clientRequest) {
  var self = this;
  if (self.state !== 'open') return Promise.reject(new Error('Disconnected from server'));
  return new Promise(function (resolve, reject) {
    var env = self.envelope();
    env.sdkVersion = PROTOCOL_VERSION;
    env.seq = ++self.seq;
    env.requestId = ++self.requestId;
    env.clientRequest = clientRequest;
    var id = env.requestId;
    var entry = { resolve: resolve, reject: reject, action: clientRequest.action };
    entry.timer = setTimeout(function () {
      if (self.pending[id] !== entry) return;
      delete self.pending[id];
      log.warn('request', clientRequest.action, id, 'timed out');
      reject(util.fail(util.CODES.TIMEOUT, 'time out'));
    }, self.p.timing.requestTimeout);
    self.pending[id] = entry;
    var text = self.sendFrame(env);
    log.debug('>>', text.length > 600 ? text.slice(0, 600) + '…' : text);
  });
};

Session.prototype.onFrame = function (data) {
  this.lastFrameAt = Date.now();
  this.unanswered = 0;
  var msg;
  try {
    msg = JSON.parse(data);
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
  log.debug('<<', typeof data === 'string' && data.length > 600 ? data.slice(0, 600) + '…' : data);
  var id = msg.requestId;
  if (typeof id === 'number' && this.pending[id]) {
    var entry = this.pending[id];
    delete this.pending[id];
    clearTimeout(entry.timer);
    // eslint-disable-next-line eqeqeq
    if (msg.code == 200) {
      entry.resolve(msg.serverResponse);
    } else {
      entry.reject({
        code: msg.code,
        reason: msg.msg || msg.reason,
        serverResponse: msg.serverResponse,
        wsurl: this.url
      });
    }
    return;
  }
  if (msg.command !== 'serverStatus') return;
  // eslint-disable-next-line eqeqeq
  if (msg.code !== undefined && msg.code !== null && msg.code != 200) {
    // eslint-disable-next-line eqeqeq
    if (msg.code == 503) return;
    this.p.handlers.onServerError({ code: msg.code, reason: msg.reason || 'server error' });
    if (this.state !== 'open') return;
  }
  if (msg.serverStatus && typeof msg.serverStatus === 'object') {
    this.p.handlers.onPush(msg.serverStatus);
  }
};

module.exports = Session;
