'use strict';
// Reporter: forwards <live-pusher>/<live-player> state changes and network
// status to minirtc over the gateway socket (not to a third party), cheaply:
// - state changes are batched for stateDelay ms (default 1 s):
//   {action:"report_pusher_state", events:[{code, message, ts}]}
//   {action:"report_player_state", events:[{uid, code, message, ts}]}
// - net status keeps only the newest sample per stream and is sent every
//   netInterval ms (default 10 s):
//   {action:"report_pusher_net", stats:[{ts, videoBitrate, …}]}
//   {action:"report_player_net", stats:[{uid, ts, videoBitrate, …}]}
// Reports are dropped while disconnected. A gateway that does not know an
// action (430 "unknown action") switches that action off silently.

var log = require('./log').logger;

// Numeric fields of the components' bindnetstatus info (WeChat's component documentation).
var NET_FIELDS = [
  'videoBitrate', 'audioBitrate', 'videoFPS', 'videoGOP', 'netSpeed', 'netJitter',
  'netQualityLevel', 'videoWidth', 'videoHeight', 'videoCache', 'audioCache',
  'vDecCacheSize', 'vSumCacheSize', 'avPlayInterval', 'avRecvInterval', 'audioCacheThreshold'
];
// A batch never grows past this many state events (the oldest are dropped):
// a flapping component must not turn into a flood.
var MAX_EVENTS = 20;

/** Accepts the event's detail or the whole event (e.detail). */
function detailOf(e) {
  if (e && typeof e === 'object' && e.detail && typeof e.detail === 'object') return e.detail;
  return e && typeof e === 'object' ? e : {};
}

function netSample(detail) {
  var info = detail.info && typeof detail.info === 'object' ? detail.info : detail;
  var out = { ts: Date.now() };
  for (var i = 0; i < NET_FIELDS.length; i++) {
    var v = info[NET_FIELDS[i]];
    if (typeof v === 'number' && isFinite(v)) out[NET_FIELDS[i]] = v;
  }
  return out;
}

function stateEvent(detail) {
  var code = Number(detail.code);
  return { code: isFinite(code) ? code : 0, message: String(detail.message || detail.errMsg || '').slice(0, 200), ts: Date.now() };
}

/**
 * send(action, payload) -> Promise (rejects when not connected or refused).
 * opts: stateDelay, netInterval (ms).
 */
function Reporter(send, opts) {
  this.send = send;
  this.stateDelay = opts.stateDelay;
  this.netInterval = opts.netInterval;
  this.disabled = {};
  this.pusherEvents = [];
  this.playerEvents = [];
  this.pusherNet = null;
  this.playerNet = {};
  this.stateTimer = null;
  this.netTimer = null;
}

Reporter.prototype.pusherState = function (e) {
  if (this.disabled.report_pusher_state) return;
  push(this.pusherEvents, stateEvent(detailOf(e)));
  this.scheduleState();
};

Reporter.prototype.playerState = function (uid, e) {
  if (this.disabled.report_player_state) return;
  var ev = stateEvent(detailOf(e));
  ev.uid = Number(uid);
  push(this.playerEvents, ev);
  this.scheduleState();
};

Reporter.prototype.pusherNetStatus = function (e) {
  if (this.disabled.report_pusher_net) return;
  this.pusherNet = netSample(detailOf(e));
  this.scheduleNet();
};

Reporter.prototype.playerNetStatus = function (uid, e) {
  if (this.disabled.report_player_net) return;
  var s = netSample(detailOf(e));
  s.uid = Number(uid);
  this.playerNet[String(uid)] = s;
  this.scheduleNet();
};

function push(list, ev) {
  list.push(ev);
  if (list.length > MAX_EVENTS) list.shift();
}

Reporter.prototype.scheduleState = function () {
  var self = this;
  if (self.stateTimer) return;
  self.stateTimer = setTimeout(function () {
    self.stateTimer = null;
    self.flushState();
  }, self.stateDelay);
};

Reporter.prototype.scheduleNet = function () {
  var self = this;
  if (self.netTimer) return;
  self.netTimer = setTimeout(function () {
    self.netTimer = null;
    self.flushNet();
  }, self.netInterval);
};

Reporter.prototype.flushState = function () {
  if (this.pusherEvents.length) this.emit('report_pusher_state', { events: this.pusherEvents });
  if (this.playerEvents.length) this.emit('report_player_state', { events: this.playerEvents });
  this.pusherEvents = [];
  this.playerEvents = [];
};

Reporter.prototype.flushNet = function () {
  if (this.pusherNet) this.emit('report_pusher_net', { stats: [this.pusherNet] });
  var stats = [];
  for (var k in this.playerNet) {
    if (Object.prototype.hasOwnProperty.call(this.playerNet, k)) stats.push(this.playerNet[k]);
  }
  if (stats.length) this.emit('report_player_net', { stats: stats });
  this.pusherNet = null;
  this.playerNet = {};
};

/** Sends everything pending now. */
Reporter.prototype.flush = function () {
  this.clearTimers();
  this.flushState();
  this.flushNet();
};

Reporter.prototype.emit = function (action, payload) {
  var self = this;
  if (self.disabled[action]) return;
  payload.action = action;
  self.send(payload).catch(function (err) {
    if (err && err.code === 430 && /unknown action/i.test(String(err.reason))) {
      self.disabled[action] = true;
      log.debug('gateway does not accept', action, '- reports of that kind are off');
      return;
    }
    log.debug('report', action, 'not sent:', err && (err.reason || err.message));
  });
};

Reporter.prototype.clearTimers = function () {
  if (this.stateTimer) clearTimeout(this.stateTimer);
  if (this.netTimer) clearTimeout(this.netTimer);
  this.stateTimer = null;
  this.netTimer = null;
};

/** Drops everything pending (leave/destroy). */
Reporter.prototype.stop = function () {
  this.clearTimers();
  this.pusherEvents = [];
  this.playerEvents = [];
  this.pusherNet = null;
  this.playerNet = {};
};

module.exports = Reporter;
