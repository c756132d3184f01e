'use strict';
// Client: the public API, compatible with the Agora Miniapp SDK 2.6.4
// Client, plus opt-in automatic recovery (autoRejoin) and reports to minirtc.
//
// State: idle -> (join) joining -> joined -> (leave) idle; destroy() ends
// the Client for good. With autoRejoin a lost connection (904) or a server
// error 500/501/502 starts a recovery: the old socket is closed, the SDK
// rejoins with the same uid after a backoff, publishes and subscribes again
// and emits "reconnecting" / "update-url" / "reconnected". API calls made
// meanwhile wait for the recovery instead of failing.

var util = require('./util');
var platform = require('./platform');
var logging = require('./log');
var Session = require('./session');
var Reporter = require('./reporter');
var SDK_VERSION = require('./version');
// The shared protocol core (sdk/core): events, recovery.
var Emitter = require('../../core/emitter.js').Emitter;
var recovery = require('../../core/recovery.js');
var sequence = require('../../core/util.js').sequence;

var log = logging.logger;

// Codes after which a recovery is attempted (error-codes.md: destroy, new
// client, rejoin): recovery.RECOVERABLE; failures of an attempt worth another
// try: recovery.RETRYABLE.
var RECOVERABLE = recovery.RECOVERABLE;

var DEFAULTS = {
  connectTimeout: 5000, // per gateway URL (as the Agora SDK)
  requestTimeout: 10000, // per request (903 after it)
  pingInterval: 3000, // heartbeat (3.3)
  pongTimeout: 10000, // with autoRejoin: no frame for this long -> treat as 904
  rejoinDelay: 1000, // first recovery attempt after this long
  rejoinMaxDelay: 30000, // backoff cap
  rejoinMaxAttempts: 0, // 0: until it works, a terminal error, leave or destroy
  reportStateDelay: 1000,
  reportNetInterval: 10000
};

function Client(options) {
  var opts = options || {};
  if (typeof opts.apUrl !== 'string' || !/^https?:\/\//i.test(opts.apUrl)) {
    throw new Error('Client: options.apUrl is required, e.g. "https://rtc.example.com/api/v1"');
  }
  if (opts.servers !== undefined && (!Array.isArray(opts.servers) || opts.servers.some(function (s) { return typeof s !== 'string' || !s; }))) {
    throw new Error('Client: options.servers must be an array of ws:// or wss:// URLs');
  }
  var p = platform.resolve(opts);
  this._api = p.api;
  this._clientType = p.clientType;
  this._opts = {
    apUrl: opts.apUrl,
    servers: opts.servers ? opts.servers.slice() : null,
    autoRejoin: opts.autoRejoin === true,
    flv: typeof opts.flv === 'boolean' ? opts.flv : undefined
  };
  var timing = {};
  for (var k in DEFAULTS) {
    if (Object.prototype.hasOwnProperty.call(DEFAULTS, k)) {
      var v = opts[k];
      timing[k] = typeof v === 'number' && v >= 0 ? v : DEFAULTS[k];
    }
  }
  this._timing = timing;
  this._random = typeof opts.random === 'function' ? opts.random : Math.random;
  this._events = new Emitter(log);
  this._appId = null;
  this._role = 'audience';
  this._session = null;
  this._joining = null; // promise of the join in flight
  this._joinParams = null;
  this._uid = null;
  this._logTicket = null; // from the last join reply, for LOG.uploadLogs
  this._destroyed = false;
  this._audioCodec = null;
  this._resetMedia();
  this._recovering = null;
  this._recoverSuppress = null;
  this._stopRecovery = false;
  var self = this;
  this._reporter = new Reporter(function (payload) {
    if (!self._session || !self._session.joined) return Promise.reject(new Error('Disconnected from server'));
    return self._session.request(payload);
  }, { stateDelay: timing.reportStateDelay, netInterval: timing.reportNetInterval });
  logging.logger.setUploader(function (lines) { return self._uploadLogs(lines); });
  log.info('minirtc miniapp SDK', SDK_VERSION, 'client created for', opts.apUrl);
}

Client.prototype._resetMedia = function () {
  this._publishing = false;
  this._pushUrl = null;
  this._subs = {}; // uid -> {options, url, rotation}
  this._known = {}; // uids announced by stream-added and not removed since
  this._localMute = { audio: false, video: false };
  this._remoteMute = {}; // uid -> {audio: bool, video: bool}
  this._streamType = {}; // uid -> 0|1
};

// ---- events ------------------------------------------------------------

Client.prototype.on = function (event, callback) {
  this._events.on(event, callback);
};

Client.prototype.off = function (event, callback) {
  this._events.off(event, callback);
};

// Listeners of '*' get every event as fn(name, payload), after the event's
// own listeners, as in the Agora SDK.
Client.prototype._emit = function (event, payload) {
  this._events.emit(event, payload);
};

/**
 * Whether the Client has an open connection to the gateway (as the Agora
 * SDK's isConnected: the WebSocket is open, whether or not the join has
 * been answered yet).
 */
Client.prototype.isConnected = function () {
  return !this._destroyed && !!this._session && this._session.isOpen();
};

// ---- helpers -------------------------------------------------------------

function run(fn, onSuccess, onFailure, onSuccessArgs) {
  var p;
  try {
    p = Promise.resolve(fn());
  } catch (e) {
    p = Promise.reject(e);
  }
  p.catch(function (e) { log.debug('call failed:', e && (e.reason || e.message), e && e.code !== undefined ? e.code : ''); });
  return util.settle(p, onSuccess, onFailure, onSuccessArgs);
}

/** Waits for a recovery or join in flight; fails when not joined. */
Client.prototype._ready = function () {
  var self = this;
  if (self._destroyed) return Promise.reject(new Error('Client destroyed'));
  var wait = self._recovering || self._joining;
  return Promise.resolve(wait ? wait.catch(function () {}) : null).then(function () {
    if (self._recovering || self._joining) return self._ready();
    if (!self._session || !self._session.joined) throw new Error('Disconnected from server');
    return self._session;
  });
};

Client.prototype._request = function (clientRequest) {
  return this._ready().then(function (s) { return s.request(clientRequest); });
};

// ---- init / join / leave ---------------------------------------------------

Client.prototype.init = function (appId, onSuccess, onFailure) {
  var self = this;
  return run(function () {
    if (self._destroyed) throw new Error('Client destroyed');
    self._appId = util.checkAppId(appId);
  }, onSuccess, onFailure);
};

Client.prototype.setRole = function (role, onSuccess, onFailure) {
  var self = this;
  return run(function () {
    util.checkRole(role);
    if (!self._joining && !self._recovering && !(self._session && self._session.joined)) {
      self._role = role;
      return undefined;
    }
    return self._request({ action: 'set_role', role: role }).then(function (res) {
      self._role = role;
      if (role === 'audience') {
        self._publishing = false;
        self._pushUrl = null;
      }
      return res && typeof res === 'object' ? { updateURL: res['update-url'] } : undefined;
    });
  }, onSuccess, onFailure);
};

Client.prototype.join = function (channelKey, channel, uid) {
  var a = util.splitArgs(arguments, 3);
  return this._join(channelKey, channel, uid, undefined, a.values[0], a.values[1], a.onSuccess, a.onFailure);
};

Client.prototype.rejoin = function (channelKey, channel, uid, uids) {
  var a = util.splitArgs(arguments, 4);
  var known = [];
  if (Array.isArray(uids)) {
    known = uids.filter(function (u) { return u !== null && u !== undefined && u !== ''; }).map(String);
  } else if (typeof uids === 'number' || typeof uids === 'string') {
    known = [String(uids)];
  }
  return this._join(channelKey, channel, uid, known, a.values[0], a.values[1], a.onSuccess, a.onFailure);
};

Client.prototype._join = function (key, channel, uid, knownSpeakers, isAudioOnly, uidType, onSuccess, onFailure) {
  var self = this;
  return run(function () {
    if (self._destroyed) throw new Error('Client destroyed');
    if (self._appId === null) throw new Error('Client is not initialized: call init(appId) first');
    var k = util.checkKey(key, self._appId);
    util.checkChannel(channel);
    var audioOnly = util.checkAudioOnly(isAudioOnly);
    var type = util.checkUidType(uidType);
    var uidStr = util.checkJoinUid(uid, type, self._random);
    // Already joined or joining: the same result, no second connection.
    if (self._joining) return self._joining;
    if (self._recovering && !self._stopRecovery) return self._recovering.then(function () { return self._uid; });
    if (self._session && self._session.joined) return self._uid;
    // A recovery that leave() stopped may still be winding down: let it end
    // before this join takes over.
    var before = self._recovering ? self._recovering.catch(function () {}) : Promise.resolve();
    var join = before.then(function () {
      self._stopRecovery = false;
      self._joinParams = { key: k, channel: channel, uid: uidStr, uidType: type, audioOnly: audioOnly };
      self._resetMedia();
      return self._connect(knownSpeakers || null);
    });
    self._joining = join;
    var clear = function () { if (self._joining === join) self._joining = null; };
    join.then(clear, clear);
    return join;
  }, onSuccess, onFailure);
};

/** Opens a new Session (join or rejoin) and makes it the current one. */
Client.prototype._connect = function (knownSpeakers) {
  var self = this;
  var jp = self._joinParams;
  var session = Session.create({
    api: self._api,
    apUrl: self._opts.apUrl,
    servers: self._opts.servers,
    appId: self._appId,
    channel: jp.channel,
    uid: jp.uid,
    uidType: jp.uidType,
    key: jp.key,
    role: self._role,
    audioOnly: jp.audioOnly,
    knownSpeakers: knownSpeakers,
    audioCodec: self._audioCodec,
    clientType: self._clientType,
    timing: {
      connectTimeout: self._timing.connectTimeout,
      requestTimeout: self._timing.requestTimeout,
      pingInterval: self._timing.pingInterval,
      pongTimeout: self._opts.autoRejoin ? self._timing.pongTimeout : 0
    },
    random: self._random,
    handlers: {
      onPush: function (status) { if (self._session === session) self._onPush(status); },
      onServerError: function (e) { if (self._session === session) self._onServerError(e); },
      onClosed: function (info) { if (self._session === session) self._onClosed(info); }
    }
  });
  if (self._session) self._session.close();
  self._session = session;
  if (!self._api) {
    return Promise.reject(new Error('no mini program runtime: wx is not defined (pass options.wx)'));
  }
  return session.start().then(function (uid) {
    self._uid = uid;
    if (session.logTicket) self._logTicket = session.logTicket;
    return uid;
  });
};

Client.prototype.leave = function (onSuccess, onFailure) {
  var self = this;
  return run(function () { return self._leave(); }, onSuccess, onFailure);
};

Client.prototype._leave = function () {
  var self = this;
  self._stopRecovery = true;
  self._reporter.stop();
  var s = null;
  var done = function () {
    if (s) s.close();
    self._resetMedia();
  };
  // A join in flight finishes first (then it is left properly); a recovery
  // is not waited for: it notices the stop and ends.
  var wait = self._joining;
  return Promise.resolve(wait ? wait.catch(function () {}) : null).then(function () {
    s = self._session;
    if (!s || !s.joined) {
      done();
      return undefined;
    }
    return s.request({ action: 'leave', uid: self._uid }).then(done, function (err) {
      log.warn('leave request failed (closing anyway):', err && (err.reason || err.message));
      done();
    });
  });
};

Client.prototype.destroy = function (onSuccess, onFailure) {
  var self = this;
  return run(function () {
    if (self._destroyed) return undefined;
    return self._leave().then(function () {
      self._destroyed = true;
      self._events.clear();
    });
  }, onSuccess, onFailure);
};

// ---- media -----------------------------------------------------------------

Client.prototype.publish = function (onSuccess, onFailure) {
  var self = this;
  return run(function () { return self._publish(); }, onSuccess, onFailure);
};

Client.prototype._publish = function () {
  var self = this;
  return self._request({ action: 'publish', uid: self._uid }).then(function (res) {
    var url = res && res.url;
    if (typeof url !== 'string' || !url) throw util.fail(500, 'publish: the server answered without a url');
    self._publishing = true;
    self._pushUrl = url;
    return url;
  });
};

Client.prototype.unpublish = function (onSuccess, onFailure) {
  var self = this;
  return run(function () {
    return self._request({ action: 'unpublish', uid: self._uid }).then(function () {
      self._publishing = false;
      self._pushUrl = null;
    });
  }, onSuccess, onFailure);
};

Client.prototype.subscribe = function (uid) {
  var self = this;
  var a = util.splitArgs(arguments, 1);
  var options = a.values[0];
  return run(function () {
    util.checkRemoteUid(uid);
    if (options !== undefined && options !== null && typeof options !== 'object') throw new Error('Invalid subscribe options');
    var o = options || {};
    var opt = { audio: o.audio !== false, video: o.video !== false };
    var flv = typeof o.flv === 'boolean' ? o.flv : self._opts.flv;
    if (typeof flv === 'boolean') opt.flv = flv;
    return self._subscribe(uid, opt);
  }, a.onSuccess, a.onFailure, function (r) { return [r.url, r.rotation]; });
};

Client.prototype._subscribe = function (uid, opt) {
  var self = this;
  return self._request({ action: 'subscribe', uid: uid, options: opt }).then(function (res) {
    if (!res || typeof res.url !== 'string') throw util.fail(500, 'subscribe: the server answered without a url');
    var rotation = Number(res.rotation) || 0;
    self._subs[uid] = { options: opt, url: res.url, rotation: rotation };
    return { url: res.url, rotation: rotation };
  });
};

Client.prototype.unsubscribe = function (uid, onSuccess, onFailure) {
  var self = this;
  return run(function () {
    util.checkRemoteUid(uid);
    return self._request({ action: 'unsubscribe', uid: [uid] }).then(function () {
      delete self._subs[uid];
    });
  }, onSuccess, onFailure);
};

Client.prototype.muteLocal = function (target, onSuccess, onFailure) {
  return this._muteLocal(target, true, onSuccess, onFailure);
};

Client.prototype.unmuteLocal = function (target, onSuccess, onFailure) {
  return this._muteLocal(target, false, onSuccess, onFailure);
};

Client.prototype._muteLocal = function (target, mute, onSuccess, onFailure) {
  var self = this;
  return run(function () {
    util.checkTarget(target);
    return self._request({ action: 'mute_local', uid: self._uid, target: target, mute: mute }).then(function () {
      if (target !== 'video') self._localMute.audio = mute;
      if (target !== 'audio') self._localMute.video = mute;
    });
  }, onSuccess, onFailure);
};

Client.prototype.mute = function (uid, target, onSuccess, onFailure) {
  return this._mute('mute', uid, target, onSuccess, onFailure);
};

Client.prototype.unmute = function (uid, target, onSuccess, onFailure) {
  return this._mute('unmute', uid, target, onSuccess, onFailure);
};

Client.prototype._mute = function (action, uid, target, onSuccess, onFailure) {
  var self = this;
  return run(function () {
    util.checkRemoteUid(uid);
    util.checkTarget(target);
    return self._request({ action: action, uid: uid, target: target }).then(function () {
      var m = self._remoteMute[uid] = self._remoteMute[uid] || { audio: false, video: false };
      if (target !== 'video') m.audio = action === 'mute';
      if (target !== 'audio') m.video = action === 'mute';
    });
  }, onSuccess, onFailure);
};

Client.prototype.setRemoteVideoStreamType = function (uid, streamType, onSuccess, onFailure) {
  var self = this;
  return run(function () {
    util.checkRemoteUid(uid);
    util.checkStreamType(streamType);
    return self._request({ action: 'set_remote_stream_type', uid: uid, type: streamType }).then(function () {
      self._streamType[uid] = streamType;
    });
  }, onSuccess, onFailure);
};

Client.prototype.renewToken = function (token, onSuccess, onFailure) {
  var self = this;
  return run(function () {
    util.checkToken(token);
    return self._request({ action: 'update_key', key_vos: token }).then(function () {
      if (self._joinParams) self._joinParams.key = token;
    });
  }, onSuccess, onFailure);
};

/**
 * Asks the server for a fresh push URL (request update_url, role publish);
 * resolves the server's answer ({url}) and keeps the URL for recovery.
 */
Client.prototype.updatePushUrl = function (onSuccess, onFailure) {
  var self = this;
  return run(function () {
    return self._request({ action: 'update_url', role: 'publish', uid: self._uid }).then(function (res) {
      if (res && typeof res.url === 'string' && res.url) self._pushUrl = res.url;
      return res;
    });
  }, onSuccess, onFailure);
};

/**
 * Sends a raw clientRequest (an object with an action) on the gateway
 * connection and resolves the server's serverResponse, like the Agora SDK's
 * send(); for actions this SDK has no method for.
 */
Client.prototype.send = function (clientRequest, onSuccess, onFailure) {
  var self = this;
  return run(function () {
    if (!clientRequest || typeof clientRequest !== 'object' || typeof clientRequest.action !== 'string' || !clientRequest.action) {
      throw new Error('send: want a clientRequest object with an action, e.g. {action: "update_url", role: "publish"}');
    }
    return self._request(clientRequest);
  }, onSuccess, onFailure);
};

/**
 * Sets the audio codec announced in the next join (customAudioCodec); minirtc
 * accepts and ignores it (the pusher's codec is what counts).
 */
Client.prototype.setAudioCodec = function (codec) {
  this._audioCodec = codec === undefined ? null : codec;
  log.info('audio codec for the next join:', this._audioCodec);
};

// Channel media relay talks to Agora's own relay service, which minirtc does
// not have: the calls report that at once instead of failing later.
function relayUnsupported(name, callback) {
  var err = util.fail(430, name + ': channel media relay is not supported by minirtc (relay the streams with your own server instead)');
  log.warn(err.reason);
  if (typeof callback === 'function') {
    setTimeout(function () { callback(err); }, 0);
  }
}

Client.prototype.startChannelMediaRelay = function (config, callback) {
  relayUnsupported('startChannelMediaRelay', callback);
};

Client.prototype.updateChannelMediaRelay = function (config, callback) {
  relayUnsupported('updateChannelMediaRelay', callback);
};

Client.prototype.stopChannelMediaRelay = function (callback) {
  relayUnsupported('stopChannelMediaRelay', callback);
};

// ---- component reports -------------------------------------------------------

Client.prototype.updatePusherStateChange = function (e) {
  this._reporter.pusherState(e);
};

Client.prototype.updatePusherNetStatus = function (e) {
  this._reporter.pusherNetStatus(e);
};

Client.prototype.updatePlayerStateChange = function (uid, e) {
  this._reporter.playerState(uid, e);
};

Client.prototype.updatePlayerNetStatus = function (uid, e) {
  this._reporter.playerNetStatus(uid, e);
};

// ---- server messages -----------------------------------------------------------

Client.prototype._onPush = function (st) {
  var uid = st.uid;
  switch (st.action) {
    case 'stream-added':
      if (this._recoverSuppress && this._recoverSuppress[uid]) {
        log.debug('stream-added', uid, 'already known: recovery re-subscribes it');
        return;
      }
      this._known[uid] = true;
      this._emit('stream-added', st);
      return;
    case 'stream-removed':
      delete this._subs[uid];
      delete this._known[uid];
      if (this._recoverSuppress) delete this._recoverSuppress[uid];
      this._emit('stream-removed', st);
      return;
    case 'update-url':
      if (uid === this._uid) this._pushUrl = st.url;
      else if (this._subs[uid]) this._subs[uid].url = st.url;
      this._emit('update-url', st);
      return;
    case 'video-rotation':
      if (this._subs[uid]) this._subs[uid].rotation = Number(st.rotation) || 0;
      this._emit('video-rotation', st);
      return;
    case 'audio-mute':
      this._emit(st.mute ? 'mute-audio' : 'unmute-audio', { uid: uid });
      return;
    case 'video-mute':
      this._emit(st.mute ? 'mute-video' : 'unmute-video', { uid: uid });
      return;
    case 'key-will-expire':
      this._emit('token-privilege-will-expire');
      return;
    case 'key-expired':
      this._emit('token-privilege-did-expire');
      return;
    case 'client-is-banned-by-server':
      this._emit('client-banned');
      return;
    default:
      if (typeof st.action === 'string' && st.action) this._emit(st.action, st);
  }
};

Client.prototype._onServerError = function (e) {
  if (this._opts.autoRejoin && RECOVERABLE[e.code] && this._joinParams && !this._stopRecovery && !this._joining) {
    this._recover(e);
    return;
  }
  this._emit('error', { code: e.code, reason: e.reason });
};

Client.prototype._onClosed = function (info) {
  if (!info.abnormal) return; // terminal server close: its push explained it
  var e = { code: util.CODES.DISCONNECTED, reason: 'websocket disconnected' };
  if (this._joining) return; // the join itself fails with 904
  if (this._opts.autoRejoin && this._joinParams && !this._stopRecovery) {
    this._recover(e);
    return;
  }
  this._emit('error', e);
};

// ---- automatic recovery -----------------------------------------------------------

Client.prototype._recover = function (cause) {
  var self = this;
  if (self._recovering) {
    // the new connection died during the recovery: the loop notices
    return;
  }
  if (self._session) self._session.close(); // WeChat allows only 5 sockets
  log.warn('connection lost (' + cause.code + ' ' + cause.reason + '): rejoining');
  var wasPublishing = self._publishing;
  var rec = self._recoverLoop(cause, wasPublishing);
  self._recovering = rec;
  rec.then(function () {
    if (self._recovering === rec) self._recovering = null;
    self._recoverSuppress = null;
  }, function (err) {
    if (self._recovering === rec) self._recovering = null;
    self._recoverSuppress = null;
    if (err && err.stopped) return;
    self._emit('error', { code: err.code, reason: err.reason || err.message });
  });
};

Client.prototype._recoverLoop = function (cause, wasPublishing) {
  var self = this;
  return recovery.rejoinLoop({
    cause: cause,
    timing: self._timing,
    stopped: function () { return self._stopRecovery || self._destroyed; },
    onAttempt: function (attempt, c) {
      self._emit('reconnecting', { code: c.code, reason: c.reason, attempt: attempt });
    },
    attempt: function () { return self._rejoinAndRestore(wasPublishing); },
    recovered: function () {
      if (!self._session || !self._session.joined) {
        throw util.fail(util.CODES.DISCONNECTED, 'websocket disconnected');
      }
      log.info('recovered as', self._uid);
      self._emit('reconnected', { uid: self._uid });
    },
    onRetry: function () {
      if (self._session) self._session.close();
    }
  });
};

Client.prototype._rejoinAndRestore = function (wasPublishing) {
  var self = this;
  var subs = self._subs;
  var known = {};
  var k;
  for (k in self._known) if (Object.prototype.hasOwnProperty.call(self._known, k)) known[k] = true;
  for (k in subs) if (Object.prototype.hasOwnProperty.call(subs, k)) known[k] = true;
  self._recoverSuppress = {};
  for (k in known) if (Object.prototype.hasOwnProperty.call(known, k)) self._recoverSuppress[k] = true;
  var speakers = [];
  if (self._uid !== null) speakers.push(String(self._uid));
  for (k in known) if (Object.prototype.hasOwnProperty.call(known, k)) speakers.push(String(k));
  return self._connect(speakers).then(function () {
    if (!wasPublishing || self._role !== 'broadcaster') return null;
    return self._session.request({ action: 'publish', uid: self._uid }).then(function (res) {
      var url = res && res.url;
      if (typeof url !== 'string' || !url) throw util.fail(500, 'publish: the server answered without a url');
      self._publishing = true;
      self._pushUrl = url;
      self._emit('update-url', { action: 'update-url', uid: self._uid, url: url });
    });
  }).then(function () {
    var lm = self._localMute;
    var steps = [];
    if (self._publishing && lm.audio) steps.push({ action: 'mute_local', uid: self._uid, target: 'audio', mute: true });
    if (self._publishing && lm.video) steps.push({ action: 'mute_local', uid: self._uid, target: 'video', mute: true });
    return sequence(steps, function (req) { return self._session.request(req); });
  }).then(function () {
    var uids = Object.keys(self._subs);
    return sequence(uids, function (key) {
      var sub = self._subs[key];
      if (!sub) return null; // removed meanwhile (stream-removed)
      var uid = Number(key);
      return self._session.request({ action: 'subscribe', uid: uid, options: sub.options }).then(function (res) {
        if (!self._subs[key] || !res || typeof res.url !== 'string') return null;
        var oldRotation = sub.rotation;
        sub.url = res.url;
        sub.rotation = Number(res.rotation) || 0;
        self._emit('update-url', { action: 'update-url', uid: uid, url: res.url });
        if (sub.rotation !== oldRotation) {
          self._emit('video-rotation', { action: 'video-rotation', uid: uid, rotation: sub.rotation });
        }
        return self._restoreRemote(uid);
      }, function (err) {
        if (err && err.code === 432) {
          // it stopped publishing while we were away and the server did not
          // say so: tell the app now
          if (self._subs[key]) {
            delete self._subs[key];
            delete self._known[key];
            self._emit('stream-removed', { action: 'stream-removed', uid: uid });
          }
          return null;
        }
        throw err;
      });
    });
  });
};

Client.prototype._restoreRemote = function (uid) {
  var self = this;
  var steps = [];
  var m = self._remoteMute[uid];
  if (m && m.audio) steps.push({ action: 'mute', uid: uid, target: 'audio' });
  if (m && m.video) steps.push({ action: 'mute', uid: uid, target: 'video' });
  if (self._streamType[uid] === 1) steps.push({ action: 'set_remote_stream_type', uid: uid, type: 1 });
  return sequence(steps, function (req) { return self._session.request(req); });
};

// ---- log upload ----------------------------------------------------------------------

Client.prototype._uploadLogs = function (lines) {
  var self = this;
  var url = util.origin(self._opts.apUrl) + '/api/v1/logs';
  if (!self._api) return Promise.reject(new Error('no mini program runtime: wx is not defined'));
  var sys = platform.systemInfo(self._api);
  var jp = self._joinParams;
  var body = {
    sdkVersion: SDK_VERSION,
    clientType: self._clientType,
    appId: self._appId,
    channel: self._joinParams ? self._joinParams.channel : null,
    uid: self._uid,
    sid: self._session ? self._session.sid : null,
    device: sys.device,
    os: sys.os,
    ts: Date.now(),
    lines: lines,
    // minirtc only stores logs of members: the ticket of the last join
    // (valid about an hour), else the join token (not the appId)
    ticket: self._logTicket || null,
    token: jp && jp.key && jp.key !== self._appId ? jp.key : null
  };
  return platform.postJSON(self._api, url, body, null, self._timing.requestTimeout).then(function (res) {
    if (res.statusCode >= 200 && res.statusCode < 300) return undefined;
    var reason = res.data && typeof res.data === 'object' && res.data.reason ? res.data.reason : 'HTTP ' + res.statusCode;
    throw util.fail(res.statusCode, 'log upload refused: ' + reason);
  }, function (err) {
    throw util.fail(util.CODES.AP_FAILED, 'log upload failed: ' + (err && err.errMsg));
  });
};

module.exports = Client;
