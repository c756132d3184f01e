'use strict';
// The gateway session over the mini program runtime: the shared protocol
// core (sdk/core/session.js) with wx.request/wx.connectSocket as its
// transport and the Agora SDK's error shapes (plain {code, reason} objects
// for server and network failures, Error('Disconnected from server') for
// calls on a closed connection).

var core = require('../../core/session.js');
var util = require('./util');
var platform = require('./platform');
var log = require('./log').logger;
var SDK_VERSION = require('./version');

var ERRORS = {
  fail: util.fail,
  server: function (code, reason, extra) { return util.fail(code, reason, extra); },
  disconnected: function () { return new Error('Disconnected from server'); }
};

/** The transport of the mini program runtime api (wx, qq or a stand-in). */
function transport(api) {
  return {
    post: function (url, body, timeoutMs) {
      // the headers the Agora SDK sends with its allocation request
      var headers = { 'X-Packet-URI': '61', 'X-Packet-Service-Type': '0' };
      return platform.postJSON(api, url, body, headers, timeoutMs).then(function (res) {
        return { status: res.statusCode, body: res.data };
      }, function (err) {
        throw { message: err && err.errMsg };
      });
    },
    connect: function (url, ev) {
      var task = api.connectSocket({ url: url, fail: function (err) {
        ev.onError((err && err.errMsg) || 'connectSocket:fail');
      } });
      task.onOpen(function () { ev.onOpen(); });
      task.onMessage(function (res) { ev.onMessage(res && res.data); });
      task.onError(function (err) { ev.onError((err && err.errMsg) || 'socket error'); });
      task.onClose(function (res) { ev.onClose(res && res.code, res && res.reason); });
      return {
        send: function (text) {
          task.send({ data: text, fail: function (err) { log.warn('send failed', err && err.errMsg); } });
        },
        close: function () {
          try { task.close({ code: 1000, reason: 'close' }); } catch (e) { /* ignore */ }
        }
      };
    }
  };
}

/**
 * A new Session. params: api, apUrl, servers, appId, channel, uid (string),
 * uidType, key, role, audioOnly, knownSpeakers (rejoin), audioCodec,
 * clientType, timing, random, handlers {onPush, onServerError, onClosed}.
 */
function create(params) {
  var sys = params.api ? platform.systemInfo(params.api) : { device: '', os: '' };
  return new core.Session({
    transport: transport(params.api),
    errors: ERRORS,
    apUrl: params.apUrl,
    servers: params.servers,
    appId: params.appId,
    channel: params.channel,
    uid: params.uid,
    uidType: params.uidType,
    key: params.key,
    role: params.role,
    audioOnly: params.audioOnly,
    knownSpeakers: params.knownSpeakers,
    audioCodec: params.audioCodec,
    clientType: params.clientType,
    version: SDK_VERSION,
    device: sys.device,
    os: sys.os,
    logTicket: true,
    timing: params.timing,
    random: params.random,
    handlers: params.handlers
  });
}

module.exports = { create: create };
